//! Windows: a protected DACL built from SDDL ([`super::sddl`]) given at
//! creation, reparse points (symlinks, junctions) opened as themselves and
//! refused, and a replace retried while another program holds the file,
//! then the holder named (Restart Manager).

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::windows::ffi::OsStrExt;
use std::os::windows::fs::OpenOptionsExt;
use std::os::windows::io::FromRawHandle;
use std::path::Path;
use std::ptr::{null, null_mut};
use std::time::{Duration, Instant};

use tempfile::NamedTempFile;
use windows_sys::Win32::Foundation::{
    CloseHandle, LocalFree, ERROR_ACCESS_DENIED, ERROR_LOCK_VIOLATION, ERROR_SHARING_VIOLATION,
    GENERIC_READ, GENERIC_WRITE, HANDLE, INVALID_HANDLE_VALUE,
};
use windows_sys::Win32::Security::Authorization::{
    ConvertSecurityDescriptorToStringSecurityDescriptorW, ConvertSidToStringSidW,
    ConvertStringSecurityDescriptorToSecurityDescriptorW, GetNamedSecurityInfoW,
    SetNamedSecurityInfoW, SDDL_REVISION_1, SE_FILE_OBJECT,
};
use windows_sys::Win32::Security::{
    GetSecurityDescriptorDacl, GetTokenInformation, TokenUser, ACL, DACL_SECURITY_INFORMATION,
    PROTECTED_DACL_SECURITY_INFORMATION, PSECURITY_DESCRIPTOR, SECURITY_ATTRIBUTES, TOKEN_QUERY,
    TOKEN_USER,
};
use windows_sys::Win32::Storage::FileSystem::{
    CreateDirectoryW, CreateFileW, CREATE_NEW, DELETE, FILE_ATTRIBUTE_NORMAL,
    FILE_FLAG_OPEN_REPARSE_POINT, FILE_SHARE_DELETE, FILE_SHARE_READ, FILE_SHARE_WRITE,
    OPEN_EXISTING,
};
use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};

use super::{sddl, InUse, Protection};

mod holders;
pub(crate) use holders::port_holder;

pub(crate) const LINK_WORDS: &str = "a symbolic link or junction (a reparse point)";

/// How long a replace or removal is retried while another program holds
/// the file: an antivirus scan or an indexer lets go within this; a
/// program that keeps it open is named instead.
pub(crate) const REPLACE_WAIT: Duration = Duration::from_secs(2);

fn wide(s: &OsStr) -> Vec<u16> {
    s.encode_wide().chain(std::iter::once(0)).collect()
}

/// A NUL-terminated UTF-16 string, read into a `String`.
///
/// # Safety
/// `p` points to a NUL-terminated UTF-16 string.
unsafe fn from_wide(p: *const u16) -> String {
    let mut n = 0;
    while *p.add(n) != 0 {
        n += 1;
    }
    String::from_utf16_lossy(std::slice::from_raw_parts(p, n))
}

/// A security descriptor made by Windows from SDDL, freed on drop.
pub(crate) struct SecurityDescriptor(PSECURITY_DESCRIPTOR);

impl SecurityDescriptor {
    pub(crate) fn from_sddl(text: &str) -> io::Result<Self> {
        let w = wide(OsStr::new(text));
        let mut sd: PSECURITY_DESCRIPTOR = null_mut();
        // SAFETY: `w` is NUL-terminated; `sd` receives a LocalAlloc'd descriptor.
        let ok = unsafe {
            ConvertStringSecurityDescriptorToSecurityDescriptorW(
                w.as_ptr(),
                SDDL_REVISION_1,
                &mut sd,
                null_mut(),
            )
        };
        if ok == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Self(sd))
    }

    /// The protected DACL for the current user, SYSTEM and Administrators.
    pub(crate) fn private(folder: bool) -> io::Result<Self> {
        Self::from_sddl(&sddl::private_sddl(&user_sid()?, folder))
    }

    /// Its DACL as SDDL, as Windows reads it back (for the tests).
    #[cfg(test)]
    pub(crate) fn dacl_sddl(&self) -> io::Result<String> {
        sd_to_sddl(self.0)
    }

    fn dacl(&self) -> io::Result<*mut ACL> {
        let (mut present, mut defaulted, mut acl) = (0, 0, null_mut());
        // SAFETY: self.0 is a valid descriptor for our lifetime.
        let ok =
            unsafe { GetSecurityDescriptorDacl(self.0, &mut present, &mut acl, &mut defaulted) };
        if ok == 0 || present == 0 {
            return Err(io::Error::other("the security descriptor has no DACL"));
        }
        Ok(acl)
    }

    fn attributes(&self) -> SECURITY_ATTRIBUTES {
        SECURITY_ATTRIBUTES {
            nLength: std::mem::size_of::<SECURITY_ATTRIBUTES>() as u32,
            lpSecurityDescriptor: self.0,
            bInheritHandle: 0,
        }
    }
}

