//! What the binary's tests share: running `flywheel` as a user would, in a directory of
//! the test's own, with none of the caller's Flywheel environment leaking in.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// `flywheel` in `dir`, logging warnings only, without FLYWHEEL_* settings from outside.
pub fn flywheel(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_flywheel"));
    cmd.current_dir(dir).env("FLYWHEEL_LOG", "warn");
    for var in [
        "FLYWHEEL_DB",
        "FLYWHEEL_LISTEN",
        "FLYWHEEL_ADMIN_KEY",
        "FLYWHEEL_CONFIG",
        "FLYWHEEL_CRASH_AT",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// Runs `cmd` to the end: whether it succeeded, its stdout and its stderr.
pub fn run(cmd: &mut Command) -> (bool, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().unwrap();
    (
        status.success(),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

/// Writes `s.jsonl` in `dir`: the demo's history of 150 members (seed 11) up to
/// 2026-10-01, about 1,500 events with purchases, refunds, merges and referrals.
pub fn export_demo_stream(dir: &Path) {
    let (ok, _, err) = run(flywheel(dir).args([
        "demo",
        "--members",
        "150",
        "--seed",
        "11",
        "--end",
        "2026-10-01",
        "--export",
        "s.jsonl",
    ]));
    assert!(ok, "{err}");
}
