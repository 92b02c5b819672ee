//! The sink of [`super::extract_to_tar`]: entries become a plain tar
//! stream for the Docker engine to unpack where pgshadow cannot write.

use std::io::{self, BufWriter, Read, Write};

use super::{Arrival, Sink};
use crate::archive::writer::BUFFER;
use crate::archive::{ArchiveError, Kind};
use crate::config::Owner;

/// Writes a tar whose names start with `prefix/`.
pub(super) struct TarSink<W: Write> {
    builder: tar::Builder<BufWriter<Cutoff<W>>>,
    /// Without a trailing `/`; empty for none.
    prefix: String,
    owner: Option<Owner>,
    finished: bool,
}

impl<W: Write> TarSink<W> {
    /// Starts the tar, with the prefix directory as its first entry.
    pub fn new(prefix: &str, out: W, owner: Option<Owner>) -> Result<Self, ArchiveError> {
        let out = Cutoff {
            inner: out,
            open: true,
        };
        let mut sink = TarSink {
            builder: tar::Builder::new(BufWriter::with_capacity(BUFFER, out)),
            prefix: prefix.trim_end_matches('/').to_string(),
            owner,
            finished: false,
        };
        if !sink.prefix.is_empty() {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Directory);
            header.set_mode(0o700);
            let (uid, gid) = owner.map_or((0, 0), |o| (u64::from(o.uid), u64::from(o.gid)));
            header.set_uid(uid);
            header.set_gid(gid);
            header.set_mtime(now());
            header.set_size(0);
            let name = sink.prefix.clone();
            sink.builder
                .append_data(&mut header, name, io::empty())
                .map_err(ArchiveError::Output)?;
        }
        Ok(sink)
    }

    fn name(&self, path: &str) -> String {
        if self.prefix.is_empty() {
            path.to_string()
        } else {
            format!("{}/{path}", self.prefix)
        }
    }

    /// The archive's mode bits and mtime; the chosen owner or the archive's.
    fn header(&self, arrival: &Arrival) -> tar::Header {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(match arrival.expected.kind {
            Kind::Dir => tar::EntryType::Directory,
            Kind::Symlink => tar::EntryType::Symlink,
            Kind::File => tar::EntryType::Regular,
        });
        header.set_mode(arrival.expected.mode & 0o777);
        let (uid, gid) = self.owner.map_or((arrival.uid, arrival.gid), |o| {
            (u64::from(o.uid), u64::from(o.gid))
        });
        header.set_uid(uid);
        header.set_gid(gid);
        header.set_mtime(arrival.mtime);
        header.set_size(match arrival.expected.kind {
            Kind::File => arrival.expected.size,
            Kind::Dir | Kind::Symlink => 0,
        });
        header
    }
}

impl<W: Write> Sink for TarSink<W> {
    fn dir(&mut self, arrival: &Arrival) -> Result<(), ArchiveError> {
        let mut header = self.header(arrival);
        let name = self.name(arrival.path);
        self.builder
            .append_data(&mut header, name, io::empty())
            .map_err(ArchiveError::Output)
    }

    fn symlink(&mut self, arrival: &Arrival) -> Result<(), ArchiveError> {
        let mut header = self.header(arrival);
        let name = self.name(arrival.path);
        let target = arrival.expected.target.as_deref().unwrap_or_default();
        self.builder
            .append_link(&mut header, name, target)
            .map_err(ArchiveError::Output)
    }

    fn file(&mut self, arrival: &Arrival, data: &mut dyn Read) -> Result<(), ArchiveError> {
        let mut header = self.header(arrival);
        let name = self.name(arrival.path);
        self.builder
            .append_data(&mut header, name, data)
            .map_err(ArchiveError::Output)
    }

    /// The end-of-archive blocks, and everything flushed to `out`.
    fn finish(&mut self) -> Result<(), ArchiveError> {
        self.builder.finish().map_err(ArchiveError::Output)?;
        self.builder
            .get_mut()
            .flush()
            .map_err(ArchiveError::Output)?;
        self.finished = true;
        Ok(())
    }
}

impl<W: Write> Drop for TarSink<W> {
    /// The tar builder writes the end-of-archive blocks when it is dropped,
    /// and the buffer flushes: after an error that would make a cut-off
    /// stream look complete, so the output is closed first.
    fn drop(&mut self) {
        if !self.finished {
            self.builder.get_mut().get_mut().open = false;
        }
    }
}

/// A writer that can be closed, after which every write fails.
struct Cutoff<W> {
    inner: W,
    open: bool,
}

impl<W: Write> Write for Cutoff<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if !self.open {
            return Err(io::Error::other("abandoned after an error"));
        }
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.open {
            return Err(io::Error::other("abandoned after an error"));
        }
        self.inner.flush()
    }
}

fn now() -> u64 {
    std::time::UNIX_EPOCH
        .elapsed()
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
