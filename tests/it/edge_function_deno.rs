//! The reference Edge Function's own Deno tests and lints (`edge-function/`): its modules, the
//! event worker's forwarding, and `deno check`, `lint` and `fmt` over what a team deploys.

use crate::support::deno;

#[test]
fn deno_unit_tests_pass() {
    let out = deno::command()
        .args(["test", "--frozen", "--allow-net=127.0.0.1"])
        .output()
        .expect("running deno test");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "deno test failed:\n{text}");
    // Both halves ran: the function's modules and the event worker's forwarding.
    for file in [
        "dynamics-webhook/handler_test.ts",
        "dynamics-webhook/modules_test.ts",
        "event-worker/forwarder_test.ts",
    ] {
        assert!(text.contains(file), "deno test did not run {file}:\n{text}");
    }
    assert!(text.contains(" 0 failed"), "{text}");
}

#[test]
fn deno_check_lint_and_fmt_are_clean() {
    for args in [
        &[
            "check",
            "--frozen",
            "dynamics-webhook/index.ts",
            "event-worker/index.ts",
            "hostile/function_property.ts",
            "hostile/exporter_fuzz.ts",
        ][..],
        &["lint"],
        &["fmt", "--check"],
    ] {
        let out = deno::command().args(args).output().expect("running deno");
        assert!(
            out.status.success(),
            "deno {} failed:\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