impl Drop for SecurityDescriptor {
    fn drop(&mut self) {
        // SAFETY: allocated by ConvertStringSecurityDescriptorToSecurityDescriptorW.
        unsafe { LocalFree(self.0) };
    }
}

/// The DACL of a descriptor as SDDL.
fn sd_to_sddl(sd: PSECURITY_DESCRIPTOR) -> io::Result<String> {
    let mut text = null_mut();
    // SAFETY: `sd` is a valid descriptor; `text` receives a LocalAlloc'd string.
    let ok = unsafe {
        ConvertSecurityDescriptorToStringSecurityDescriptorW(
            sd,
            SDDL_REVISION_1,
            DACL_SECURITY_INFORMATION,
            &mut text,
            null_mut(),
        )
    };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a NUL-terminated string that we free once read.
    unsafe {
        let out = from_wide(text);
        LocalFree(text.cast());
        Ok(out)
    }
}

/// The SID of the account this process runs as, as a string (`S-1-5-21-...`).
pub(crate) fn user_sid() -> io::Result<String> {
    static SID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    if let Some(sid) = SID.get() {
        return Ok(sid.clone());
    }
    // SAFETY: each pointer is to a live local; the token handle is closed;
    // the buffer is u64-aligned for TOKEN_USER and `len` bytes long.
    let sid = unsafe {
        let mut token: HANDLE = null_mut();
        if OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) == 0 {
            return Err(io::Error::last_os_error());
        }
        let mut len = 0u32;
        GetTokenInformation(token, TokenUser, null_mut(), 0, &mut len);
        let mut buf = vec![0u64; (len as usize).div_ceil(8)];
        let ok = GetTokenInformation(token, TokenUser, buf.as_mut_ptr().cast(), len, &mut len);
        let err = io::Error::last_os_error();
        CloseHandle(token);
        if ok == 0 {
            return Err(err);
        }
        let user = &*(buf.as_ptr() as *const TOKEN_USER);
        let mut text = null_mut();
        if ConvertSidToStringSidW(user.User.Sid, &mut text) == 0 {
            return Err(io::Error::last_os_error());
        }
        let sid = from_wide(text);
        LocalFree(text.cast());
        sid
    };
    Ok(SID.get_or_init(|| sid).clone())
}

/// Missing folders are made one by one with the protected DACL given to
/// CreateDirectoryW, so none is ever open to others, even for a moment.
pub(crate) fn create_private_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_private_dir(parent)?;
    }
    let sd = SecurityDescriptor::private(true)?;
    let sa = sd.attributes();
    let w = wide(dir.as_os_str());
    // SAFETY: `w` is NUL-terminated; `sa` and its descriptor outlive the call.
    if unsafe { CreateDirectoryW(w.as_ptr(), &sa) } == 0 {
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::AlreadyExists || !dir.is_dir() {
            return Err(e);
        }
    }
    Ok(())
}

/// The temp file is created by CreateFileW with the protected DACL, so the
/// token is never in a file others can open; sharing delete lets it be
/// renamed while open.
pub(crate) fn private_temp_file(dir: &Path) -> io::Result<NamedTempFile> {
    let sd = SecurityDescriptor::private(false)?;
    tempfile::Builder::new()
        .prefix(".planopticon-")
        .suffix(".tmp")
        .make_in(dir, |path| create_new(path, &sd))
}

