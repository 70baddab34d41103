//! Pseudo-terminal pairs standing in for serial devices (a GNSS receiver's USB port, a
//! valve board): the test holds the master side; the program under test opens a
//! symlink to the slave exactly as it would open `/dev/ttyUSB0`.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::within;

/// A pseudo-terminal pair in raw mode. Dropping it (or [`Pty::unplug`]) closes both ends
/// and removes the link: the device is gone.
#[derive(Debug)]
pub struct Pty {
    master: tokio::fs::File,
    /// Held so that the slave side exists before the program opens it.
    _slave: OwnedFd,
    pub slave_path: PathBuf,
    pub link: PathBuf,
}

impl Pty {
    /// Open a pair and make `link` a symlink to the slave (like a udev rule would), raw
    /// from the start (`verger_sim::pty::open_pty`).
    pub fn open(link: &Path) -> Pty {
        let pair = verger_sim::pty::open_pty(link)
            .unwrap_or_else(|e| panic!("cannot open a pty linked at {}: {e}", link.display()));
        let master = tokio::fs::File::from_std(std::fs::File::from(pair.master));
        Pty {
            master,
            _slave: pair.slave,
            slave_path: pair.slave_path,
            link: link.to_path_buf(),
        }
    }

    /// Write `bytes` as the device would send them.
    pub async fn write(&mut self, bytes: &[u8]) {
        within("pty write", async {
            self.master.write_all(bytes).await.expect("write pty");
            self.master.flush().await.expect("flush pty");
        })
        .await
    }

    /// Read what the program sent to the device (at least one byte).
    pub async fn read(&mut self) -> Vec<u8> {
        let mut buf = vec![0u8; 4096];
        let n = within("pty read", self.master.read(&mut buf))
            .await
            .expect("read pty");
        buf.truncate(n);
        buf
    }

    /// Wait until another process (the program under test) has the device open, as
    /// seen in `/proc/*/fd`: what is written after that is read, not lost to a port
    /// opened late.
    pub async fn opened_by_another_process(&self) {
        let me = std::process::id().to_string();
        let slave = self.slave_path.clone();
        crate::eventually(&format!("a program opens {}", slave.display()), || {
            let Ok(procs) = std::fs::read_dir("/proc") else {
                return false;
            };
            procs.flatten().any(|p| {
                let name = p.file_name();
                let name = name.to_string_lossy();
                name.bytes().all(|b| b.is_ascii_digit())
                    && name != me
                    && std::fs::read_dir(p.path().join("fd")).is_ok_and(|fds| {
                        fds.flatten()
                            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|l| l == slave))
                    })
            })
        })
        .await
    }

    /// Pull the device out: both ends close and the link disappears.
    pub fn unplug(self) {
        drop(self);
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.link);
    }
}
