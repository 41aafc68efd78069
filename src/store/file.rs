//! The token file: written temp -> fsync -> rename with mode 0600 in a 0700
//! folder; a symlink, FIFO or oversized file refused; a corrupt file moved
//! aside, never deleted.

// The guarantees above are Unix file-system calls (no-follow, non-blocking
// opens, 0600/0700 modes); the Windows protections (ACLs, reparse points)
// come with the platform work (issue #17); until then a Windows build uses
// the portable parts only.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
#[cfg(unix)]
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::StoredToken;
use crate::{Error, Result};

/// Token files are a few hundred bytes; anything far larger is not one.
const MAX_TOKEN_FILE: u64 = 1 << 20;
/// A refresh holds the lock for at most one HTTP timeout.
const LOCK_WAIT: Duration = Duration::from_secs(90);

#[derive(Clone, Debug)]
pub struct FileStore {
    path: PathBuf,
}

/// What reading the file found.
#[derive(Debug)]
pub enum Loaded {
    Missing,
    Token(Box<StoredToken>),
    /// The file was not a token; it was moved to `moved_to`.
    Corrupt {
        moved_to: PathBuf,
        reason: String,
    },
}

impl FileStore {
    pub fn new(path: PathBuf) -> Self {
        Self { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the token without side effects: `Ok(None)` when there is no
    /// file, `Ok(Some(Err(reason)))` when it is not a token file.
    pub fn peek(&self) -> Result<Option<std::result::Result<StoredToken, String>>> {
        Ok(read_regular_file(&self.path)?.map(|bytes| parse(&bytes)))
    }

    /// Reads the token; a file that is not one is moved aside (never deleted).
    pub fn load(&self) -> Result<Loaded> {
        match self.peek()? {
            None => Ok(Loaded::Missing),
            Some(Ok(t)) => Ok(Loaded::Token(Box::new(t))),
            Some(Err(reason)) => {
                let moved_to = self.move_aside()?;
                log::warn!(
                    "{}: not a token file ({reason}); moved to {}",
                    self.path.display(),
                    moved_to.display()
                );
                Ok(Loaded::Corrupt { moved_to, reason })
            }
        }
    }

    pub fn save(&self, token: &StoredToken) -> Result<()> {
        let json = serde_json::to_vec(token)
            .map_err(|e| Error::Other(format!("could not encode the token: {e}")))?;
        write_atomic(&self.path, &json)
    }

    /// True when there was a file to delete.
    pub fn delete(&self) -> Result<bool> {
        refuse_symlink(&self.path)?;
        if let Some(dir) = self.path.parent() {
            remove_stale_temp_files(dir);
        }
        match fs::remove_file(&self.path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(source) => Err(Error::Io {
                path: self.path.clone(),
                action: "deleting the token file",
                source,
            }),
        }
    }

    /// The cross-process lock that makes refreshes single-flight: `{token file}.lock`.
    pub fn lock(&self) -> Result<RefreshLock> {
        let path = lock_path(&self.path);
        ensure_parent(&path)?;
        let mut options = OpenOptions::new();
        options.create(true).truncate(false).write(true);
        // O_NONBLOCK: a FIFO in the lock's place fails at once (ENXIO)
        // instead of blocking the refresh until something reads it.
        #[cfg(unix)]
        options
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
        let file = options.open(&path).map_err(|source| Error::Io {
            path: path.clone(),
            action: "opening the lock file",
            source,
        })?;
        let start = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(RefreshLock { _file: file }),
                Err(fs::TryLockError::WouldBlock) if start.elapsed() < LOCK_WAIT => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Err(fs::TryLockError::WouldBlock) => {
                    return Err(Error::LockTimeout {
                        path,
                        secs: LOCK_WAIT.as_secs(),
                    })
                }
                Err(fs::TryLockError::Error(source)) => {
                    return Err(Error::Io {
                        path,
                        action: "locking",
                        source,
                    })
                }
            }
        }
    }

