//! The binary's logs as an operator's collector gets them: the level and format flags, logfmt
//! lines, no colour escapes when stderr is not a terminal, and a level typo refused by name.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::Exporter;

const BIN: &str = env!("CARGO_BIN_EXE_webhook-health-exporter");

#[test]
fn logfmt_lines_without_colour_escapes() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/s.db", dir.path().display());
    let log = dir.path().join("exporter.log");
    for (format, marker) in [("logfmt", "level=info"), ("text", "INFO"), ("json", "\"level\":\"INFO\"")] {
        let exporter =
            Exporter::start_logging(&url, &["--store.migrate", "--log.format", format], "info", &log);
        std::thread::sleep(Duration::from_millis(300));
        drop(exporter);
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(text.contains("webhook-health-exporter listening"), "{format}: {text}");
        assert!(text.lines().next().unwrap().contains(marker), "{format}: {text}");
        assert!(!text.contains('\u{1b}'), "{format}: colour escapes written to a file:\n{text}");
    }
}

#[test]
fn a_log_level_typo_is_refused_by_name() {
    let out = Command::new(BIN)
        .args(["--log.level", "inf0", "hash-token"])
        .env("RUST_BACKTRACE", "0")
        .env_remove("WHE_LOG")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--log.level") && err.contains("inf0"), "{err}");
    let ok = Command::new(BIN)
        .args(["--log.level", "warn,sqlx=error", "--help"])
        .env_remove("WHE_LOG")
        .output()
        .unwrap();
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
}
