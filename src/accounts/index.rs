//! Where a service's accounts live on disk, what their names may be, and the
//! small index that says which one is active and when each was last used.
//!
//! ```text
//! ~/.planopticon/{service}_token.json                  the active account's token (documented)
//! ~/.planopticon/accounts/{service}/{name}_token.json  each other saved account's token
//! ~/.planopticon/accounts/{service}/index.json         {"active", "switching", "accounts": {name: {last_used}}}
//! ```
//!
//! The index is a hint the files overrule: a saved account is a token file
//! in the folder, and the documented file is the active account whatever
//! the index says of it (the Python tool writes only that file).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::AuthConfig;
use crate::{Error, Result};

const MAX_NAME: usize = 64;
const SLOT_SUFFIX: &str = "_token.json";
/// The name of an account whose provider says nothing of who it is.
pub const DEFAULT_NAME: &str = "default";

/// Refuses a name that could leave the folder or confuse a reader: path
/// separators, `..`, a leading dot or dash, controls, spaces, over 64 bytes.
pub fn validate_name(name: &str) -> Result<()> {
    let refuse = |reason| {
        Err(Error::AccountName {
            name: name.into(),
            reason,
        })
    };
    if name.is_empty() {
        return refuse("it is empty");
    }
    if name.len() > MAX_NAME {
        return refuse("it is longer than 64 characters");
    }
    if name.contains(['/', '\\']) {
        return refuse("it contains a path separator");
    }
    if name.contains("..") {
        return refuse("it contains \"..\"");
    }
    if name.starts_with(['.', '-']) {
        return refuse("it starts with . or -");
    }
    if !name.chars().all(name_char) {
        return refuse("it contains a character other than letters, digits and . _ - @ +");
    }
    Ok(())
}

fn name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | '+')
}

/// An account name made of what the provider says of a token's owner (the
/// token file's `account`): login or email, else name, else id; characters
/// a name may not hold become `-`. `None` when it says nothing usable.
pub fn name_from_identity(account: &serde_json::Value) -> Option<String> {
    let raw = match account {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Object(o) => ["login", "name", "id"]
            .iter()
            .find_map(|k| o.get(*k).and_then(|v| v.as_str()).filter(|v| !v.is_empty()))?
            .to_string(),
        _ => return None,
    };
    let mut name: String = raw
        .chars()
        .map(|c| if name_char(c) { c } else { '-' })
        .collect();
    while name.contains("..") {
        name = name.replace("..", ".");
    }
    let name = name.trim_start_matches(['.', '-']);
    let cut: String = name.chars().take(MAX_NAME).collect();
    validate_name(&cut).ok().map(|_| cut)
}

/// What the index keeps of one account.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    /// Unix seconds when it was last made or left active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used: Option<f64>,
}

/// `index.json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Index {
    /// Whose token the documented file holds.
    #[serde(default)]
    pub active: Option<String>,
    /// A switch to this account was begun and may not have ended (the
    /// process died): the next change finishes it first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub switching: Option<String>,
    #[serde(default)]
    pub accounts: BTreeMap<String, Meta>,
}

impl Index {
    pub fn touch(&mut self, name: &str, now: f64) {
        self.accounts.entry(name.to_string()).or_default().last_used = Some(now);
    }

    pub fn last_used(&self, name: &str) -> Option<f64> {
        self.accounts.get(name).and_then(|m| m.last_used)
    }
}

/// The paths of one service's accounts.
#[derive(Clone, Debug)]
pub struct Layout {
    /// The documented file.
    pub doc: PathBuf,
    /// `accounts/{service}` beside it.
    pub dir: PathBuf,
}

impl Layout {
    /// The layout of `config`'s service. A saved account's configuration
    /// knows its own file only: its folder is that file's, and the
    /// documented file the `{service}_token.json` two folders up.
    pub fn of(config: &AuthConfig) -> Self {
        let path = config.resolved_token_path();
        let parent = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        match config.saved_account {
            None => Self {
                dir: parent.join("accounts").join(&config.service),
                doc: path,
            },
            Some(_) => Self {
                doc: parent
                    .join("..")
                    .join("..")
                    .join(format!("{}_token.json", config.service)),
                dir: parent,
            },
        }
    }

