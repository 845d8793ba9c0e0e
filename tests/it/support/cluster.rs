//! A PostgreSQL cluster of a test's own, to restart under a running exporter. PostgreSQL's
//! server binaries refuse to run as root, so as root they run as the `postgres` user.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Cluster {
    pub port: u16,
    dir: tempfile::TempDir,
    bin: PathBuf,
}

const HINT: &str = "PostgreSQL's server binaries (initdb, pg_ctl) are needed: scripts/install-test-deps.sh \
                    installs Debian's postgresql package";

fn server_bin() -> PathBuf {
    if let Ok(out) = Command::new("sh").args(["-c", "command -v initdb"]).output() {
        let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !path.is_empty() {
            // /usr/local/bin/initdb may be a wrapper; pg_ctl sits next to the real one.
            let real = std::fs::canonicalize(&path).unwrap_or_else(|_| PathBuf::from(&path));
            return real.parent().unwrap().to_path_buf();
        }
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .unwrap_or_else(|e| panic!("no PostgreSQL server binaries ({e}); {HINT}"))
        .filter_map(|e| Some(e.ok()?.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    found.sort();
    found.pop().unwrap_or_else(|| panic!("no initdb under /usr/lib/postgresql; {HINT}"))
}

fn as_postgres(bin: &Path, tool: &str) -> Command {
    let path = bin.join(tool);
    let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(path);
        c
    } else {
        Command::new(path)
    }
}

fn run(mut c: Command, what: &str) {
    let out = c.output().unwrap_or_else(|e| panic!("{what}: {e}; {HINT}"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Cluster {
    /// initdb and start on a free port.
    pub fn start() -> Cluster {
        let bin = server_bin();
        let dir = tempfile::Builder::new().prefix("whe-cluster").tempdir().unwrap();
        let _ = Command::new("chown").args(["postgres:", &dir.path().to_string_lossy()]).status();
        let mut c = as_postgres(&bin, "initdb");
        c.args(["-D", &dir.path().join("data").to_string_lossy(), "--auth=trust", "-U", "postgres"]);
        run(c, "initdb");
        let cluster = Cluster { port: super::free_port(), dir, bin };
        cluster.pg_ctl("start");
        cluster
    }

    fn pg_ctl(&self, action: &str) {
        let mut c = as_postgres(&self.bin, "pg_ctl");
        let data = self.dir.path().join("data");
        c.args([
            "-D",
            &data.to_string_lossy(),
            "-l",
            &self.dir.path().join("log").to_string_lossy(),
            "-w",
            "-m",
            "fast",
        ]);
        c.args([
            "-o",
            &format!(
                "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={}",
                self.port,
                self.dir.path().display()
            ),
        ]);
        c.arg(action);
        run(c, &format!("pg_ctl {action}"));
    }

    pub fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// A fast restart: open connections are cut, the server is back when this returns.
    pub fn restart(&self) {
        self.pg_ctl("restart");
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let mut c = as_postgres(&self.bin, "pg_ctl");
        c.args(["-D", &self.dir.path().join("data").to_string_lossy(), "-m", "immediate", "stop"]);
        let _ = c.output();
    }
}
