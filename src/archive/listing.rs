//! The inventory of a data directory that only a helper container can see:
//! the output of one `find` run there, parsed into the same [`Item`]s, under
//! the same rules and in the same order as [`super::manifest::inventory`].

use std::cmp::Ordering;

use super::manifest::{Item, check_entry_path, check_link_target};
use super::{ArchiveError, Kind, ManifestEntry};

/// The `-printf` argument of the listing: type letter, octal mode, uid, gid,
/// mtime with its fraction, size, then the path relative to the data
/// directory and the link target, each ended by a NUL (find expands `\0`).
/// Paths may hold spaces and newlines, never a NUL, so NULs end fields.
pub const LISTING_FORMAT: &str = "%y %m %U %G %T@ %s\\0%P\\0%l\\0";

/// The command that lists the data directory `name`, to be run (without a
/// shell) with the directory's parent as the working directory. GNU find is
/// needed (busybox's lacks `-printf`). A name starting with `-` is written
/// `./name` so that find does not read it as an option; `%P` is relative to
/// the start point either way.
pub fn listing_command(name: &str) -> Vec<String> {
    let start = if name.starts_with('-') {
        format!("./{name}")
    } else {
        name.to_string()
    };
    ["find", &start, "-mindepth", "1", "-printf", LISTING_FORMAT]
        .map(String::from)
        .to_vec()
}

/// Parses the output of [`listing_command`] into the data directory's items,
/// in the order [`super::manifest::inventory`] gives: depth first,
/// directories before their contents, names in byte order. That is also the
/// order of Go's `filepath.Walk`, in which the Docker engine's archive
/// endpoint streams a directory.
///
/// The caller decodes the output with `String::from_utf8`: a name that is
/// not UTF-8 is refused there, as `inventory` refuses it.
pub fn parse_listing(text: &str) -> Result<Vec<Item>, ArchiveError> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let body = text
        .strip_suffix('\0')
        .ok_or_else(|| bad_listing("it does not end with a NUL: was it cut short?".into()))?;
    let fields: Vec<&str> = body.split('\0').collect();
    if !fields.len().is_multiple_of(3) {
        let message = format!("{} fields, not three per entry", fields.len());
        return Err(bad_listing(message));
    }
    let mut items = fields
        .chunks(3)
        .map(|record| parse_record(record[0], record[1], record[2]))
        .collect::<Result<Vec<_>, _>>()?;
    items.sort_by(|a, b| walk_order(&a.entry.path, &b.entry.path));
    Ok(items)
}

/// One record: `%y %m %U %G %T@ %s`, the path and the link target.
fn parse_record(stat: &str, path: &str, target: &str) -> Result<Item, ArchiveError> {
    let malformed = || bad_listing(format!("{path}: cannot read `{stat}`"));
    let words: Vec<&str> = stat.split(' ').collect();
    let [letter, mode, uid, gid, mtime, size] = words[..] else {
        return Err(malformed());
    };
    check_entry_path(path)?;
    let kind = kind_of_letter(path, letter)?;
    let target = match kind {
        Kind::Symlink => {
            check_link_target(path, target)?;
            Some(target.to_string())
        }
        _ => None,
    };

    let mode = u32::from_str_radix(mode, 8).map_err(|_| malformed())?;
    let number = |text: &str| text.parse::<u64>().map_err(|_| malformed());
    let size = number(size)?;
    Ok(Item {
        entry: ManifestEntry {
            path: path.to_string(),
            kind,
            mode: mode & 0o7777,
            size: if kind == Kind::File { size } else { 0 },
            target,
        },
        mtime: whole_seconds(mtime).ok_or_else(malformed)?,
        uid: number(uid)?,
        gid: number(gid)?,
    })
}

/// `%T@` is seconds with a fraction; the tar header keeps whole seconds,
/// and a time before 1970 becomes 0, as `inventory` records it.
fn whole_seconds(text: &str) -> Option<u64> {
    let whole = text.split_once('.').map_or(text, |(whole, _)| whole);
    if let Some(negative) = whole.strip_prefix('-') {
        return negative.parse::<u64>().ok().map(|_| 0);
    }
    whole.parse().ok()
}

/// find's `%y` letters, refused as `inventory` refuses the same kinds.
fn kind_of_letter(path: &str, letter: &str) -> Result<Kind, ArchiveError> {
    let unsupported = |what| ArchiveError::Unsupported {
        path: path.to_string(),
        what,
    };
    match letter {
        "f" => Ok(Kind::File),
        "d" => Ok(Kind::Dir),
        "l" => Ok(Kind::Symlink),
        "p" => Err(unsupported("a named pipe")),
        "s" => Err(unsupported("a socket")),
        "b" | "c" => Err(unsupported("a device")),
        _ => Err(unsupported("an entry of an unknown kind")),
    }
}

/// Depth-first order with names compared byte by byte: comparing the
/// `/`-separated components puts a directory right before its contents
/// (`a`, `a/x`, `a-b`), where comparing whole strings would not (`-` sorts
/// before `/`).
pub(super) fn walk_order(a: &str, b: &str) -> Ordering {
    a.split('/').cmp(b.split('/'))
}

fn bad_listing(message: String) -> ArchiveError {
    ArchiveError::BadListing { message }
}