fn create_new(path: &Path, sd: &SecurityDescriptor) -> io::Result<File> {
    let sa = sd.attributes();
    let w = wide(path.as_os_str());
    // SAFETY: `w` is NUL-terminated; `sa` outlives the call; the handle,
    // when valid, is owned by the File from here on.
    unsafe {
        let handle = CreateFileW(
            w.as_ptr(),
            GENERIC_READ | GENERIC_WRITE | DELETE,
            FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
            &sa,
            CREATE_NEW,
            FILE_ATTRIBUTE_NORMAL,
            null_mut(),
        );
        if handle == INVALID_HANDLE_VALUE {
            return Err(io::Error::last_os_error());
        }
        Ok(File::from_raw_handle(handle))
    }
}

/// FILE_FLAG_OPEN_REPARSE_POINT opens a symlink or junction itself instead
/// of what it points to; it is then refused by its type. A file it
/// creates (the lock) inherits the token folder's private DACL.
pub(crate) fn open_no_follow(path: &Path, options: &mut OpenOptions) -> io::Result<File> {
    let file = options
        .custom_flags(FILE_FLAG_OPEN_REPARSE_POINT)
        .open(path)?;
    if file.metadata()?.file_type().is_symlink() {
        return Err(io::Error::other(format!(
            "it is {LINK_WORDS}; planopticon does not follow links for its files"
        )));
    }
    Ok(file)
}

/// What another program holding the file open makes a rename or delete
/// fail with, for as long as it holds it.
fn is_held(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error().map(|c| c as u32),
        Some(ERROR_SHARING_VIOLATION | ERROR_LOCK_VIOLATION | ERROR_ACCESS_DENIED)
    )
}

/// Runs `op` until it succeeds, fails otherwise than by the file being
/// held, or [`REPLACE_WAIT`] has passed (pauses doubling from 10 ms).
fn with_retry<T>(mut op: impl FnMut() -> Result<T, io::Error>) -> Result<T, io::Error> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(10);
    loop {
        match op() {
            Err(e) if is_held(&e) && start.elapsed() < REPLACE_WAIT => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(250));
            }
            other => return other,
        }
    }
}

/// The failure, with the program that holds `path` when it was held.
/// Access denied is ambiguous (a rename over a file open without sharing
/// delete, or a permission missing): opening `path` for deletion tells
/// them apart.
fn in_use(path: &Path, source: io::Error) -> InUse {
    let holder = is_held(&source)
        .then(|| holders::file_holders(path))
        .flatten();
    let in_use = holder.is_some()
        || match source.raw_os_error().map(|c| c as u32) {
            Some(ERROR_SHARING_VIOLATION | ERROR_LOCK_VIOLATION) => true,
            Some(ERROR_ACCESS_DENIED) => held_open(path),
            _ => false,
        };
    InUse {
        holder,
        in_use,
        source,
    }
}

/// Whether another program has `path` open without sharing delete: an
/// open for deletion, sharing everything, then fails with a sharing
/// violation (a missing permission fails otherwise).
fn held_open(path: &Path) -> bool {
    let w = wide(path.as_os_str());
    // SAFETY: `w` is NUL-terminated; a valid handle is closed at once.
    unsafe {
        let handle = CreateFileW(
            w.as_ptr(),
            DELETE,
            FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
            null(),
            OPEN_EXISTING,
            FILE_FLAG_OPEN_REPARSE_POINT,
            null_mut(),
        );
        if handle != INVALID_HANDLE_VALUE {
            CloseHandle(handle);
            return false;
        }
    }
    io::Error::last_os_error().raw_os_error() == Some(ERROR_SHARING_VIOLATION as i32)
}

pub(crate) fn replace(tmp: NamedTempFile, path: &Path) -> Result<(), InUse> {
    let mut tmp = Some(tmp);
    let outcome = with_retry(|| {
        let file = tmp
            .take()
            .expect("the temp file is put back on each failure");
        file.persist(path).map(drop).map_err(|e| {
            tmp = Some(e.file);
            e.error
        })
    });
    // On failure the temp file is dropped here, which deletes it.
    drop(tmp);
    outcome.map_err(|e| in_use(path, e))
}

pub(crate) fn remove_file(path: &Path) -> Result<(), InUse> {
    with_retry(|| fs::remove_file(path)).map_err(|e| in_use(path, e))
}

pub(crate) fn rename(from: &Path, to: &Path) -> Result<(), InUse> {
    with_retry(|| fs::rename(from, to)).map_err(|e| in_use(from, e))
}

