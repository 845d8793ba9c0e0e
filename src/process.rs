//! The exporter's own process, as every Prometheus client library reports it (`process_*`):
//! read from Linux's /proc at scrape time; absent elsewhere.

/// /proc reports CPU time in USER_HZ ticks, which the kernel fixes at 100 for user space.
const TICKS_PER_SECOND: f64 = 100.0;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProcessStats {
    pub cpu_seconds_total: f64,
    pub resident_memory_bytes: u64,
    pub virtual_memory_bytes: u64,
    pub open_fds: u64,
    pub max_fds: Option<u64>,
    pub start_time_seconds: f64,
}

/// The current figures, or None where /proc is not there to read.
pub fn read() -> Option<ProcessStats> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let field = |n: usize| -> Option<f64> { fields.get(n - 3)?.parse().ok() };
    let boot_time: f64 = std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib = |key: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(key))?;
        Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? * 1024)
    };
    let max_fds = std::fs::read_to_string("/proc/self/limits").ok().and_then(|limits| {
        let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
        line.split_whitespace().nth(3)?.parse().ok()
    });
    Some(ProcessStats {
        // stat(5): utime is field 14, stime 15, starttime 22 (in ticks since boot).
        cpu_seconds_total: (field(14)? + field(15)?) / TICKS_PER_SECOND,
        resident_memory_bytes: kib("VmRSS:")?,
        virtual_memory_bytes: kib("VmSize:")?,
        open_fds: std::fs::read_dir("/proc/self/fd").ok()?.count() as u64,
        max_fds,
        start_time_seconds: boot_time + field(22)? / TICKS_PER_SECOND,
    })
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let p = read().expect("/proc is readable on Linux");
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
        assert!(p.start_time_seconds > now - 3600.0 && p.start_time_seconds <= now + 1.0, "{p:?}");
        assert!(
            p.resident_memory_bytes > 1 << 20 && p.virtual_memory_bytes >= p.resident_memory_bytes,
            "{p:?}"
        );
        assert!(p.open_fds >= 3 && p.max_fds.is_some_and(|m| m >= p.open_fds), "{p:?}");
        assert!(p.cpu_seconds_total >= 0.0);
    }
}
