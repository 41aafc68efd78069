//! Unix (Linux and macOS): modes, `O_NOFOLLOW`, rename.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use tempfile::NamedTempFile;

use super::{InUse, Protection};

pub(crate) const LINK_WORDS: &str = "a symbolic link";

pub(crate) fn create_private_dir(dir: &Path) -> io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

pub(crate) fn private_temp_file(dir: &Path) -> io::Result<NamedTempFile> {
    tempfile::Builder::new()
        .prefix(".planopticon-")
        .suffix(".tmp")
        .permissions(fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)
}

/// `O_NOFOLLOW`: a symlink fails (ELOOP); `O_NONBLOCK`: a FIFO fails at
/// once (ENXIO) for writing, or opens without waiting for a writer.
pub(crate) fn open_no_follow(path: &Path, options: &mut OpenOptions) -> io::Result<File> {
    options
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
}

/// rename(2) replaces even a file that others have open: nothing to wait for.
pub(crate) fn replace(tmp: NamedTempFile, path: &Path) -> Result<(), InUse> {
    tmp.persist(path).map(drop).map_err(|e| failed(e.error))
}

pub(crate) fn remove_file(path: &Path) -> Result<(), InUse> {
    fs::remove_file(path).map_err(failed)
}

pub(crate) fn rename(from: &Path, to: &Path) -> Result<(), InUse> {
    fs::rename(from, to).map_err(failed)
}

fn failed(source: io::Error) -> InUse {
    InUse {
        holder: None,
        in_use: false,
        source,
    }
}

pub(crate) fn is_special(ft: &fs::FileType) -> bool {
    ft.is_fifo() || ft.is_socket() || ft.is_block_device() || ft.is_char_device()
}

pub(crate) fn make_private(path: &Path, folder: bool) -> Protection {
    let want = if folder { 0o700 } else { 0o600 };
    // Followed, as chmod follows: a ~/.planopticon that is a link (a
    // dotfiles setup) is judged by the folder it leads to.
    let mode = match fs::metadata(path) {
        Ok(m) => m.permissions().mode() & 0o777,
        Err(e) => return Protection::Wider("its mode cannot be read".into(), e.to_string()),
    };
    if mode & 0o077 == 0 {
        return Protection::Private;
    }
    let why = format!("its mode is {mode:o}: others can use it");
    match fs::set_permissions(path, fs::Permissions::from_mode(want)) {
        Ok(()) => Protection::Tightened(why),
        Err(e) => Protection::Wider(why, format!("chmod {want:o} failed: {e}")),
    }
}

pub(crate) fn own_folder_hint(dir: &Path) -> String {
    format!("chmod 700 {}", dir.display())
}

pub(crate) fn own_file_hint(file: &Path) -> String {
    format!("chmod 600 {}", file.display())
}

pub(crate) fn take_ownership_hint(dir: &Path) -> String {
    format!("chown -R $USER {}", dir.display())
}

/// macOS has no /proc; its answer would be lsof's, not worth a process
/// for a message: the message says the port is in use, without a name.
#[cfg(not(target_os = "linux"))]
pub(crate) fn port_holder(_port: u16) -> Option<String> {
    None
}

#[cfg(target_os = "linux")]
pub(crate) use linux::port_holder;

#[cfg(target_os = "linux")]
mod linux {
    use std::io::Read;
    use std::time::{Duration, Instant};

    /// Which program listens on `port`, as `name (pid N)`: best effort, for
    /// the error message only. Linux: the listening socket's inode from
    /// /proc/net/tcp{,6}, then the process with that socket among its file
    /// descriptors.
    pub(crate) fn port_holder(port: u16) -> Option<String> {
        /// The search gives up after this long, or this many descriptors: a
        /// name in a message is not worth a slow failure.
        const SEARCH_TIME: Duration = Duration::from_millis(500);
        const SEARCH_FDS: usize = 200_000;

        let sockets: Vec<String> = listening_inodes(port)
            .into_iter()
            .map(|inode| format!("socket:[{inode}]"))
            .collect();
        if sockets.is_empty() {
            return None;
        }
        let started = Instant::now();
        let mut seen = 0usize;
        for entry in std::fs::read_dir("/proc").ok()?.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            if started.elapsed() > SEARCH_TIME {
                return None;
            }
            // Another user's descriptors are not readable: skipped.
            let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
                continue;
            };
            for fd in fds.flatten() {
                seen += 1;
                if seen > SEARCH_FDS {
                    return None;
                }
                let Ok(link) = std::fs::read_link(fd.path()) else {
                    continue;
                };
                if sockets.iter().any(|s| link.as_os_str() == s.as_str()) {
                    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
                    // A process names itself: only printable characters go into
                    // a message a person reads.
                    let name: String = comm
                        .trim_end_matches('\n')
                        .chars()
                        .filter(|c| !c.is_control())
                        .take(64)
                        .collect();
                    return Some(format!("{name} (pid {pid})"));
                }
            }
        }
        None
    }

    /// The inodes of sockets in state LISTEN (0A) on local `port`, any address.
    fn listening_inodes(port: u16) -> Vec<u64> {
        /// A table this large is read no further (a busy server's, not a desktop's).
        const TABLE_LIMIT: u64 = 16 << 20;
        let mut inodes = Vec::new();
        for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
            let mut text = String::new();
            let read = std::fs::File::open(table)
                .and_then(|f| f.take(TABLE_LIMIT).read_to_string(&mut text));
            if read.is_err() {
                continue;
            }
            // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
            for line in text.lines().skip(1) {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let (Some(local), Some(state), Some(inode)) =
                    (fields.get(1), fields.get(3), fields.get(9))
                else {
                    continue;
                };
                let on_port = local
                    .rsplit_once(':')
                    .and_then(|(_, p)| u16::from_str_radix(p, 16).ok())
                    == Some(port);
                match inode.parse::<u64>() {
                    Ok(inode) if on_port && *state == "0A" && inode != 0 => inodes.push(inode),
                    _ => {}
                }
            }
        }
        inodes
    }
}

/// Sleeps until a connection comes on any of `listeners`, or `timeout`.
pub(crate) fn wait_for_connection(
    listeners: &[std::net::TcpListener],
    timeout: std::time::Duration,
) {
    use std::os::fd::AsRawFd;
    let mut fds: Vec<libc::pollfd> = listeners
        .iter()
        .map(|l| libc::pollfd {
            fd: l.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let ms = timeout.as_millis() as libc::c_int;
    // SAFETY: `fds` holds `fds.len()` valid pollfds for the duration of the call.
    unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
}

pub(crate) fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_or_file_open_to_others_is_made_owner_only() {
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("po");
        create_private_dir(&dir).unwrap();
        let file = dir.join("svc_token.json");
        fs::write(&file, "{}").unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        for (path, folder, wide, want) in [(&dir, true, 0o755, 0o700), (&file, false, 0o644, 0o600)]
        {
            fs::set_permissions(path, fs::Permissions::from_mode(wide)).unwrap();
            let found = make_private(path, folder);
            assert_eq!(
                found,
                Protection::Tightened(format!("its mode is {wide:o}: others can use it"))
            );
            assert_eq!(mode(path), want);
            assert_eq!(make_private(path, folder), Protection::Private);
        }
    }
}
