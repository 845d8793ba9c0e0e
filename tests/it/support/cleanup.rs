//! Databases the tests create are dropped when the test binary exits, pass or fail: each is
//! registered here as it is made, and a destructor that runs at process exit drops them all.
//! (A test's own runtime is gone by then, so the drops go through `psql`, which the suite
//! installs; a process killed by a signal leaves its databases, named `whe_test_*`.)

use std::process::{Command, Stdio};
use std::sync::Mutex;

static CREATED: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

/// Drops database `name` of the cluster behind `admin_url` when the test binary exits.
pub fn drop_at_exit(admin_url: &str, name: &str) {
    CREATED.lock().unwrap_or_else(|e| e.into_inner()).push((admin_url.to_string(), name.to_string()));
}

#[ctor::dtor]
fn drop_test_databases() {
    let created = std::mem::take(&mut *CREATED.lock().unwrap_or_else(|e| e.into_inner()));
    for (admin, name) in created {
        let status = Command::new("psql")
            .arg(&admin)
            .args(["-X", "-q", "-c", &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")])
            .stdout(Stdio::null())
            .status();
        if !matches!(status, Ok(s) if s.success()) {
            eprintln!("could not drop test database {name} ({status:?}): drop it by hand");
        }
    }
}
