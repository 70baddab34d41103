//! A component's output, line by line, each line prefixed with its name (`[map] ...`),
//! as plain values: bytes in, whole prefixed lines out.

/// A line longer than this is cut into pieces of this size (a program that never ends
/// its line does not grow the supervisor's memory).
pub const MAX_LINE: usize = 16 * 1024;

/// Cuts a byte stream into lines, each given back with `[name] ` before it and a
/// newline after it. Bytes are passed through as they are (not re-encoded).
#[derive(Debug)]
pub struct Prefixer {
    prefix: Vec<u8>,
    pending: Vec<u8>,
    max_line: usize,
    /// The last line was cut at the maximum: a newline right after it ends nothing.
    cut: bool,
}

impl Prefixer {
    /// Lines of component `name`, cut at [`MAX_LINE`].
    pub fn new(name: &str) -> Prefixer {
        Prefixer::with_max_line(name, MAX_LINE)
    }

    /// Lines cut at `max_line` bytes (at least 1).
    pub fn with_max_line(name: &str, max_line: usize) -> Prefixer {
        Prefixer {
            prefix: format!("[{name}] ").into_bytes(),
            pending: Vec::new(),
            max_line: max_line.max(1),
            cut: false,
        }
    }

    /// The bytes read next: every line they complete, prefixed (`\r\n` ends a line as
    /// `\n` does).
    pub fn push(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for &b in bytes {
            if b == b'\n' {
                if !(self.cut && self.pending.is_empty()) {
                    self.emit(&mut out);
                }
                self.cut = false;
            } else {
                self.pending.push(b);
                self.cut = false;
                if self.pending.len() >= self.max_line {
                    self.emit(&mut out);
                    self.cut = true;
                }
            }
        }
        out
    }

    /// The stream has ended: its unfinished last line, if any.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if !self.pending.is_empty() {
            self.emit(&mut out);
        }
        out
    }

    fn emit(&mut self, out: &mut Vec<u8>) {
        if self.pending.last() == Some(&b'\r') {
            self.pending.pop();
        }
        out.extend_from_slice(&self.prefix);
        out.append(&mut self.pending);
        out.push(b'\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_lines_whatever_the_chunks() {
        let mut p = Prefixer::new("map");
        assert_eq!(p.push(b"first li"), b"");
        assert_eq!(
            p.push(b"ne\r\nsecond\n\nthi"),
            b"[map] first line\n[map] second\n[map] \n"
        );
        assert_eq!(p.push(b"rd"), b"");
        assert_eq!(p.finish(), b"[map] third\n");
        assert_eq!(p.finish(), b"");
    }

    #[test]
    fn long_lines_are_cut() {
        let mut p = Prefixer::with_max_line("gnss", 4);
        assert_eq!(
            p.push(b"abcdefghij\n"),
            b"[gnss] abcd\n[gnss] efgh\n[gnss] ij\n"
        );
        assert_eq!(p.push(b"abcd\n\n"), b"[gnss] abcd\n[gnss] \n");
    }

    #[test]
    fn bytes_pass_as_they_are() {
        let mut p = Prefixer::new("dose");
        assert_eq!(
            p.push(b"\xff\xfe caf\xc3\xa9\n"),
            b"[dose] \xff\xfe caf\xc3\xa9\n"
        );
    }
}
