//! Windows counterparts of the Unix file tests: the descriptor Windows
//! builds from our SDDL, creation with it, the replace that waits for a
//! reader, a link refused. Wine runs these (it does not enforce ACLs, so
//! what is checked is what Windows reads back, not who is kept out).

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::os::windows::fs::OpenOptionsExt;
use std::time::Duration;

use windows_sys::Win32::Storage::FileSystem::FILE_SHARE_READ;

use super::*;

fn temp_names(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

#[test]
fn windows_accepts_our_sddl_and_reads_it_back_as_private() {
    let sid = user_sid().unwrap();
    assert!(sid.starts_with("S-1-"), "{sid}");
    for folder in [false, true] {
        let sd = SecurityDescriptor::private(folder).unwrap();
        let back = sd.dacl_sddl().unwrap();
        assert_eq!(sddl::check_private(&back, &sid), Ok(()), "{back}");
        assert!(back.starts_with("D:P"), "{back}");
        assert!(
            back.contains(&sid) && back.contains("SY") && back.contains("BA"),
            "{back}"
        );
        sd.dacl().unwrap();
    }
    assert!(SecurityDescriptor::from_sddl("D:P(A;;FA;;;not-a-sid)").is_err());
}

#[test]
fn a_private_folder_and_file_are_created_and_replaced_whole() {
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("a").join("b");
    create_private_dir(&dir).unwrap();
    create_private_dir(&dir).unwrap();
    assert!(dir.is_dir());
    let path = dir.join("svc_token.json");
    for text in ["first", "second"] {
        let mut tmp = private_temp_file(&dir).unwrap();
        tmp.write_all(text.as_bytes()).unwrap();
        replace(tmp, &path).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), text);
    }
    assert_eq!(temp_names(&dir), Vec::<String>::new());
    // What Windows reads back is private; Wine keeps no DACL, so there the
    // file reads as inheriting and is tightened (which must not fail).
    for p in [&path, &dir] {
        let found = make_private(p, p == &dir);
        if under_wine() {
            assert!(!matches!(found, Protection::Wider(..)), "{found:?}");
        } else {
            assert_eq!(found, Protection::Private, "{}", p.display());
        }
    }
}

/// A reader that opened the file without sharing delete (as Python's
/// open() does) and lets go a little later: the save waits and succeeds.
#[test]
fn a_replace_waits_for_a_reader_that_lets_go() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("svc_token.json");
    fs::write(&path, "old").unwrap();
    let reader = OpenOptions::new()
        .read(true)
        .share_mode(FILE_SHARE_READ)
        .open(&path)
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let _ = rx.recv_timeout(Duration::from_millis(300));
        drop(reader);
    });
    let mut tmp = private_temp_file(dir.path()).unwrap();
    tmp.write_all(b"new").unwrap();
    let outcome = replace(tmp, &path);
    drop(tx);
    holder.join().unwrap();
    outcome.unwrap();
    assert_eq!(fs::read_to_string(&path).unwrap(), "new");
    assert_eq!(temp_names(dir.path()), Vec::<String>::new());
}

/// A reader that never lets go: refused as in use, the old file intact,
/// no temp file left.
#[test]
fn a_replace_held_off_for_good_says_so_and_leaves_no_temp_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("svc_token.json");
    fs::write(&path, "old").unwrap();
    let mut reader = OpenOptions::new()
        .read(true)
        .share_mode(FILE_SHARE_READ)
        .open(&path)
        .unwrap();
    let mut tmp = private_temp_file(dir.path()).unwrap();
    tmp.write_all(b"new").unwrap();
    let err = replace(tmp, &path).unwrap_err();
    assert!(err.in_use, "{:?}", err.source);
    assert_eq!(temp_names(dir.path()), Vec::<String>::new());
    let mut old = String::new();
    reader.read_to_string(&mut old).unwrap();
    assert_eq!(old, "old");
    let held = remove_file(&path).unwrap_err();
    assert!(held.in_use, "{:?}", held.source);
    drop(reader);
    remove_file(&path).unwrap();
}

#[test]
fn a_symbolic_link_is_opened_as_itself_and_refused() {
    if under_wine() {
        eprintln!("Wine 8 makes no symbolic links (CreateSymbolicLinkW): checked on Windows only");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target");
    fs::write(&target, "keep").unwrap();
    let link = dir.path().join("svc_token.json");
    std::os::windows::fs::symlink_file(&target, &link)
        .expect("creating a symbolic link (Windows: Developer Mode or an administrator)");
    let err = open_no_follow(&link, OpenOptions::new().read(true)).unwrap_err();
    assert!(err.to_string().contains("reparse point"), "{err}");
    assert_eq!(fs::read_to_string(&target).unwrap(), "keep");
}

#[test]
fn the_program_on_a_port_is_named() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let holder = port_holder(port);
    if under_wine() {
        // Wine's TCP table has the port but no owner (pid 0): cannot tell.
        assert_eq!(holder, None);
    } else {
        let holder = holder.expect("the TCP table names our own listener");
        let ours = format!("(pid {})", std::process::id());
        assert!(holder.ends_with(&ours), "{holder}");
    }
    drop(listener);
}
