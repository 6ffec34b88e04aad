//! Finding (and if need be building) the `switchboard` binary under test.
//!
//! The binary is the one built with the same profile as this test crate:
//! `SWITCHBOARD_BIN` wins if set; otherwise the test executable's own
//! profile directory (`<target>/<profile>/deps/e2e-*` gives
//! `<target>/<profile>/switchboard`). Unless `SWITCHBOARD_BIN` is set,
//! `cargo build -p switchboard` runs once per test process first, so the
//! tests never run a stale binary (a no-op build takes well under a second).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Path of the `switchboard` binary, built on first use.
pub fn switchboard_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("SWITCHBOARD_BIN") {
            let p = PathBuf::from(p);
            assert!(p.is_file(), "SWITCHBOARD_BIN={} is not a file", p.display());
            return p;
        }
        let profile_dir = profile_dir();
        build(&profile_dir);
        let bin = profile_dir.join("switchboard");
        assert!(
            bin.is_file(),
            "cargo build did not produce {}",
            bin.display()
        );
        bin
    })
}

/// `<target>/<profile>`: the directory above this test executable's `deps/`.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe.parent().expect("test binary has a directory");
    let dir = if deps.file_name().is_some_and(|n| n == "deps") {
        deps.parent().expect("deps has a parent")
    } else {
        deps
    };
    dir.to_path_buf()
}

/// Runs `cargo build -p switchboard` with the profile of `profile_dir`
/// into the target directory above it.
fn build(profile_dir: &Path) {
    let profile = profile_dir
        .file_name()
        .and_then(|n| n.to_str())
        .expect("profile directory name");
    let target_dir = profile_dir.parent().expect("target directory");
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace");
    let mut cmd = Command::new(env!("CARGO"));
    cmd.current_dir(workspace)
        .args(["build", "-p", "switchboard", "--bin", "switchboard"])
        .arg("--target-dir")
        .arg(target_dir);
    match profile {
        "debug" => {}
        "release" => {
            cmd.arg("--release");
        }
        other => {
            cmd.args(["--profile", other]);
        }
    }
    let status = cmd.status().expect("running cargo build");
    assert!(
        status.success(),
        "cargo build -p switchboard failed: {status}"
    );
}
