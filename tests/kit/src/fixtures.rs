//! Files tests read: the project's own (`docs/schemas`, shipped configs, `maps/`) from
//! the workspace root, the data of the `../shared` folder beside the checkout, and
//! temporary folders.
//!
//! `../shared` is not part of the repository. It is looked up, in order, in
//! `$VERGER_SHARED_DIR`, `<root>/../shared` and `<root>/../../shared` (a git worktree
//! one level deeper). A test that needs it and does not find it fails with one line
//! naming the folder it looked for.

use std::path::{Path, PathBuf};

/// The workspace root (the folder of the top-level `Cargo.toml`).
pub fn project_root() -> PathBuf {
    // This crate is `<root>/tests/kit`.
    let kit = Path::new(env!("CARGO_MANIFEST_DIR"));
    kit.parent()
        .and_then(Path::parent)
        .expect("tests/kit sits two levels below the root")
        .to_path_buf()
}

/// Where the shared folder is, if anywhere.
pub fn find_shared() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("VERGER_SHARED_DIR") {
        return Some(PathBuf::from(dir));
    }
    let root = project_root();
    [root.join("../shared"), root.join("../../shared")]
        .into_iter()
        .find(|p| p.is_dir())
}

/// `../shared/<rel>` (a folder or file), or a failure in one line naming what is
/// missing and where it was looked for.
pub fn shared(rel: &str) -> PathBuf {
    match find_shared() {
        Some(base) => {
            let path = base.join(rel);
            if !path.exists() {
                panic!(
                    "missing test data: {} does not exist (this test needs `../shared/{rel}` beside the checkout)",
                    path.display()
                );
            }
            path
        }
        None => panic!(
            "missing test data: the shared folder `../shared` (with `{rel}`) is not beside the checkout {} and VERGER_SHARED_DIR is not set",
            project_root().display()
        ),
    }
}

/// A capture of `../shared/data/nmea`, as bytes.
pub fn nmea_capture(name: &str) -> Vec<u8> {
    let path = nmea_capture_path(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The path of a capture of `../shared/data/nmea`.
pub fn nmea_capture_path(name: &str) -> PathBuf {
    shared(&format!("data/nmea/{name}"))
}

/// The receiver epochs of an NMEA capture: groups of consecutive sentences with the
/// same time field (comment lines left out), each as the exact bytes of its lines.
pub fn nmea_epochs(capture: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut epochs: Vec<(String, Vec<u8>)> = Vec::new();
    for line in capture.split_inclusive(|&b| b == b'\n') {
        if !line.starts_with(b"$") {
            continue;
        }
        let text = String::from_utf8_lossy(line);
        let time = text.split(',').nth(1).unwrap_or("").to_owned();
        match epochs.last_mut() {
            Some((t, bytes)) if *t == time => bytes.extend_from_slice(line),
            _ => epochs.push((time, line.to_vec())),
        }
    }
    epochs
}

/// A fresh temporary folder (removed with everything in it when dropped).
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "verger-test-{tag}-{}-{:08x}",
            std::process::id(),
            verger::wamp::ids::random_id() & 0xFFFF_FFFF
        ));
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        TempDir(dir)
    }

    /// `name` inside the folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The `HH:MM:SS.ss` part of RFC 3339 for an NMEA time field `hhmmss.ss`.
pub fn rfc3339_time_part(nmea_time: &str) -> String {
    format!(
        "{}:{}:{}",
        &nmea_time[0..2],
        &nmea_time[2..4],
        &nmea_time[4..]
    )
}
