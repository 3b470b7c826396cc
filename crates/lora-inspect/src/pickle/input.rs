//! The pickle's bytes, read argument by argument within a known length: every length is
//! checked against what is left before anything is read or allocated for it.

use std::io::{self, BufRead, Read};

use crate::error::InspectError;

const FORMAT: &str = "pickle";
/// Strings longer than this are kept only as "some string" (names are short).
pub(super) const MAX_KEPT_STRING: usize = 4096;
/// Longest text argument (protocol 0 lines).
const MAX_LINE: u64 = 64 * 1024;

/// The error for a broken or oversized pickle.
pub(super) fn bad(reason: impl Into<String>) -> InspectError {
    InspectError::invalid(FORMAT, reason)
}

/// A pickle's source, of which at most `len` bytes may be read.
pub(super) struct Input<R> {
    src: R,
    /// Bytes consumed so far, and how many the source holds.
    pos: u64,
    len: u64,
}

// u8 and le (and reserve under them) run for nearly every opcode, from the machine in
// another module, so another codegen unit: inline(always) keeps them inlined in its loop,
// as they were when both lived in one file. #[inline] alone left them calls, +2%
// instructions per scan.
impl<R: BufRead> Input<R> {
    pub(super) fn new(src: R, len: u64) -> Self {
        Self { src, pos: 0, len }
    }

    /// Bytes consumed so far.
    pub(super) fn pos(&self) -> u64 {
        self.pos
    }

    /// Makes sure `n` more bytes exist before anything is read or allocated for them.
    #[inline(always)]
    fn reserve(&mut self, n: u64) -> Result<(), InspectError> {
        if self.pos.checked_add(n).is_none_or(|end| end > self.len) {
            return Err(bad("truncated pickle"));
        }
        self.pos += n;
        Ok(())
    }

    fn read_io(&mut self, buf: &mut [u8]) -> Result<(), InspectError> {
        self.src.read_exact(buf).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => bad("truncated pickle"),
            _ => InspectError::Io(e),
        })
    }

    /// Reads `n` bytes, or skips them (returning `None`) when they are too long to keep.
    pub(super) fn take(&mut self, n: u64) -> Result<Option<Vec<u8>>, InspectError> {
        self.reserve(n)?;
        if n as usize > MAX_KEPT_STRING {
            let copied = io::copy(&mut (&mut self.src).take(n), &mut io::sink())?;
            if copied != n {
                return Err(bad("truncated pickle"));
            }
            return Ok(None);
        }
        let mut buf = vec![0u8; n as usize];
        self.read_io(&mut buf)?;
        Ok(Some(buf))
    }

    #[inline(always)]
    pub(super) fn u8(&mut self) -> Result<u8, InspectError> {
        self.reserve(1)?;
        let mut b = [0u8; 1];
        self.read_io(&mut b)?;
        Ok(b[0])
    }

    #[inline(always)]
    pub(super) fn le(&mut self, n: usize) -> Result<u64, InspectError> {
        self.reserve(n as u64)?;
        let mut b = [0u8; 8];
        self.read_io(&mut b[..n])?;
        Ok(u64::from_le_bytes(b))
    }

    pub(super) fn line(&mut self) -> Result<Vec<u8>, InspectError> {
        let mut out = Vec::new();
        let cap = (self.len - self.pos).min(MAX_LINE);
        let n = (&mut self.src).take(cap).read_until(b'\n', &mut out)?;
        if out.last() != Some(&b'\n') {
            return Err(bad("unterminated text argument"));
        }
        self.pos += n as u64;
        out.pop();
        Ok(out)
    }

    pub(super) fn text_int(&mut self) -> Result<u64, InspectError> {
        let line = self.line()?;
        std::str::from_utf8(&line)
            .ok()
            .and_then(|s| s.trim().trim_end_matches('L').parse().ok())
            .ok_or_else(|| bad("bad text integer"))
    }

    pub(super) fn text_global(&mut self) -> Result<(String, String), InspectError> {
        let module = String::from_utf8_lossy(&self.line()?).into_owned();
        let name = String::from_utf8_lossy(&self.line()?).into_owned();
        Ok((module, name))
    }

    pub(super) fn signed_len(&mut self) -> Result<u64, InspectError> {
        let n = self.le(4)? as u32 as i32;
        u64::try_from(n).map_err(|_| bad("negative length"))
    }
}
