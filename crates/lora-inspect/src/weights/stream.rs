//! The data section read front to back in large, aligned windows.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::error::InspectError;

/// Reads a byte range of a file front to back in large reads, handing out each tensor as
/// a slice of its buffer: no second copy through a `BufReader`, one syscall per window
/// rather than per tensor. A slice sits at the same address modulo 8 as its offset in the
/// data section, so tensors aligned there are aligned in memory even when the header's
/// length is not a multiple of 8.
pub(super) struct Stream {
    file: File,
    /// Only ever grows (to the largest tensor kept whole); u64 for the alignment.
    buf: Vec<u64>,
    /// Next byte to hand out, and the end of the bytes read, as indexes into `buf`.
    pos: usize,
    filled: usize,
    /// Bytes of the range not read yet.
    unread: u64,
}

/// Bytes read at a time.
const WINDOW: usize = 4 << 20;

impl Stream {
    /// The `len` bytes at `offset` in the data section that starts at `data_start`.
    pub(super) fn open(
        path: &Path,
        data_start: u64,
        offset: u64,
        len: u64,
    ) -> Result<Self, InspectError> {
        let mut file = File::open(path)?;
        file.seek(SeekFrom::Start(data_start + offset))?;
        let lead = (offset % 8) as usize;
        Ok(Self {
            file,
            buf: Vec::new(),
            pos: lead,
            filled: lead,
            unread: len,
        })
    }

    /// The next `len` bytes.
    pub(super) fn next(&mut self, len: usize) -> Result<&[u8], InspectError> {
        if self.filled - self.pos < len {
            self.refill(len)?;
        }
        let start = self.pos;
        self.pos += len;
        Ok(&bytemuck::cast_slice::<u64, u8>(&self.buf)[start..self.pos])
    }

    pub(super) fn skip(&mut self, len: usize) -> Result<(), InspectError> {
        let buffered = self.filled - self.pos;
        if len <= buffered {
            self.pos += len;
            return Ok(());
        }
        let beyond = (len - buffered) as u64;
        self.file.seek_relative(beyond as i64)?;
        self.unread = self.unread.saturating_sub(beyond);
        self.pos = (self.pos + len) % 8;
        self.filled = self.pos;
        Ok(())
    }

    /// Moves the unread tail to the front (same alignment) and reads until `len` bytes
    /// are buffered.
    fn refill(&mut self, len: usize) -> Result<(), InspectError> {
        let lead = self.pos % 8;
        let tail = self.filled - self.pos;
        let want = (lead + len).max(WINDOW.min(lead + tail + self.unread as usize));
        if self.buf.len() * 8 < want {
            self.buf.resize(want.div_ceil(8), 0);
        }
        let bytes = bytemuck::cast_slice_mut::<u64, u8>(&mut self.buf);
        bytes.copy_within(self.pos..self.filled, lead);
        self.pos = lead;
        self.filled = lead + tail;
        let room = bytes.len().min(self.filled + self.unread as usize);
        while self.filled - self.pos < len {
            let n = self.file.read(&mut bytes[self.filled..room])?;
            if n == 0 {
                return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
            }
            self.filled += n;
            self.unread -= n as u64;
        }
        Ok(())
    }
}
