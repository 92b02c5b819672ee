//! Exporting a data directory that only the Docker engine can read: the
//! manifest comes from a listing made in a helper container
//! ([`crate::archive::parse_listing`]), the bytes from the engine's archive
//! endpoint, a tar of the directory.

use std::collections::HashMap;
use std::io::{self, Read, Write};

use super::emitter::Emitter;
use super::{Exported, Source, WriteOptions, changed, write_with};
use crate::archive::hashing::Failure;
use crate::archive::listing::walk_order;
use crate::archive::manifest::{ClusterIdentity, Item};
use crate::archive::{ArchiveError, Kind};

/// Writes an archive of the data directory described by `items` to `out`,
/// taking the entries from `input`, the tar the Docker engine streams for
/// `GET /containers/{id}/archive?path=DIR`: every name starts with `root/`
/// (`root` being DIR's last component), and the `root/` entry itself is
/// skipped. The archive equals what [`super::write_archive`] writes for the
/// same directory: same manifest (owners, modes and mtimes from `items`),
/// same headers, the checksums of the bytes that passed.
///
/// The entries are written in the order `input` delivers them. The engine
/// walks a directory depth first with names in byte order, which is the
/// manifest's order, and the reader checks entries by path anyway.
///
/// An entry of `input` that `items` lacks, one of `items` that `input`
/// lacks, or a different kind, size or link target is
/// [`ArchiveError::Changed`] naming the path: the directory changed between
/// the listing and the download. A hard link in `input` (the engine writes
/// a second name of the same file as one) is refused as unsupported.
pub fn write_archive_from_tar<R: Read, W: Write>(
    identity: ClusterIdentity,
    mut items: Vec<Item>,
    root: &str,
    input: R,
    out: W,
    options: &WriteOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Exported, ArchiveError> {
    items.sort_by(|a, b| walk_order(&a.entry.path, &b.entry.path));
    let mut source = EngineTar {
        index: items
            .iter()
            .enumerate()
            .map(|(i, item)| (item.entry.path.as_str(), i))
            .collect(),
        arrived: vec![false; items.len()],
        items: &items,
        prefix: format!("{}/", root.trim_end_matches('/')),
        input: Some(input),
    };
    write_with(identity, &items, &mut source, out, options, progress)
}

/// The engine's tar of the data directory, checked against the listing.
struct EngineTar<'a, R> {
    items: &'a [Item],
    index: HashMap<&'a str, usize>,
    arrived: Vec<bool>,
    /// `root/`, the start of every name.
    prefix: String,
    /// Taken by [`Source::emit`], which runs once.
    input: Option<R>,
}

impl<R: Read> Source for EngineTar<'_, R> {
    fn emit<W: Write>(&mut self, emitter: &mut Emitter<'_, W>) -> Result<(), ArchiveError> {
        let input = self.input.take().expect("a source is emitted once");
        let mut archive = tar::Archive::new(input);
        for entry in archive.entries().map_err(ArchiveError::Input)? {
            emitter.check_cancel()?;
            let mut entry = entry.map_err(ArchiveError::Input)?;
            if entry.header().entry_type() == tar::EntryType::XGlobalHeader {
                continue;
            }
            let Some(i) = self.arrival(&entry)? else {
                continue;
            };
            self.append(emitter, &self.items[i], &mut entry)?;
        }
        if let Some(i) = self.arrived.iter().position(|arrived| !arrived) {
            return Err(changed(&self.items[i].entry.path));
        }

        // Read to the end, so that the engine's stream completes cleanly.
        io::copy(&mut archive.into_inner(), &mut io::sink()).map_err(ArchiveError::Input)?;
        Ok(())
    }
}

impl<R: Read> EngineTar<'_, R> {
    /// The item an entry of the engine's tar stands for, marked arrived;
    /// `None` for the data directory itself.
    fn arrival(&mut self, entry: &tar::Entry<impl Read>) -> Result<Option<usize>, ArchiveError> {
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let name = name.trim_end_matches('/');
        if format!("{name}/") == self.prefix {
            return Ok(None);
        }
        let relative = name
            .strip_prefix(&self.prefix)
            .ok_or_else(|| changed(name))?;
        let i = *self.index.get(relative).ok_or_else(|| changed(relative))?;
        if std::mem::replace(&mut self.arrived[i], true) {
            return Err(changed(relative));
        }
        Ok(Some(i))
    }

    /// Checks an entry against its item, then appends it.
    fn append<W: Write>(
        &self,
        emitter: &mut Emitter<'_, W>,
        item: &Item,
        entry: &mut tar::Entry<R>,
    ) -> Result<(), ArchiveError> {
        let path = &item.entry.path;
        let found = match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => Kind::File,
            tar::EntryType::Directory => Kind::Dir,
            tar::EntryType::Symlink => Kind::Symlink,
            tar::EntryType::Link => {
                let what = "a second name (hard link) of another file";
                return Err(ArchiveError::Unsupported {
                    path: path.clone(),
                    what,
                });
            }
            _ => return Err(changed(path)),
        };
        if found != item.entry.kind {
            return Err(changed(path));
        }

        match found {
            Kind::Dir => emitter.append_entry(item),
            Kind::Symlink => {
                let target = entry.link_name_bytes().unwrap_or_default();
                if item.entry.target.as_deref().map(str::as_bytes) != Some(&*target) {
                    return Err(changed(path));
                }
                emitter.append_entry(item)
            }
            Kind::File => {
                let size = entry.header().size().map_err(ArchiveError::Input)?;
                if size != item.entry.size {
                    return Err(changed(path));
                }
                emitter.append_file(item, entry, |failure| match failure {
                    Failure::Read(e) => ArchiveError::Input(e),
                    Failure::Short | Failure::Cancelled => {
                        ArchiveError::Input(io::ErrorKind::UnexpectedEof.into())
                    }
                })?;
                Ok(())
            }
        }
    }
}
