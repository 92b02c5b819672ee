//! A reader that hashes file data as it passes, used on both ends: the
//! writer hashes what it streams, the reader what it writes.

use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};

use ring::digest::{Context, SHA256};

use super::hex;

/// Why a [`HashingReader`] stopped early.
pub(super) enum Failure {
    Cancelled,
    /// The data ended before the size the manifest or header promised.
    Short,
    Read(io::Error),
}

/// Hashes what passes through, and turns data that ends early, a read
/// error or a cancellation into an error the consumer (the tar builder, a
/// file copy) stops on, remembering which, so that the message names the
/// right cause rather than the consumer's view of it.
pub(super) struct HashingReader<'a, R> {
    inner: R,
    context: Context,
    count: u64,
    expected: u64,
    cancel: &'a AtomicBool,
    failure: Option<Failure>,
}

impl<'a, R: Read> HashingReader<'a, R> {
    /// Reads `inner`, which must deliver exactly `expected` bytes.
    pub fn new(inner: R, expected: u64, cancel: &'a AtomicBool) -> Self {
        HashingReader {
            inner,
            context: Context::new(&SHA256),
            count: 0,
            expected,
            cancel,
            failure: None,
        }
    }

    /// Why reading stopped early, if it did.
    pub fn take_failure(&mut self) -> Option<Failure> {
        self.failure.take()
    }

    /// Bytes passed through so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The hex SHA-256 of what passed, and the inner reader.
    pub fn finish(self) -> (String, R) {
        (hex(self.context.finish().as_ref()), self.inner)
    }
}

impl<R: Read> Read for HashingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.cancel.load(Ordering::Relaxed) {
            self.failure = Some(Failure::Cancelled);
            return Err(io::Error::other("interrupted"));
        }
        let n = match self.inner.read(buf) {
            Ok(n) => n,
            Err(e) => {
                let kind = e.kind();
                self.failure = Some(Failure::Read(e));
                return Err(kind.into());
            }
        };
        if n == 0 && self.count < self.expected && !buf.is_empty() {
            self.failure = Some(Failure::Short);
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.context.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}
