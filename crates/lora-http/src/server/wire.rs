//! The HTTP layer's own refusals, in the contract's shape.
//!
//! actix-http answers two things itself, below the app and its error handlers: a client
//! that takes longer than the header timeout to send its request head gets `408`, and a
//! request line or head it cannot parse gets `400`. Both come with an empty body, though
//! every other error of the service is JSON. This wrapper around each connection
//! recognises exactly those two responses as they are written (a head with
//! `content-length: 0` and no body: the app never answers an error so) and gives them the
//! JSON body every other error has.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The two refusals, by the status line actix-http writes, and the body each gets.
const REFUSALS: [(&[u8], &str); 2] = [
    (
        b"HTTP/1.1 408 Request Timeout\r\n",
        r#"{"detail":"Request Timeout: the request's headers did not arrive in time"}"#,
    ),
    (
        b"HTTP/1.1 400 Bad Request\r\n",
        r#"{"detail":"Bad Request: the request line or headers could not be parsed"}"#,
    ),
];

const EMPTY: &[u8] = b"content-length: 0\r\n";

/// A connection whose bare 408 and 400 responses get JSON bodies.
#[derive(Debug)]
pub(crate) struct JsonRefusals<T> {
    io: T,
    /// A rewritten response still being written, and the length of the write it replaces.
    pending: Option<(Vec<u8>, usize, usize)>,
}

impl<T> JsonRefusals<T> {
    pub(crate) fn new(io: T) -> Self {
        Self { io, pending: None }
    }
}

/// `buf` rewritten with a JSON body, if it is one of the two bare refusals.
fn rewrite(buf: &[u8]) -> Option<Vec<u8>> {
    let (_, body) = REFUSALS
        .iter()
        .find(|(status, _)| buf.starts_with(status))?;
    if !buf.ends_with(b"\r\n\r\n") {
        return None;
    }
    let at = buf
        .windows(EMPTY.len())
        .position(|w| w.eq_ignore_ascii_case(EMPTY))?;
    let mut out = Vec::with_capacity(buf.len() + body.len() + 64);
    out.extend_from_slice(&buf[..at]);
    out.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    out.extend_from_slice(b"content-type: application/json\r\n");
    out.extend_from_slice(&buf[at + EMPTY.len()..]);
    out.extend_from_slice(body.as_bytes());
    Some(out)
}

impl<T: AsyncRead + Unpin> AsyncRead for JsonRefusals<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for JsonRefusals<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.pending.is_none() {
            match rewrite(buf) {
                Some(rewritten) => this.pending = Some((rewritten, 0, buf.len())),
                None => return Pin::new(&mut this.io).poll_write(cx, buf),
            }
        }
        // Write the whole rewritten response, then report the caller's bytes as written.
        while let Some((bytes, done, replaced)) = &mut this.pending {
            if *done == bytes.len() {
                let replaced = *replaced;
                this.pending = None;
                return Poll::Ready(Ok(replaced));
            }
            let n = ready!(Pin::new(&mut this.io).poll_write(cx, &bytes[*done..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *done += n;
        }
        Poll::Ready(Ok(0))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::rewrite;

    #[test]
    fn only_the_bare_refusals_are_rewritten() {
        let bare = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\ndate: x\r\n\r\n";
        let out = String::from_utf8(rewrite(bare).unwrap()).unwrap();
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        assert!(head.contains("content-type: application/json"), "{head}");
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{head}"
        );
        assert!(body.starts_with(r#"{"detail":"Request Timeout"#), "{body}");
        assert!(rewrite(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n").is_some());
        // The app's own errors carry a body already; other responses pass untouched.
        let app_400 = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 42\r\n\r\n";
        assert!(rewrite(app_400).is_none());
        assert!(rewrite(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").is_none());
        assert!(rewrite(b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\n\r\n{}").is_none());
    }
}
