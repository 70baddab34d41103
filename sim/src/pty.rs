//! Pseudo-terminal pairs standing in for serial devices (a GNSS receiver's USB port, a
//! valve board): the simulator (or a test) holds the master side; the program under test
//! opens a symlink to the slave exactly as it would open `/dev/ttyUSB0`.

use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// An open pseudo-terminal pair, in raw mode.
#[derive(Debug)]
pub struct PtyPair {
    /// The device's side: what is written here, the program reads from the slave.
    pub master: OwnedFd,
    /// The program's side, held open so that it exists (and the master does not read an
    /// end of stream) before and between the program's opens.
    pub slave: OwnedFd,
    /// The slave's own path (`/dev/pts/N`).
    pub slave_path: PathBuf,
}

/// Opens a pair in raw mode and makes `link` a symlink to its slave (like a udev rule
/// would), replacing whatever `link` was. Raw from the start, as a USB serial adapter
/// behaves (no echo, no CR/NL translation) even before the program configures the port.
/// The caller removes the link when the device goes away.
pub fn open_pty(link: &Path) -> io::Result<PtyPair> {
    use nix::fcntl::{fcntl, FcntlArg, FdFlag};
    use nix::sys::termios;
    let pair = nix::pty::openpty(None, None)?;
    // Not inherited by the programs the test starts: a child holding a copy of the
    // master would keep the device alive after the board or receiver is dropped (an
    // unplug would never be seen).
    for fd in [&pair.master, &pair.slave] {
        fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))?;
    }
    let mut attrs = termios::tcgetattr(&pair.slave)?;
    termios::cfmakeraw(&mut attrs);
    termios::tcsetattr(&pair.slave, termios::SetArg::TCSANOW, &attrs)?;
    let slave_path = nix::unistd::ttyname(&pair.slave)?;
    match std::fs::remove_file(link) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    std::os::unix::fs::symlink(&slave_path, link)?;
    Ok(PtyPair {
        master: pair.master,
        slave: pair.slave,
        slave_path,
    })
}
