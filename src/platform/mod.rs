//! What differs per OS for the files planopticon keeps private (token
//! files, their lock, settings) and for naming the program on a port: one
//! small interface here, one implementation per OS behind `cfg`
//! (`unix.rs`, shared by Linux and macOS; `windows.rs`).
//!
//! Unix: modes 0700/0600, `O_NOFOLLOW | O_NONBLOCK` opens, rename.
//! Windows: a protected DACL for the user, SYSTEM and Administrators (see
//! [`sddl`]) set at creation, reparse points (symlinks, junctions) not
//! followed, and a replace retried while another program holds the file.

// Used by windows.rs; compiled for the tests on every OS.
#[cfg(any(windows, test))]
pub mod sddl;

#[cfg(unix)]
mod unix;
#[cfg(unix)]
use unix as os;
#[cfg(windows)]
mod windows;
#[cfg(windows)]
use windows as os;

use std::path::Path;

/// Creates `dir` and any missing parents; those created are owner-only
/// (0700, or the protected DACL).
pub(crate) use os::create_private_dir;

/// A new temporary file in `dir`, owner-only from its creation (0600, or
/// the protected DACL), for [`replace`] to move into place.
pub(crate) use os::private_temp_file;

/// Opens `path` without following a link (a symlink, or on Windows a
/// junction), and without blocking on a FIFO (Unix): the options' own
/// access and creation flags are kept; a file it creates is owner-only.
pub(crate) use os::open_no_follow;

/// Moves a temporary file over `path`. On Windows a program that has
/// `path` open without sharing delete (an editor, the Python tool, an
/// antivirus scan) makes the move fail for a while: it is retried for
/// about 2 s, then refused with [`InUse`]; the temporary file is
/// removed either way.
pub(crate) use os::replace;

/// `fs::remove_file` / `fs::rename`, retried as [`replace`] is.
pub(crate) use os::{remove_file, rename};

/// Which program listens on a TCP port, as `name (pid N)`, when the OS can
/// tell (for a message only).
pub(crate) use os::port_holder;

/// Sleeps until a connection comes on any of the listeners, or the
/// timeout (poll(2), or WSAPoll on Windows).
pub(crate) use os::wait_for_connection;

/// Makes a folder's entries durable (an fsync of the folder on Unix;
/// Windows cannot open a folder as a file, and its renames are durable).
pub(crate) use os::sync_dir;

/// A FIFO, socket or device (Unix): reading one blocks or never ends.
pub(crate) use os::is_special;

/// How a link in place of a token file is named ("a symbolic link", or on
/// Windows "a symbolic link or junction").
pub(crate) use os::LINK_WORDS;

/// What to do so that a folder is the user's own and writable, in the OS's
/// words.
pub(crate) use os::own_folder_hint;

/// The same for a file of the user's own, that the user can read and write.
pub(crate) use os::own_file_hint;

/// What to do so that a folder and what is in it become the user's, in
/// the OS's words.
pub(crate) use os::take_ownership_hint;

/// Whether this Windows is Wine (which keeps no DACLs and models no
/// reparse points): what the tests can check there.
#[cfg(all(test, windows))]
pub(crate) use os::under_wine;

/// Why a file or folder is found wider than owner-only, and whether it
/// was made owner-only again.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Protection {
    /// Owner-only already.
    Private,
    /// It was wider (the reason), and is owner-only now.
    Tightened(String),
    /// It is wider (the first reason) and could not be changed (the second).
    Wider(String, String),
}

/// Checks that `path` (a folder when `folder`) is owner-only, and makes it
/// so when it is not.
pub(crate) fn make_private(path: &Path, folder: bool) -> Protection {
    os::make_private(path, folder)
}

/// A program held a file open so that it could not be replaced or removed.
#[derive(Debug)]
pub(crate) struct InUse {
    /// The program, when the OS can tell (`name (pid N)`).
    pub holder: Option<String>,
    /// Another program has it open (Windows' sharing rules), rather than,
    /// say, a permission missing.
    pub in_use: bool,
    pub source: std::io::Error,
}