    fn move_aside(&self) -> Result<PathBuf> {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let to = self.path.with_file_name(format!("{name}.corrupt-{stamp}"));
        fs::rename(&self.path, &to).map_err(|source| Error::Io {
            path: self.path.clone(),
            action: "moving the corrupt token file aside",
            source,
        })?;
        Ok(to)
    }
}

/// Held while a refresh runs; dropping it unlocks.
pub struct RefreshLock {
    _file: File,
}

fn lock_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".lock");
    PathBuf::from(s)
}

/// The Python tool's field types, checked here so a file of the wrong shape
/// is reported as such rather than half-used.
pub fn parse(bytes: &[u8]) -> std::result::Result<StoredToken, String> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    if !value.is_object() {
        return Err("not a JSON object".into());
    }
    let token: StoredToken =
        serde_json::from_value(value).map_err(|e| format!("wrong fields: {e}"))?;
    if token.access_token.secret().is_empty() {
        return Err("empty access_token".into());
    }
    Ok(token)
}

/// Reads `path` if it is a regular file: `None` when absent; an error naming
/// the file for a symlink, a FIFO or device, a huge file or no permission.
fn read_regular_file(path: &Path) -> Result<Option<Vec<u8>>> {
    let refuse = |message: String| Error::TokenFile {
        path: path.into(),
        message,
    };
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(refuse(format!("cannot be read: {e}"))),
    };
    check_regular(path, &meta)?;
    // O_NOFOLLOW | O_NONBLOCK: a file swapped for a symlink or FIFO after the
    // check above is still refused, and never blocks.
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    let file = options.open(path).map_err(|e| {
        refuse(format!(
            "cannot be read: {e}. Check its owner and permissions (chmod 600)"
        ))
    })?;
    let meta = file
        .metadata()
        .map_err(|e| refuse(format!("cannot be read: {e}")))?;
    check_regular(path, &meta)?;
    let mut bytes = Vec::new();
    file.take(MAX_TOKEN_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| refuse(format!("cannot be read: {e}")))?;
    if bytes.len() as u64 > MAX_TOKEN_FILE {
        return Err(refuse(format!(
            "is larger than {MAX_TOKEN_FILE} bytes, so it is not a token file; move it away"
        )));
    }
    Ok(Some(bytes))
}

fn check_regular(path: &Path, meta: &fs::Metadata) -> Result<()> {
    let ft = meta.file_type();
    let what = if ft.is_symlink() {
        "is a symbolic link; planopticon does not follow links for token files. Replace it with the file itself"
    } else if is_special(&ft) {
        "is not a regular file; move it away"
    } else if ft.is_dir() {
        "is a folder, not a token file; move it away"
    } else if meta.len() > MAX_TOKEN_FILE {
        "is larger than 1 MiB, so it is not a token file; move it away"
    } else {
        return Ok(());
    };
    Err(Error::TokenFile {
        path: path.into(),
        message: what.into(),
    })
}

/// A FIFO, socket or device: reading one blocks or never ends.
#[cfg(unix)]
fn is_special(ft: &fs::FileType) -> bool {
    ft.is_fifo() || ft.is_socket() || ft.is_block_device() || ft.is_char_device()
}

#[cfg(not(unix))]
fn is_special(ft: &fs::FileType) -> bool {
    !ft.is_file() && !ft.is_dir() && !ft.is_symlink()
}

fn refuse_symlink(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => check_regular(path, &m),
        _ => Ok(()),
    }
}

/// Creates the token folder 0700; tightens `~/.planopticon` if an older tool made it 0755.
fn ensure_parent(path: &Path) -> Result<()> {
    let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) else {
        return Ok(());
    };
    let io = |source| Error::Io {
        path: dir.into(),
        action: "creating the token folder",
        source,
    };
    if !dir.exists() {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        builder.mode(0o700);
        builder.create(dir).map_err(io)?;
    }
    #[cfg(unix)]
    if dir == crate::config::config_dir() {
        let meta = fs::metadata(dir).map_err(io)?;
        if meta.permissions().mode() & 0o077 != 0 {
            let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
        }
    }
    Ok(())
}

