//! Programs written with Autobahn, as a farmer would write a module: Autobahn|Python in
//! the repository's `.venv` and Autobahn|JS in `tests/interop/js/node_modules`, both put
//! there by `scripts/setup-test-deps` (which `scripts/test` runs first).
//!
//! A test that needs them and does not find them fails with one line saying to run
//! that script: it never skips, in CI (`CI=true`) or not, so a machine without them
//! cannot pass the suite by testing less.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use crate::project_root;

/// The Python of `.venv`, which has Autobahn|Python.
pub fn python() -> PathBuf {
    project_root().join(".venv/bin/python")
}

/// The `node_modules` folder that holds Autobahn|JS: a script elsewhere finds it through
/// `NODE_PATH`.
pub fn js_modules() -> PathBuf {
    project_root().join("tests/interop/js/node_modules")
}

/// Fail the test, in one line, unless Autobahn|Python and Autobahn|JS are installed.
pub fn require_autobahn() {
    let mut missing = Vec::new();
    if !python().exists() {
        missing.push(".venv (Autobahn|Python)");
    }
    if !js_modules().join("autobahn/package.json").exists() {
        missing.push("tests/interop/js/node_modules (Autobahn|JS)");
    }
    assert!(
        missing.is_empty(),
        "Autobahn is not installed (missing {}): run scripts/setup-test-deps",
        missing.join(" and ")
    );
}

/// `node` with the flags Autobahn|JS needs: autobahn@26 uses the WebSocket built into
/// Node 22, which Node 20 only has behind `--experimental-websocket`.
pub fn node() -> Command {
    let mut command = Command::new("node");
    command.args(node_flags());
    command
}

/// The flags of [`node`].
pub fn node_flags() -> &'static [&'static str] {
    static FLAGS: OnceLock<&'static [&'static str]> = OnceLock::new();
    FLAGS.get_or_init(|| {
        let out = Command::new("node").arg("--version").output().unwrap_or_else(|e| {
            panic!("cannot run node ({e}): install Node >= 20.10, then run scripts/setup-test-deps")
        });
        let version = String::from_utf8_lossy(&out.stdout);
        let major: u32 = version
            .trim()
            .trim_start_matches('v')
            .split('.')
            .next()
            .and_then(|m| m.parse().ok())
            .unwrap_or_else(|| panic!("cannot parse `node --version` output {version:?}"));
        if major < 22 {
            &["--experimental-websocket"]
        } else {
            &[]
        }
    })
}
