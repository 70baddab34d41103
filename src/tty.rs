//! Serial devices and pseudo-terminals as async byte streams on a file descriptor verger
//! owns, so that a duplicate of it can be handed to a panic hook.
//!
//! tokio-serial (which [`crate::source`] uses to read a GNSS receiver) neither lends its
//! descriptor nor clones it, and a descriptor cannot be borrowed from a raw number without
//! `unsafe`; the valve board needs both (an emergency "close everything" written from a
//! panic hook, straight to the device). [`Tty`] therefore opens and configures the device
//! itself (raw 8N1, no flow control, an exclusive `flock` as serialport-rs takes) and
//! reads and writes it through tokio's Unix pipe ends, which take any non-blocking
//! descriptor of a pipe or character device without `unsafe` (`AsyncFd::new` is
//! deprecated as unsound and its replacement is `unsafe`). The simulator uses it for its
//! pty masters.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::fcntl::{fcntl, FcntlArg, Flock, FlockArg, OFlag};
use nix::sys::termios::{self, BaudRate, ControlFlags, InputFlags, SpecialCharacterIndices};
use tokio::net::unix::pipe;

/// The baud rates [`Tty::open_serial`] accepts (the standard ones a USB-serial adapter
/// offers).
pub const BAUD_RATES: [u32; 12] = [
    1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600, 1_000_000,
];

fn baud_rate(baud: u32) -> Option<BaudRate> {
    Some(match baud {
        1200 => BaudRate::B1200,
        2400 => BaudRate::B2400,
        4800 => BaudRate::B4800,
        9600 => BaudRate::B9600,
        19200 => BaudRate::B19200,
        38400 => BaudRate::B38400,
        57600 => BaudRate::B57600,
        115200 => BaudRate::B115200,
        230400 => BaudRate::B230400,
        460800 => BaudRate::B460800,
        921600 => BaudRate::B921600,
        1_000_000 => BaudRate::B1000000,
        _ => return None,
    })
}

/// An open serial device or pty master, non-blocking, read and written through the tokio
/// reactor. Reading and writing may go on at the same time from two tasks (`&self`); both
/// are cancel-safe (nothing is read or written by a future dropped before it completes).
#[derive(Debug)]
pub struct Tty {
    /// Two descriptors of the same open device, one registered for reading, one for
    /// writing.
    rx: pipe::Receiver,
    tx: pipe::Sender,
    /// The exclusive lock on the device, held as long as the `Tty` (serial devices only).
    _lock: Option<Flock<File>>,
    path: PathBuf,
}

impl Tty {
    /// Opens serial device `path` for exclusive use (another verger program or serialport-rs
    /// user holding it gets "in use"), raw 8N1 at `baud` (one of [`BAUD_RATES`]), without
    /// flow control or modem lines, and drops whatever input was waiting. Needs a tokio
    /// runtime. The error is the system's: [`open_error`] words it for an operator.
    pub fn open_serial(path: &Path, baud: u32) -> io::Result<Tty> {
        let speed = baud_rate(baud).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{baud} is not a supported baud rate (one of {BAUD_RATES:?})"),
            )
        })?;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags((OFlag::O_NOCTTY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC).bits())
            .open(path)?;
        let lock = Flock::lock(file.try_clone()?, FlockArg::LockExclusiveNonblock)
            .map_err(|(_, errno)| io::Error::from(errno))?;
        let mut t = termios::tcgetattr(&file)?;
        termios::cfmakeraw(&mut t);
        t.control_flags |= ControlFlags::CLOCAL | ControlFlags::CREAD | ControlFlags::CS8;
        t.control_flags &= !(ControlFlags::CSTOPB | ControlFlags::PARENB | ControlFlags::CRTSCTS);
        t.input_flags &= !(InputFlags::IXON | InputFlags::IXOFF | InputFlags::IXANY);
        t.control_chars[SpecialCharacterIndices::VMIN as usize] = 1;
        t.control_chars[SpecialCharacterIndices::VTIME as usize] = 0;
        termios::cfsetspeed(&mut t, speed)?;
        termios::tcsetattr(&file, termios::SetArg::TCSANOW, &t)?;
        termios::tcflush(&file, termios::FlushArg::TCIFLUSH)?;
        let mut tty = Tty::register(file, path)?;
        tty._lock = Some(lock);
        Ok(tty)
    }

    /// An already open device (a pty master), made non-blocking; `path` names it in
    /// messages. Needs a tokio runtime.
    pub fn from_file(file: File, path: &Path) -> io::Result<Tty> {
        let flags = OFlag::from_bits_truncate(fcntl(&file, FcntlArg::F_GETFL)?);
        fcntl(&file, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
        Tty::register(file, path)
    }

    /// Registers a non-blocking `file` with the reactor.
    fn register(file: File, path: &Path) -> io::Result<Tty> {
        Ok(Tty {
            rx: pipe::Receiver::from_file_unchecked(file.try_clone()?)?,
            tx: pipe::Sender::from_file_unchecked(file)?,
            _lock: None,
            path: path.to_path_buf(),
        })
    }

    /// The path the device was opened by.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads what has arrived (at least one byte; 0 at the end of the stream).
    pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            self.rx.readable().await?;
            match self.rx.try_read(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                result => return result,
            }
        }
    }

    /// Writes all of `bytes` (into the kernel's buffer: it returns before they are on the
    /// line).
    pub async fn write_all(&self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            self.tx.writable().await?;
            match self.tx.try_write(bytes) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => bytes = &bytes[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// A duplicate of the device's descriptor (same open file, still non-blocking), for
    /// [`write_all_blocking`] from a thread or a panic hook that cannot await.
    pub fn try_clone_fd(&self) -> io::Result<OwnedFd> {
        self.tx.as_fd().try_clone_to_owned()
    }
}

/// Writes all of `bytes` to `file` without a runtime, waiting (`poll`) up to `timeout` in
/// all when the device's buffer is full (the descriptor of a [`Tty`] is non-blocking).
pub fn write_all_blocking(file: &File, mut bytes: &[u8], timeout: Duration) -> io::Result<()> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let deadline = Instant::now() + timeout;
    while !bytes.is_empty() {
        match (&*file).write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(io::ErrorKind::TimedOut.into());
                }
                let wait = PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX);
                let mut fds = [PollFd::new(file.as_fd(), PollFlags::POLLOUT)];
                poll(&mut fds, wait)?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Why serial device `path` (the `device`, e.g. "receiver" or "valve board") could not be