    pub fn slot(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}{SLOT_SUFFIX}"))
    }

    pub fn index(&self) -> PathBuf {
        self.dir.join("index.json")
    }

    /// The saved accounts' names: the token files in the folder.
    pub fn saved(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter_map(|e| {
                let file = e.file_name().to_string_lossy().into_owned();
                let name = file.strip_suffix(SLOT_SUFFIX)?.to_string();
                validate_name(&name).ok().map(|_| name)
            })
            .collect();
        names.sort();
        names
    }

    /// The index as written, or an empty one when there is none or it
    /// cannot be read (the files still say which accounts there are).
    pub fn read_index(&self) -> Index {
        let path = self.index();
        match crate::store::file::read_regular_file(&path) {
            Ok(Some(bytes)) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                log::warn!("{}: not an accounts index ({e}); rebuilt", path.display());
                Index::default()
            }),
            Ok(None) => Index::default(),
            Err(e) => {
                log::warn!("{e}");
                Index::default()
            }
        }
    }

    pub fn write_index(&self, index: &Index) -> Result<()> {
        self.refuse_linked_folder()?;
        let json = serde_json::to_vec_pretty(index)
            .map_err(|e| Error::Other(format!("could not encode the accounts index: {e}")))?;
        crate::store::file::write_atomic(&self.index(), &json)
    }

    /// Removes the index, the saved accounts' lock files and the folder
    /// once no account is left in it (the lock files hold nothing).
    pub fn remove_index(&self) {
        let _ = std::fs::remove_file(self.index());
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.ends_with(&format!("{SLOT_SUFFIX}.lock")) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        if std::fs::remove_dir(&self.dir).is_ok() {
            if let Some(parent) = self.dir.parent() {
                let _ = std::fs::remove_dir(parent);
            }
        }
    }

    /// The accounts folder must be a folder of ours, not a link elsewhere
    /// (the token files in it are refused as links one by one already).
    pub fn refuse_linked_folder(&self) -> Result<()> {
        let parent = self.dir.parent().unwrap_or(&self.dir);
        for dir in [parent, self.dir.as_path()] {
            if std::fs::symlink_metadata(dir).is_ok_and(|m| m.file_type().is_symlink()) {
                return Err(Error::TokenFile {
                    path: dir.into(),
                    message: "is a symbolic link; planopticon keeps accounts only in a folder of its own. Replace it with a folder".into(),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_that_leave_the_folder_or_confuse_are_refused() {
        for ok in [
            "work",
            "alice@example.test",
            "a.b",
            "x_y-z+1",
            &"a".repeat(64),
        ] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "../x",
            "a/b",
            "a\\b",
            "..",
            "a..b",
            ".hidden",
            "-rf",
            "a b",
            "tab\t",
            "é",
            &"a".repeat(65),
        ] {
            let e = validate_name(bad).unwrap_err();
            assert!(matches!(e, Error::AccountName { .. }), "{bad}");
            assert!(e.to_string().contains("cannot be an account name"), "{e}");
        }
    }

    #[test]
    fn identity_names_are_made_valid() {
        let n = |v| name_from_identity(&v);
        assert_eq!(
            n(json!({"login": "alice@example.test", "name": "A"})).as_deref(),
            Some("alice@example.test")
        );
        assert_eq!(
            n(json!({"name": "Test User bob"})).as_deref(),
            Some("Test-User-bob")
        );
        assert_eq!(n(json!({"id": "../../etc"})).as_deref(), Some("etc"));
        assert_eq!(n(json!("x/y")).as_deref(), Some("x-y"));
        assert_eq!(n(json!({})), None);
        assert_eq!(n(json!({"login": "ééé"})), None);
        assert_eq!(n(json!({"login": "a".repeat(100)})).unwrap().len(), 64);
    }

    #[test]
    fn the_layout_is_beside_the_documented_file_even_for_a_saved_account() {
        let mut c = AuthConfig::new("acme");
        c.token_path = Some("/t/acme_token.json".into());
        let l = Layout::of(&c);
        assert_eq!(l.slot("bob"), Path::new("/t/accounts/acme/bob_token.json"));
        c.token_path = Some(l.slot("bob"));
        c.saved_account = Some("bob".into());
        let saved = Layout::of(&c);
        assert_eq!(saved.dir, l.dir);
        assert_eq!(saved.slot("carol"), l.slot("carol"));
    }
}
