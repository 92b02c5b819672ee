//! Writing a set of PKI files so that a failure never leaves half of them:
//! every file goes to a temporary name in the same directory first, and
//! only when all are written are they renamed into place. A file being
//! replaced is renamed aside with a timestamp, never deleted, because a
//! lost `ca.key` cannot be recovered.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use time::OffsetDateTime;
use time::macros::format_description;

use super::{CERT_MODE, DIR_MODE, KEY_MODE, PkiError};

/// One file to write.
pub struct NewFile {
    /// File name inside the directory (`client.crt`).
    pub name: String,
    pub contents: String,
    /// Permission bits, set explicitly so the umask cannot loosen or tighten them.
    pub mode: u32,
}

impl NewFile {
    /// A certificate (0644).
    pub fn cert(name: &str, pem: &str) -> NewFile {
        NewFile {
            name: name.into(),
            contents: pem.into(),
            mode: CERT_MODE,
        }
    }

    /// A private key (0600).
    pub fn key(name: &str, pem: &str) -> NewFile {
        NewFile {
            name: name.into(),
            contents: pem.into(),
            mode: KEY_MODE,
        }
    }
}

/// What to do with a file that is already there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Refuse the whole set; write nothing.
    Refuse,
    /// Rename the old file aside (`client.crt.replaced-20250102T030405Z`).
    KeepAside,
}

/// What a write did.
#[derive(Debug, Default)]
pub struct Written {
    /// The files now in place.
    pub files: Vec<PathBuf>,
    /// (old path, where the old file now is).
    pub kept: Vec<(PathBuf, PathBuf)>,
}

/// Writes `files` into `dir` (created 0700 when absent).
pub fn write_set(
    dir: &Path,
    files: &[NewFile],
    existing: Existing,
    now: OffsetDateTime,
) -> Result<Written, PkiError> {
    let present: Vec<PathBuf> = files
        .iter()
        .map(|f| dir.join(&f.name))
        .filter(|p| p.exists())
        .collect();
    if existing == Existing::Refuse && !present.is_empty() {
        return Err(PkiError::Exists {
            dir: dir.to_path_buf(),
            paths: present,
        });
    }
    ensure_dir(dir)?;

    let temps = write_temporaries(dir, files)?;
    let mut written = Written::default();
    for (temp, file) in temps.iter().zip(files) {
        let target = dir.join(&file.name);
        if target.exists() {
            let aside = aside_name(&target, now);
            rename(&target, &aside)?;
            written.kept.push((target.clone(), aside));
        }
        rename(temp, &target)?;
        written.files.push(target);
    }
    sync_dir(dir);
    Ok(written)
}

/// Creates `dir` with mode 0700 when it does not exist; an existing one is
/// left as it is (it may be a directory the operator chose and shares).
fn ensure_dir(dir: &Path) -> Result<(), PkiError> {
    if dir.is_dir() {
        return Ok(());
    }
    if dir.exists() {
        return Err(PkiError::NotADirectory {
            path: dir.to_path_buf(),
        });
    }
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
        .map_err(|source| PkiError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
    // The builder's mode passes through the umask; say exactly what we mean.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(DIR_MODE)).map_err(|source| {
        PkiError::CreateDir {
            path: dir.to_path_buf(),
            source,
        }
    })
}

/// Writes every file under a temporary name; on any failure removes the
/// ones already written and returns the error.
fn write_temporaries(dir: &Path, files: &[NewFile]) -> Result<Vec<PathBuf>, PkiError> {
    let mut temps = Vec::new();
    for file in files {
        let temp = dir.join(format!(".{}.tmp-{}", file.name, std::process::id()));
        if let Err(source) = write_one(&temp, file) {
            let _ = std::fs::remove_file(&temp);
            for written in &temps {
                let _ = std::fs::remove_file(written);
            }
            // Name the file the user asked for, not our temporary name.
            let path = dir.join(&file.name);
            return Err(PkiError::Write { path, source });
        }
        temps.push(temp);
    }
    Ok(temps)
}

fn write_one(path: &Path, file: &NewFile) -> std::io::Result<()> {
    // Created owner-only and opened up afterwards, so a key is never
    // readable by others, not even between create and chmod.
    let mut out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(file.mode & KEY_MODE)
        .open(path)?;
    out.set_permissions(std::fs::Permissions::from_mode(file.mode))?;
    out.write_all(file.contents.as_bytes())?;
    out.sync_all()
}

fn rename(from: &Path, to: &Path) -> Result<(), PkiError> {
    std::fs::rename(from, to).map_err(|source| PkiError::Rename {
        from: from.to_path_buf(),
        to: to.to_path_buf(),
        source,
    })
}

