//! A third-party server binary (Prometheus, Alertmanager) run by a test: on a free port of its own,
//! its output in a log file, ready once it answers `/-/ready`, killed on drop.
//!
//! A missing binary FAILS the test with the caller's installation hint.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Server {
    pub addr: SocketAddr,
    program: &'static str,
    child: Child,
    log: PathBuf,
}

impl Server {
    /// Starts `program` with `args(addr)` on a free `addr`, logging to `<dir>/<program>.log`, and
    /// waits until it answers `/-/ready`.
    pub async fn start(
        program: &'static str,
        install_hint: &str,
        dir: &Path,
        args: impl Fn(SocketAddr) -> Vec<String>,
    ) -> Server {
        let log = dir.join(format!("{program}.log"));
        let client = reqwest::Client::new();
        // A port found free can be taken by someone else before the server binds it: try again.
        for _ in 0..3 {
            let addr: SocketAddr = format!("127.0.0.1:{}", super::free_port()).parse().unwrap();
            let log_file =
                std::fs::File::create(&log).unwrap_or_else(|e| panic!("creating {program}.log: {e}"));
            let child = Command::new(program)
                .args(args(addr))
                .stdin(Stdio::null())
                .stdout(log_file.try_clone().expect("sharing the log file"))
                .stderr(log_file)
                .spawn()
                .unwrap_or_else(|e| match e.kind() {
                    ErrorKind::NotFound => panic!("{install_hint}"),
                    _ => panic!("cannot start {program}: {e}"),
                });
            let mut server = Server { addr, program, child, log: log.clone() };
            if server.wait_ready(&client).await {
                return server;
            }
            let output = server.log();
            if !output.contains("address already in use") {
                panic!("{program} exited before it was ready:\n{output}");
            }
        }
        panic!("{program} found no free port in three attempts")
    }

    /// true once the server answers `/-/ready`; false if it exited first.
    async fn wait_ready(&mut self, client: &reqwest::Client) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.child.try_wait().unwrap_or_else(|e| panic!("polling {}: {e}", self.program)).is_some() {
                return false;
            }
            if let Ok(r) = client.get(self.url("/-/ready")).send().await {
                if r.status().is_success() {
                    return true;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{} was not ready within 30s:\n{}", self.program, self.log());
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// What the server logged so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last lines of the log under a heading naming the server (for failure messages).
    pub fn log_tail(&self) -> String {
        let text = self.log();
        let lines: Vec<&str> = text.lines().collect();
        format!("--- {} log (tail) ---\n{}", self.program, lines[lines.len().saturating_sub(15)..].join("\n"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
