//! Exporting a data directory this machine can read.

use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::Path;

use super::emitter::Emitter;
use super::{BUFFER, Exported, Source, WriteOptions, changed, write_with};
use crate::archive::hashing::Failure;
use crate::archive::manifest::{Item, inventory, read_cluster_identity};
use crate::archive::{ArchiveError, Kind};

/// Writes `dir` as an archive to `out`. `progress` is called with the bytes
/// of file data done so far and the total, after every file.
pub fn write_archive<W: Write>(
    dir: &Path,
    out: W,
    options: &WriteOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Exported, ArchiveError> {
    let identity = read_cluster_identity(dir)?;
    let items = inventory(dir)?;
    let mut source = LocalFiles { dir, items: &items };
    write_with(identity, &items, &mut source, out, options, progress)
}

/// The entries of a directory on this machine, in inventory order.
struct LocalFiles<'a> {
    dir: &'a Path,
    items: &'a [Item],
}

impl Source for LocalFiles<'_> {
    fn emit<W: Write>(&mut self, emitter: &mut Emitter<'_, W>) -> Result<(), ArchiveError> {
        for item in self.items {
            emitter.check_cancel()?;
            match item.entry.kind {
                Kind::File => self.append_file(emitter, item)?,
                Kind::Dir | Kind::Symlink => emitter.append_entry(item)?,
            }
        }
        Ok(())
    }
}

impl LocalFiles<'_> {
    /// Streams one file, then checks that it still has the size the
    /// manifest recorded.
    fn append_file<W: Write>(
        &self,
        emitter: &mut Emitter<'_, W>,
        item: &Item,
    ) -> Result<(), ArchiveError> {
        let relative = &item.entry.path;
        let path = self.dir.join(relative);
        let read_error = |source| ArchiveError::Read {
            path: path.clone(),
            source,
        };
        let file = File::open(&path).map_err(read_error)?;
        let data = BufReader::with_capacity(BUFFER, file.take(item.entry.size));

        let data = emitter.append_file(item, data, |failure| match failure {
            Failure::Read(source) => read_error(source),
            Failure::Short | Failure::Cancelled => changed(relative),
        })?;
        let now = data.get_ref().get_ref().metadata().map_err(read_error)?;
        if now.len() != item.entry.size {
            return Err(changed(relative));
        }
        Ok(())
    }
}