/// opened, in words an operator can act on: what is wrong, and how to find the right port.
pub fn open_error(device: &str, path: &Path, e: &io::Error) -> String {
    open_error_words(device, path, e.kind(), e)
}

/// [`open_error`] of an error `kind` with its own `detail`.
pub(crate) fn open_error_words(
    device: &str,
    path: &Path,
    kind: io::ErrorKind,
    detail: &dyn std::fmt::Display,
) -> String {
    let path = path.display();
    match kind {
        io::ErrorKind::NotFound => format!(
            "serial port {path} does not exist: is the {device} plugged in, and is this its \
             name? List the serial ports with `ls -l /dev/serial/by-id/` (or `ls /dev/ttyUSB* \
             /dev/ttyACM*`); `dmesg | tail` right after plugging the {device} in shows the \
             name it got"
        ),
        io::ErrorKind::PermissionDenied => format!(
            "no permission to open serial port {path}: add the user to the `dialout` group \
             (`sudo usermod -aG dialout $USER`, then log in again)"
        ),
        io::ErrorKind::ResourceBusy | io::ErrorKind::WouldBlock => {
            format!("serial port {path} is in use by another program (`fuser -v {path}` names it)")
        }
        _ => format!(
            "cannot open serial port {path}: {detail} (is it a serial device? `ls -l \
             /dev/serial/by-id/` lists them)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_baud_rate_is_known_to_termios() {
        for baud in BAUD_RATES {
            assert!(baud_rate(baud).is_some(), "{baud}");
        }
        assert!(baud_rate(12345).is_none());
    }

    #[test]
    fn open_errors_name_the_device_and_say_what_to_do() {
        let path = Path::new("/dev/ttyUSB3");
        let msg = |kind: io::ErrorKind| open_error("valve board", path, &io::Error::from(kind));
        let missing = msg(io::ErrorKind::NotFound);
        assert!(
            missing.starts_with(
                "serial port /dev/ttyUSB3 does not exist: is the valve board plugged in"
            ),
            "{missing}"
        );
        assert!(msg(io::ErrorKind::PermissionDenied).contains("dialout"));
        assert!(msg(io::ErrorKind::WouldBlock).contains("in use by another program"));
        assert!(msg(io::ErrorKind::Other).starts_with("cannot open serial port /dev/ttyUSB3: "));
    }

    #[tokio::test]
    async fn a_missing_device_is_not_found_and_a_file_is_not_a_tty() {
        let dir = verger_testkit::TempDir::new("tty");
        let missing = Tty::open_serial(&dir.path("ttyUSB9"), 115_200).expect_err("no device");
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
        let plain = dir.path("plain");
        std::fs::write(&plain, b"").expect("plain file");
        let not_tty = Tty::open_serial(&plain, 115_200).expect_err("not a tty");
        assert!(open_error("valve board", &plain, &not_tty).starts_with("cannot open serial port"));
        let bad_baud = Tty::open_serial(&plain, 12345).expect_err("bad baud");
        assert_eq!(bad_baud.kind(), io::ErrorKind::InvalidInput);
    }

    #[tokio::test]
    async fn a_device_is_for_one_program_and_carries_bytes_both_ways() {
        let dir = verger_testkit::TempDir::new("tty");
        let mut pty = verger_testkit::Pty::open(&dir.path("ttyUSB0"));
        let tty = Tty::open_serial(&pty.link, 9600).expect("open the pty");
        let second = Tty::open_serial(&pty.link, 9600).expect_err("held by the first");
        assert_eq!(second.kind(), io::ErrorKind::WouldBlock);
        tty.write_all(b"to the device").await.expect("write");
        let mut got = Vec::new();
        while got.len() < 13 {
            got.extend(pty.read().await);
        }
        assert_eq!(got, b"to the device");
        let emergency = File::from(tty.try_clone_fd().expect("dup"));
        write_all_blocking(&emergency, b"!", Duration::from_secs(1)).expect("blocking write");
        assert_eq!(pty.read().await, b"!");
        pty.write(b"from it").await;
        let mut buf = [0u8; 64];
        let mut got = Vec::new();
        while got.len() < 7 {
            let n = verger_testkit::within("tty read", tty.read(&mut buf))
                .await
                .expect("read");
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, b"from it");
        drop(tty);
        Tty::open_serial(&pty.link, 9600).expect("free again once closed");
    }
}
