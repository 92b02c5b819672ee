//! `export` and `import` when the standby's engine is on another host.
//!
//! The archive is made and checked on this machine, as for a local engine,
//! but the data directory's bytes come from and go to the helper
//! container's archive endpoint: export reads the engine's tar of the
//! directory (after listing it with `find` for the manifest), import writes
//! a plain tar of the verified entries into the staging directory there.
//! Both run the archive code on a blocking thread bridged to the async
//! Docker streams, with fixed buffers, so memory stays flat.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_util::io::{StreamReader, SyncIoBridge};

use super::run_cancellable;
use crate::archive::{
    self, ArchiveError, ClusterIdentity, Compression, Exported, ExtractOptions, Extracted,
    WriteOptions,
};
use crate::config::Owner;
use crate::datadir::remote::{RemoteDir, dir_name};
use crate::error::Error;
use crate::progress::Bytes as Bar;

/// Writes the remote `data_dir` as an archive to `file`.
pub(super) async fn export(
    remote: &RemoteDir,
    data_dir: &Path,
    file: File,
    compression: Compression,
    slot: Option<String>,
    mut bar: Bar,
) -> Result<Exported, Error> {
    let version_path = data_dir.join("PG_VERSION");
    let version = remote
        .read_to_string(&version_path)
        .await?
        .unwrap_or_default();
    let identity = ClusterIdentity {
        pg_major: version.trim().to_string(),
        system_identifier: remote.system_identifier(data_dir).await?,
    };
    let root = dir_name(data_dir);
    let command = archive::listing_command(&root);
    let listing = remote.run_in_parent(data_dir, &command).await?;
    let items = archive::parse_listing(&listing)?;
    let input = SyncIoBridge::new(StreamReader::new(remote.download(data_dir)));

    run_cancellable("export", move |cancel| {
        let options = WriteOptions {
            compression,
            slot,
            cancel,
        };
        let written = archive::write_archive_from_tar(
            identity,
            items,
            &root,
            input,
            &file,
            &options,
            &mut |done, total| bar.set(done, total),
        );
        bar.finish();
        written
    })
    .await
}

/// Extracts and verifies the archive on `input` into `staging` on the
/// remote host; every entry gets `owner`.
pub(super) async fn extract(
    remote: &RemoteDir,
    input: File,
    staging: &Path,
    owner: Owner,
    mut bar: Bar,
) -> Result<Extracted, Error> {
    let (sender, mut receiver) = mpsc::channel::<io::Result<Bytes>>(IN_FLIGHT);
    let body = futures_util::stream::poll_fn(move |cx| receiver.poll_recv(cx));
    let upload = remote.upload(staging, body);

    let extraction = run_cancellable("extract", move |cancel| {
        let options = ExtractOptions {
            owner: Some(owner),
            cancel,
        };
        let out = ChannelWriter {
            sender,
            pending: Vec::with_capacity(CHUNK),
        };
        let extracted = archive::extract_to_tar(&input, "", out, &options, &mut |done, total| {
            bar.set(done, total)
        });
        bar.finish();
        extracted
    });
    let (extracted, uploaded) = tokio::join!(extraction, upload);
    match (extracted, uploaded) {
        (Ok(extracted), Ok(())) => Ok(extracted),
        // The upload failing first shows here as a closed channel: its
        // own error says more.
        (Err(Error::Archive(ArchiveError::Output(_))), Err(upload)) => Err(upload.into()),
        (Err(e), _) => Err(e),
        (Ok(_), Err(upload)) => Err(upload.into()),
    }
}

/// Bytes per message to the upload: large enough for few wake-ups.
const CHUNK: usize = 256 << 10;

/// Chunks queued for the upload at most: with [`CHUNK`], 1 MiB in flight.
const IN_FLIGHT: usize = 4;

/// The tar stream's writer: collects bytes into chunks and hands them to
/// the upload. A closed upload turns into a write error that stops the
/// extraction.
struct ChannelWriter {
    sender: mpsc::Sender<io::Result<Bytes>>,
    pending: Vec<u8>,
}

impl ChannelWriter {
    fn send_pending(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.pending, Vec::with_capacity(CHUNK));
        self.sender
            .blocking_send(Ok(Bytes::from(chunk)))
            .map_err(|_| {
                io::Error::new(io::ErrorKind::BrokenPipe, "the upload to the engine ended")
            })
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        if self.pending.len() >= CHUNK {
            self.send_pending()?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_pending()
    }
}

impl Drop for ChannelWriter {
    fn drop(&mut self) {
        // What the extraction wrote last (the end-of-archive blocks).
        let _ = self.send_pending();
    }
}
