//! Which program holds a file or listens on a port, for a message only:
//! Restart Manager (the API installers use to name what keeps a file
//! busy) and the TCP table with owning process ids.

use std::path::Path;
use std::ptr::null;

use windows_sys::Win32::Foundation::{CloseHandle, INVALID_HANDLE_VALUE, NO_ERROR};
use windows_sys::Win32::NetworkManagement::IpHelper::{
    GetExtendedTcpTable, MIB_TCP6ROW_OWNER_PID, MIB_TCP6TABLE_OWNER_PID, MIB_TCPROW_OWNER_PID,
    MIB_TCPTABLE_OWNER_PID, TCP_TABLE_OWNER_PID_LISTENER,
};
use windows_sys::Win32::Networking::WinSock::{AF_INET, AF_INET6};
use windows_sys::Win32::System::Diagnostics::ToolHelp::{
    CreateToolhelp32Snapshot, Process32FirstW, Process32NextW, PROCESSENTRY32W, TH32CS_SNAPPROCESS,
};
use windows_sys::Win32::System::RestartManager::{
    RmEndSession, RmGetList, RmRegisterResources, RmStartSession, CCH_RM_SESSION_KEY,
    RM_PROCESS_INFO,
};

use super::wide;

/// A name a process gave itself, made fit for a message: controls
/// dropped, length cut.
fn printable(units: &[u16]) -> String {
    let end = units.iter().position(|&u| u == 0).unwrap_or(units.len());
    String::from_utf16_lossy(&units[..end])
        .chars()
        .filter(|c| !c.is_control())
        .take(64)
        .collect()
}

/// The programs that have `path` open, as `name (pid N)`, joined; `None`
/// when Restart Manager cannot tell.
pub(crate) fn file_holders(path: &Path) -> Option<String> {
    let mut session = 0u32;
    let mut key = [0u16; CCH_RM_SESSION_KEY as usize + 1];
    // SAFETY: `key` has room for the session key and its NUL.
    if unsafe { RmStartSession(&mut session, 0, key.as_mut_ptr()) } != NO_ERROR {
        return None;
    }
    let w = wide(path.as_os_str());
    let files = [w.as_ptr()];
    // SAFETY: a zeroed RM_PROCESS_INFO is a valid (empty) value.
    let mut info: Vec<RM_PROCESS_INFO> = vec![unsafe { std::mem::zeroed() }; 8];
    let (mut needed, mut count, mut reasons) = (0u32, info.len() as u32, 0u32);
    // SAFETY: `files` holds one NUL-terminated path; `info` has `count` slots.
    let listed = unsafe {
        RmRegisterResources(session, 1, files.as_ptr(), 0, null(), 0, null()) == NO_ERROR
            && RmGetList(
                session,
                &mut needed,
                &mut count,
                info.as_mut_ptr(),
                &mut reasons,
            ) == NO_ERROR
    };
    // SAFETY: the session was started above.
    unsafe { RmEndSession(session) };
    let names: Vec<String> = info
        .iter()
        .take(if listed { count as usize } else { 0 })
        .map(|p| {
            format!(
                "{} (pid {})",
                printable(&p.strAppName),
                p.Process.dwProcessId
            )
        })
        .collect();
    (!names.is_empty()).then(|| names.join(", "))
}

/// Which program listens on `port` (IPv4 or IPv6), as `name (pid N)`.
/// Pid 0 (the idle process, never a listener's owner) is what a table
/// without owners gives (Wine's): not an answer.
pub(crate) fn port_holder(port: u16) -> Option<String> {
    let pid = listening_pid(port, AF_INET)
        .or_else(|| listening_pid(port, AF_INET6))
        .filter(|&pid| pid != 0)?;
    let name = process_name(pid).unwrap_or_else(|| "a program".into());
    Some(format!("{name} (pid {pid})"))
}

/// The TCP listener table of one address family, as raw bytes (u64
/// aligned for the row structs).
fn listener_table(family: u16) -> Option<Vec<u64>> {
    let mut size = 0u32;
    for _ in 0..3 {
        let mut buf = vec![0u64; (size as usize).div_ceil(8).max(1)];
        let mut len = (buf.len() * 8) as u32;
        // SAFETY: `buf` has `len` writable bytes.
        let status = unsafe {
            GetExtendedTcpTable(
                buf.as_mut_ptr().cast(),
                &mut len,
                0,
                family.into(),
                TCP_TABLE_OWNER_PID_LISTENER,
                0,
            )
        };
        if status == NO_ERROR {
            return Some(buf);
        }
        // ERROR_INSUFFICIENT_BUFFER: `len` says how much; the table may grow
        // between two calls, hence a few tries.
        size = len + 1024;
    }
    None
}

fn listening_pid(port: u16, family: u16) -> Option<u32> {
    let buf = listener_table(family)?;
    // SAFETY: GetExtendedTcpTable filled `buf` with a table of this family:
    // a count, then that many rows.
    unsafe {
        let count = *(buf.as_ptr() as *const u32) as usize;
        let local_port = |p: u32| u16::from_be(p as u16);
        if family == AF_INET {
            let table = buf.as_ptr() as *const MIB_TCPTABLE_OWNER_PID;
            let rows = std::ptr::addr_of!((*table).table) as *const MIB_TCPROW_OWNER_PID;
            let rows = std::slice::from_raw_parts(rows, count);
            rows.iter()
                .find(|r| local_port(r.dwLocalPort) == port)
                .map(|r| r.dwOwningPid)
        } else {
            let table = buf.as_ptr() as *const MIB_TCP6TABLE_OWNER_PID;
            let rows = std::ptr::addr_of!((*table).table) as *const MIB_TCP6ROW_OWNER_PID;
            let rows = std::slice::from_raw_parts(rows, count);
            rows.iter()
                .find(|r| local_port(r.dwLocalPort) == port)
                .map(|r| r.dwOwningPid)
        }
    }
}

/// The executable name of a process, from a snapshot of all processes
/// (which needs no right on the process itself, unlike OpenProcess).
fn process_name(pid: u32) -> Option<String> {
    // SAFETY: the snapshot handle is closed before returning; `entry` has
    // its size set as Process32FirstW requires.
    unsafe {
        let snapshot = CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0);
        if snapshot == INVALID_HANDLE_VALUE {
            return None;
        }
        let mut entry: PROCESSENTRY32W = std::mem::zeroed();
        entry.dwSize = std::mem::size_of::<PROCESSENTRY32W>() as u32;
        let mut found = None;
        let mut more = Process32FirstW(snapshot, &mut entry) != 0;
        while more {
            if entry.th32ProcessID == pid {
                found = Some(printable(&entry.szExeFile));
                break;
            }
            more = Process32NextW(snapshot, &mut entry) != 0;
        }
        CloseHandle(snapshot);
        found
    }
}