/// Writes `bytes` to `path` so that a reader or a crash sees either the old
/// or the new file, never a part: temp file (0600) in the same folder, fsync,
/// rename, fsync of the folder.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    ensure_parent(path)?;
    refuse_symlink(path)?;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let io = |action, source| Error::Io {
        path: path.into(),
        action,
        source,
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".planopticon-").suffix(".tmp");
    #[cfg(unix)]
    builder.permissions(fs::Permissions::from_mode(0o600));
    let mut tmp = builder
        .tempfile_in(dir)
        .map_err(|e| io("creating a temporary file", e))?;
    tmp.write_all(bytes)
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(|e| io("writing the token", e))?;
    tmp.persist(path)
        .map_err(|e| io("replacing the token file", e.error))?;
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    remove_stale_temp_files(dir);
    Ok(())
}

/// A save takes milliseconds: a temp file this old was left by a writer
/// that died mid-save.
const STALE_TEMP: Duration = Duration::from_secs(60);

/// Removes abandoned temp files: each holds a copy of a token (refresh
/// token included) that would otherwise outlive a logout.
fn remove_stale_temp_files(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let stale = entry.file_type().is_ok_and(|t| t.is_file())
            && name.starts_with(".planopticon-")
            && name.ends_with(".tmp")
            && entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > STALE_TEMP);
        if stale {
            let _ = fs::remove_file(entry.path());
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use oauth2::AccessToken;

    fn store() -> (tempfile::TempDir, FileStore) {
        let dir = tempfile::tempdir().unwrap();
        let s = FileStore::new(dir.path().join("tok").join("svc_token.json"));
        (dir, s)
    }

    #[test]
    fn save_creates_0700_folder_and_0600_file_and_round_trips() {
        let (_d, s) = store();
        let mut t = StoredToken::new(AccessToken::new("a".into()));
        t.expires_at = Some(5.0);
        t.extra
            .insert("future_field".into(), serde_json::json!([1]));
        s.save(&t).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(s.path()), 0o600);
        assert_eq!(mode(s.path().parent().unwrap()), 0o700);
        let Loaded::Token(back) = s.load().unwrap() else {
            panic!()
        };
        assert_eq!(back.access_token.secret(), "a");
        assert_eq!(back.extra["future_field"], serde_json::json!([1]));
    }

    #[test]
    fn reads_python_files_with_nulls_and_empty_secret() {
        let (_d, s) = store();
        fs::create_dir_all(s.path().parent().unwrap()).unwrap();
        fs::write(
            s.path(),
            r#"{"access_token": "x", "refresh_token": null, "expires_at": 1.5, "client_id": "c", "client_secret": ""}"#,
        )
        .unwrap();
        let Loaded::Token(t) = s.load().unwrap() else {
            panic!()
        };
        assert!(t.refresh_token.is_none());
        assert_eq!(t.expires_at, Some(1.5));
    }

    #[test]
    fn corrupt_file_is_moved_aside_not_deleted() {
        let (_d, s) = store();
        fs::create_dir_all(s.path().parent().unwrap()).unwrap();
        for junk in [
            &b"{\"access_token\": \"x\""[..],
            b"",
            b"[1]",
            b"{\"access_token\": 5}",
        ] {
            fs::write(s.path(), junk).unwrap();
            let Loaded::Corrupt { moved_to, .. } = s.load().unwrap() else {
                panic!("{junk:?}")
            };
            assert_eq!(fs::read(&moved_to).unwrap(), junk);
            assert!(!s.path().exists());
            fs::remove_file(moved_to).unwrap();
        }
    }

    #[test]
    fn symlink_is_refused_for_read_write_and_delete() {
        let (d, s) = store();
        fs::create_dir_all(s.path().parent().unwrap()).unwrap();
        let target = d.path().join("target");
        fs::write(&target, "keep").unwrap();
        std::os::unix::fs::symlink(&target, s.path()).unwrap();
        assert!(matches!(s.load(), Err(Error::TokenFile { .. })));
        let t = StoredToken::new(AccessToken::new("a".into()));
        assert!(s.save(&t).is_err());
        assert!(s.delete().is_err());
        assert_eq!(fs::read_to_string(&target).unwrap(), "keep");
    }
}
