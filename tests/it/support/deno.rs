//! Deno for the Edge Function's tests: the binary `scripts/install-test-deps.sh` installs from the
//! npm registry, and the reference function (`edge-function/dynamics-webhook`) run by `deno run`.
//!
//! A missing Deno FAILS the test with the install hint; it never skips.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The version `scripts/install-test-deps.sh` pins; `edge-function/deno.lock` is written by it.
pub const DENO_VERSION: &str = "2.9.6";

/// `WHE_DENO`, else `${WHE_DENO_DIR:-$HOME/.cache/whe-deno}/node_modules/.bin/deno`, checked to
/// be the pinned version.
pub fn deno() -> PathBuf {
    let path = std::env::var_os("WHE_DENO").map(PathBuf::from).unwrap_or_else(|| {
        let dir = std::env::var_os("WHE_DENO_DIR").map(PathBuf::from).unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME is not set")).join(".cache/whe-deno")
        });
        dir.join("node_modules/.bin/deno")
    });
    let version = Command::new(&path).arg("--version").output();
    match version {
        Ok(out) if String::from_utf8_lossy(&out.stdout).starts_with(&format!("deno {DENO_VERSION} ")) => path,
        Ok(out) => panic!(
            "{} is not Deno {DENO_VERSION} ({}): run scripts/install-test-deps.sh",
            path.display(),
            String::from_utf8_lossy(&out.stdout).lines().next().unwrap_or("no version")
        ),
        Err(e) => panic!(
            "Deno {DENO_VERSION} is needed for this test and {} cannot run ({e}): run \
             scripts/install-test-deps.sh (it installs it from the npm registry), or set WHE_DENO",
            path.display()
        ),
    }
}

/// `edge-function/`: the Deno workspace (its deno.json, deno.lock and both scripts).
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("edge-function")
}

/// A `deno` command in the workspace, without colour escapes in what it prints.
pub fn command() -> Command {
    let mut cmd = Command::new(deno());
    cmd.current_dir(workspace()).env("NO_COLOR", "1").stdin(Stdio::null());
    cmd
}

/// The reference Edge Function under `deno run`, on a free port; killed on drop.
pub struct EdgeFunction {
    pub addr: SocketAddr,
    child: Child,
    log: PathBuf,
}

impl EdgeFunction {
    /// Starts `dynamics-webhook/index.ts` with `env` (SUPABASE_DB_URL, WEBHOOK_KEY...) and waits
    /// until it listens. Its output goes to `<dir>/dynamics-webhook.log`.
    pub fn start(env: &[(&str, &str)], dir: &Path) -> EdgeFunction {
        let log = dir.join("dynamics-webhook.log");
        let stderr = std::fs::File::create(&log).expect("creating the function's log");
        let mut child = command()
            // --frozen: the lockfile pins npm:postgres; a drift fails here instead of resolving anew.
            .args(["run", "--frozen", "--allow-net", "--allow-env", "dynamics-webhook/index.ts"])
            .env("WEBHOOK_LISTEN_PORT", "0")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(stderr.try_clone().expect("sharing the log file"))
            .spawn()
            .unwrap_or_else(|e| panic!("starting deno: {e}"));
        // index.ts announces the port it got; everything else it prints goes on to the log.
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut log = stderr;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(at) = line.strip_prefix("dynamics-webhook listening on http://") {
                    let _ = tx.send(at.trim_end_matches('/').to_string());
                }
                let _ = writeln!(log, "{line}");
            }
        });
        let mut function = EdgeFunction { addr: SocketAddr::from(([127, 0, 0, 1], 0)), child, log };
        // The first run may fetch npm:postgres from the registry into Deno's cache.
        match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(addr) => function.addr = addr.parse().expect("the announced address"),
            Err(_) => panic!("the Edge Function did not listen within 120s:\n{}", function.log()),
        }
        function
    }

    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{}", self.addr, path_and_query)
    }

    /// What the function printed so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for EdgeFunction {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a seeded property script of `hostile/` (`deno run`, network and environment allowed) with
/// `env`, fails with everything it printed when the property fails, and returns its summary line
/// (the one starting with `prefix`), also written to the terminal past the test harness's capture
/// so that a run states its request count and seed.
pub fn run_property(script: &str, env: &[(&str, &str)], prefix: &str) -> String {
    let out = command()
        .args(["run", "--frozen", "--allow-net", "--allow-env", script])
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("running deno: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{script} failed ({env:?}):\n{stdout}\n{stderr}");
    let summary = stdout
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("{script} printed no summary:\n{stdout}\n{stderr}"))
        .to_string();
    let _ = writeln!(std::io::stderr(), "{summary}");
    summary
}