pub(crate) fn is_special(ft: &fs::FileType) -> bool {
    !ft.is_file() && !ft.is_dir() && !ft.is_symlink()
}

/// The DACL of `path` as SDDL.
fn dacl_of(path: &Path) -> io::Result<String> {
    let w = wide(path.as_os_str());
    let (mut acl, mut sd) = (null_mut(), null_mut());
    // SAFETY: `w` is NUL-terminated; `sd` receives a LocalAlloc'd descriptor
    // that `acl` points into; both are freed here.
    unsafe {
        let status = GetNamedSecurityInfoW(
            w.as_ptr(),
            SE_FILE_OBJECT,
            DACL_SECURITY_INFORMATION,
            null_mut(),
            null_mut(),
            &mut acl,
            null_mut(),
            &mut sd,
        );
        if status != 0 {
            return Err(io::Error::from_raw_os_error(status as i32));
        }
        let text = sd_to_sddl(sd);
        LocalFree(sd);
        text
    }
}

fn set_private(path: &Path, folder: bool) -> io::Result<()> {
    let sd = SecurityDescriptor::private(folder)?;
    let acl = sd.dacl()?;
    let w = wide(path.as_os_str());
    // SAFETY: `w` is NUL-terminated; `acl` lives inside `sd`.
    let status = unsafe {
        SetNamedSecurityInfoW(
            w.as_ptr(),
            SE_FILE_OBJECT,
            DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION,
            null_mut(),
            null_mut(),
            acl,
            null(),
        )
    };
    match status {
        0 => Ok(()),
        e => Err(io::Error::from_raw_os_error(e as i32)),
    }
}

pub(crate) fn make_private(path: &Path, folder: bool) -> Protection {
    let unreadable =
        |e: io::Error| Protection::Wider("its access list cannot be read".into(), e.to_string());
    let (sid, dacl) = match user_sid().and_then(|sid| Ok((sid, dacl_of(path)?))) {
        Ok(v) => v,
        Err(e) => return unreadable(e),
    };
    let Err(why) = sddl::check_private(&dacl, &sid) else {
        return Protection::Private;
    };
    match set_private(path, folder) {
        Ok(()) => Protection::Tightened(why),
        Err(e) => Protection::Wider(why, format!("its access list could not be changed: {e}")),
    }
}

pub(crate) fn own_folder_hint(dir: &Path) -> String {
    format!(
        "in the Properties of {}, Security tab, give your account Full control",
        dir.display()
    )
}

pub(crate) fn own_file_hint(file: &Path) -> String {
    own_folder_hint(file)
}

pub(crate) fn take_ownership_hint(dir: &Path) -> String {
    format!(
        "in the Properties of {}, Security tab, Advanced, make your account its owner, for what is in it too",
        dir.display()
    )
}

/// Wine exports `wine_get_version` from its ntdll; Windows does not.
#[cfg(test)]
pub(crate) fn under_wine() -> bool {
    use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleW, GetProcAddress};
    let ntdll = wide(OsStr::new("ntdll.dll"));
    // SAFETY: both names are NUL-terminated; ntdll is always loaded.
    unsafe {
        let module = GetModuleHandleW(ntdll.as_ptr());
        !module.is_null() && GetProcAddress(module, c"wine_get_version".as_ptr().cast()).is_some()
    }
}

/// Sleeps until a connection comes on any of `listeners`, or `timeout`:
/// WSAPoll, on listening sockets (where it is reliable).
pub(crate) fn wait_for_connection(listeners: &[std::net::TcpListener], timeout: Duration) {
    use std::os::windows::io::AsRawSocket;
    use windows_sys::Win32::Networking::WinSock::{WSAPoll, POLLRDNORM, WSAPOLLFD};
    let mut fds: Vec<WSAPOLLFD> = listeners
        .iter()
        .map(|l| WSAPOLLFD {
            fd: l.as_raw_socket() as usize,
            events: POLLRDNORM,
            revents: 0,
        })
        .collect();
    let ms = timeout.as_millis() as i32;
    // SAFETY: `fds` holds `fds.len()` valid entries for the duration of the call.
    unsafe { WSAPoll(fds.as_mut_ptr(), fds.len() as u32, ms) };
}

pub(crate) fn sync_dir(_dir: &Path) {}

#[cfg(test)]
mod tests;
