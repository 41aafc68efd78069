//! The Windows protection of token files, as SDDL strings: the one built
//! for a new folder or file, and the verdict on one found in place. Pure
//! string work, so it is compiled and tested on every OS (Wine does not
//! model ACLs, and this machine has no real Windows).

/// Who may use a token file besides its owner: SYSTEM and the
/// Administrators group, the set OpenSSH for Windows accepts on a private
/// key (a backup or an administrator can reach it anyway).
const ALSO_ALLOWED: [&str; 2] = ["SY", "BA"];

/// What a folder or a file gets: a protected DACL (`P`: nothing inherited
/// from above) granting full access to the user, SYSTEM and Administrators
/// only. A folder's entries are inherited by what is created in it
/// (`OICI`), so a file another program writes there (the Python tool, an
/// editor) is private too.
pub fn private_sddl(user_sid: &str, folder: bool) -> String {
    let inherit = if folder { "OICI" } else { "" };
    std::iter::once(user_sid)
        .chain(ALSO_ALLOWED)
        .fold("D:P".to_string(), |sddl, sid| {
            sddl + &format!("(A;{inherit};FA;;;{sid})")
        })
}

/// Whether a DACL (as SDDL, `D:...`) is as narrow as [`private_sddl`]:
/// protected, and allowing no one but the user, SYSTEM and Administrators.
/// `Err` says in words what is wider. Deny entries only narrow, so any is
/// accepted.
pub fn check_private(sddl: &str, user_sid: &str) -> Result<(), String> {
    let dacl = sddl
        .find("D:")
        .map(|at| &sddl[at + 2..])
        .ok_or("it has no access list (everyone may use it)")?;
    // The SACL, when asked for, follows the DACL ("S:"; owner and group come first).
    let dacl = dacl.split("S:").next().unwrap_or(dacl);
    let (flags, aces) = dacl.split_once('(').unwrap_or((dacl, ""));
    if flags.contains("NO_ACCESS_CONTROL") {
        return Err("it has no access list (everyone may use it)".into());
    }
    if !flags.contains('P') {
        return Err("it inherits access from its parent folder".into());
    }
    for ace in aces.split('(').map(|a| a.trim_end_matches(')')) {
        let fields: Vec<&str> = ace.split(';').collect();
        let (Some(kind), Some(sid)) = (fields.first(), fields.get(5)) else {
            return Err(format!(
                "it has an access entry that cannot be read ({ace})"
            ));
        };
        let allowed = *sid == user_sid || ALSO_ALLOWED.contains(sid);
        if kind.starts_with('A') && !allowed {
            return Err(format!("it grants access to {}", sid_words(sid)));
        }
    }
    Ok(())
}

/// A SID as a person knows it.
fn sid_words(sid: &str) -> String {
    match sid {
        "WD" => "Everyone".into(),
        "AU" => "Authenticated Users".into(),
        "BU" => "Users".into(),
        "BG" => "Guests".into(),
        "CO" => "its creator".into(),
        "OW" => "its owner's rights".into(),
        other => format!("another account ({other})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: &str = "S-1-5-21-1004336348-1177238915-682003330-1001";

    #[test]
    fn a_file_and_a_folder_get_a_protected_dacl_for_the_user_system_and_administrators() {
        assert_eq!(
            private_sddl(ME, false),
            format!("D:P(A;;FA;;;{ME})(A;;FA;;;SY)(A;;FA;;;BA)")
        );
        assert_eq!(
            private_sddl(ME, true),
            format!("D:P(A;OICI;FA;;;{ME})(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)")
        );
        for folder in [false, true] {
            assert_eq!(check_private(&private_sddl(ME, folder), ME), Ok(()));
        }
    }

    #[test]
    fn what_windows_writes_back_for_ours_is_accepted() {
        // Windows adds the auto-inherited flag and owner/group parts.
        let back = format!("O:{ME}G:{ME}D:PAI(A;OICI;FA;;;{ME})(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)");
        assert_eq!(check_private(&back, ME), Ok(()));
        let with_deny = format!("D:P(D;;FA;;;WD)(A;;FA;;;{ME})");
        assert_eq!(check_private(&with_deny, ME), Ok(()));
    }

    #[test]
    fn wider_access_is_named() {
        let home = format!("D:AI(A;OICIID;FA;;;SY)(A;OICIID;FA;;;BA)(A;OICIID;FA;;;{ME})");
        assert_eq!(
            check_private(&home, ME).unwrap_err(),
            "it inherits access from its parent folder"
        );
        let users = format!("D:P(A;;FA;;;{ME})(A;;0x1200a9;;;BU)");
        assert_eq!(
            check_private(&users, ME).unwrap_err(),
            "it grants access to Users"
        );
        let other = "D:P(A;;FA;;;S-1-5-21-1-2-3-1002)";
        assert_eq!(
            check_private(other, ME).unwrap_err(),
            "it grants access to another account (S-1-5-21-1-2-3-1002)"
        );
        assert!(check_private("D:NO_ACCESS_CONTROL", ME).is_err());
        assert!(check_private(&format!("O:{ME}"), ME).is_err());
        assert!(check_private("D:P(A;;FA)", ME).is_err());
    }
}
