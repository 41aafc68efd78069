//! The token file: written temp -> fsync -> rename, owner-only (0600 in a
//! 0700 folder; on Windows a protected DACL for the user, SYSTEM and
//! Administrators); a link, FIFO or oversized file refused; a corrupt file
//! moved aside, never deleted. What differs per OS is in `crate::platform`.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::StoredToken;
use crate::platform::{self, InUse, Protection};
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

    /// Reads the token; a file that is not one is moved aside (never
    /// deleted); one others can read (written by another tool) is made
    /// owner-only.
    pub fn load(&self) -> Result<Loaded> {
        match self.peek()? {
            None => Ok(Loaded::Missing),
            Some(Ok(t)) => {
                tighten(&self.path, false);
                Ok(Loaded::Token(Box::new(t)))
            }
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
        match platform::remove_file(&self.path) {
            Ok(()) => Ok(true),
            Err(e) if e.source.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(failed(&self.path, "deleting the token file", e)),
        }
    }

    /// The cross-process lock that makes refreshes single-flight: `{token file}.lock`.
    pub fn lock(&self) -> Result<RefreshLock> {
        let path = lock_path(&self.path);
        ensure_parent(&path)?;
        // Not following links; a FIFO in the lock's place fails at once
        // instead of blocking the refresh until something reads it.
        let file = platform::open_no_follow(
            &path,
            OpenOptions::new().create(true).truncate(false).write(true),
        )
        .map_err(|source| Error::Io {
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
        platform::rename(&self.path, &to)
            .map_err(|e| failed(&self.path, "moving the corrupt token file aside", e))?;
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
pub(crate) fn read_regular_file(path: &Path) -> Result<Option<Vec<u8>>> {
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
    // A file swapped for a link or FIFO after the check above is still
    // refused, and never blocks.
    let file = platform::open_no_follow(path, OpenOptions::new().read(true)).map_err(|e| {
        refuse(format!(
            "cannot be read: {e}. Check that it is yours and readable ({})",
            platform::own_file_hint(path)
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
    let link;
    let what = if ft.is_symlink() {
        link = format!(
            "is {}; planopticon does not follow links for token files. Replace it with the file itself",
            platform::LINK_WORDS
        );
        &link
    } else if platform::is_special(&ft) {
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

fn refuse_symlink(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => check_regular(path, &m),
        _ => Ok(()),
    }
}

/// [`ensure_folder`] of the token file's folder.
fn ensure_parent(path: &Path) -> Result<()> {
    match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => ensure_folder(dir),
        None => Ok(()),
    }
}

/// Creates the token folder `dir` owner-only (0700, or the protected DACL)
/// if missing; makes `~/.planopticon` owner-only if an older tool made it
/// open to others (0755, or on Windows the access inherited from the
/// user's folder).
pub fn ensure_folder(dir: &Path) -> Result<()> {
    if !dir.exists() {
        platform::create_private_dir(dir).map_err(|source| Error::Io {
            path: dir.into(),
            action: "creating the token folder",
            source,
        })?;
    }
    if dir == crate::config::config_dir() {
        tighten(dir, true);
    }
    Ok(())
}

/// Makes `path` owner-only when it is not; a warning when that cannot be
/// done (another user's folder): each token file is owner-only by itself.
fn tighten(path: &Path, folder: bool) {
    match platform::make_private(path, folder) {
        Protection::Private => {}
        Protection::Tightened(why) => {
            log::info!("{}: {why}; made it yours only", path.display())
        }
        Protection::Wider(why, cause) => {
            log::warn!("{}: {why}, and {cause}", path.display())
        }
    }
}

/// An error of a replace, removal or rename: a file held open by another
/// program is named as such, with what holds it when the OS can tell.
fn failed(path: &Path, action: &'static str, e: InUse) -> Error {
    if e.in_use {
        return Error::FileInUse {
            path: path.into(),
            action,
            holder: e.holder,
        };
    }
    Error::Io {
        path: path.into(),
        action,
        source: e.source,
    }
}

/// Writes `bytes` to `path` so that a reader or a crash sees either the old
/// or the new file, never a part: temp file (owner-only) in the same folder,
/// fsync, rename, fsync of the folder.
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
    let mut tmp =
        platform::private_temp_file(dir).map_err(|e| io("creating a temporary file", e))?;
    tmp.write_all(bytes)
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(|e| io("writing the token", e))?;
    platform::replace(tmp, path).map_err(|e| failed(path, "replacing the file", e))?;
    platform::sync_dir(dir);
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

#[cfg(test)]
mod tests {
    use super::*;
    use oauth2::AccessToken;

    fn store() -> (tempfile::TempDir, FileStore) {
        let dir = tempfile::tempdir().unwrap();
        let s = FileStore::new(dir.path().join("tok").join("svc_token.json"));
        (dir, s)
    }

    /// 0600/0700 on Unix; on Windows the protected DACL read back (Wine
    /// does not keep DACLs, so there only the round trip is checked).
    #[cfg(unix)]
    fn assert_owner_only(p: &Path, folder: bool) {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, if folder { 0o700 } else { 0o600 }, "{}", p.display());
    }

    #[cfg(windows)]
    fn assert_owner_only(p: &Path, folder: bool) {
        if !platform::under_wine() {
            assert_eq!(platform::make_private(p, folder), Protection::Private);
        }
    }

    #[test]
    fn save_creates_an_owner_only_folder_and_file_and_round_trips() {
        let (_d, s) = store();
        let mut t = StoredToken::new(AccessToken::new("a".into()));
        t.expires_at = Some(5.0);
        t.extra
            .insert("future_field".into(), serde_json::json!([1]));
        s.save(&t).unwrap();
        assert_owner_only(s.path(), false);
        assert_owner_only(s.path().parent().unwrap(), true);
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

    #[cfg(unix)]
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