/// `NAME.replaced-YYYYMMDDTHHMMSSZ`, with `-2`, `-3`... if taken. The name
/// no longer ends in `.crt` or `.key`, so `inspect` skips it.
pub fn aside_name(path: &Path, now: OffsetDateTime) -> PathBuf {
    let stamp = now
        .to_offset(time::UtcOffset::UTC)
        .format(format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .unwrap_or_else(|_| now.unix_timestamp().to_string());
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let base = path.with_file_name(format!("{name}.replaced-{stamp}"));
    let mut candidate = base.clone();
    let mut n = 2;
    while candidate.exists() {
        candidate = PathBuf::from(format!("{}-{n}", base.display()));
        n += 1;
    }
    candidate
}

/// Makes the renames durable. Best effort: the files themselves were
/// synced, and a failure here changes nothing the caller could act on.
fn sync_dir(dir: &Path) {
    if let Err(e) = File::open(dir).and_then(|d| d.sync_all()) {
        tracing::debug!(path = %dir.display(), error = %e, "could not sync the directory");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> OffsetDateTime {
        time::macros::datetime!(2025-01-02 03:04:05 UTC)
    }

    #[test]
    fn writes_modes_and_creates_the_directory_0700() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("pki");
        let files = [NewFile::cert("a.crt", "cert"), NewFile::key("a.key", "key")];
        let written = write_set(&dir, &files, Existing::Refuse, now()).unwrap();

        assert_eq!(written.files, [dir.join("a.crt"), dir.join("a.key")]);
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("a.crt")), 0o644);
        assert_eq!(mode(&dir.join("a.key")), 0o600);
        assert_eq!(std::fs::read_to_string(dir.join("a.key")).unwrap(), "key");
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            2,
            "no temporaries left"
        );
    }

    #[test]
    fn refuses_existing_files_and_writes_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("b.key"), "old").unwrap();
        let files = [NewFile::cert("a.crt", "new"), NewFile::key("b.key", "new")];
        let err = write_set(tmp.path(), &files, Existing::Refuse, now()).unwrap_err();

        assert_eq!(
            err.to_string(),
            format!("{}: refusing to overwrite b.key", tmp.path().display())
        );
        assert!(!tmp.path().join("a.crt").exists());
        assert_eq!(
            std::fs::read_to_string(tmp.path().join("b.key")).unwrap(),
            "old"
        );
    }

    #[test]
    fn keeps_replaced_files_aside_with_a_timestamp() {
        let tmp = tempfile::tempdir().unwrap();
        let key = tmp.path().join("c.key");
        std::fs::write(&key, "old").unwrap();
        let first = write_set(
            tmp.path(),
            &[NewFile::key("c.key", "new")],
            Existing::KeepAside,
            now(),
        );
        let second = write_set(
            tmp.path(),
            &[NewFile::key("c.key", "newer")],
            Existing::KeepAside,
            now(),
        );

        let aside = tmp.path().join("c.key.replaced-20250102T030405Z");
        assert_eq!(first.unwrap().kept, [(key.clone(), aside.clone())]);
        assert_eq!(std::fs::read_to_string(&aside).unwrap(), "old");
        let aside2 = PathBuf::from(format!("{}-2", aside.display()));
        assert_eq!(second.unwrap().kept, [(key.clone(), aside2.clone())]);
        assert_eq!(std::fs::read_to_string(&aside2).unwrap(), "new");
        assert_eq!(std::fs::read_to_string(&key).unwrap(), "newer");
    }

    #[test]
    fn a_directory_that_cannot_be_created_is_named() {
        let tmp = tempfile::tempdir().unwrap();
        let blocker = tmp.path().join("file");
        std::fs::write(&blocker, "").unwrap();
        let dir = blocker.join("pki");
        let err = write_set(
            &dir,
            &[NewFile::cert("a.crt", "x")],
            Existing::Refuse,
            now(),
        );

        let err = err.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("create directory {}", dir.display())
        );
        assert!(err.hint().unwrap().contains("writable"), "{:?}", err.hint());
    }

    #[test]
    fn an_unwritable_directory_is_named_and_left_empty() {
        // Tests run as root, which ignores modes; /proc refuses new files for everyone.
        let dir = Path::new("/proc");
        let files = [NewFile::cert("a.crt", "x"), NewFile::key("a.key", "y")];
        let err = write_set(dir, &files, Existing::Refuse, now()).unwrap_err();

        assert_eq!(err.to_string(), "write /proc/a.crt");
        assert_eq!(
            err.hint().unwrap(),
            "is /proc writable by this user? (or choose another --dir)"
        );
        assert!(!dir.join("a.crt").exists());
    }
}
