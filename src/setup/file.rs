//! services.toml itself: read under a size and type check, edited in
//! place under its lock (comments, order and other tables kept as written),
//! written atomically with mode 0600.

use std::path::{Path, PathBuf};

use toml_edit::{Document, Item, Table};

use super::keys::{invalid, parse_value, Key};
use crate::services::Registry;
use crate::store::FileStore;
use crate::{Error, Result};

/// services.toml is a few kilobytes; anything far larger is not one.
const MAX_SERVICES_FILE: u64 = 1 << 20;
/// `~/.planopticon/services.toml`, edited in place.
#[derive(Clone, Debug)]
pub struct ServicesFile {
    path: PathBuf,
}

impl ServicesFile {
    pub fn new(path: PathBuf) -> Self {
        Self { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's text ("" when it does not exist); a file that is not a
    /// regular file or is huge is refused.
    pub fn read(&self) -> Result<String> {
        let refuse = |message: String| Error::ServicesFile {
            path: self.path.clone(),
            message,
        };
        match std::fs::symlink_metadata(&self.path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(String::new()),
            Err(e) => return Err(refuse(format!("cannot be read: {e}"))),
            Ok(m) if m.file_type().is_symlink() => {
                return Err(refuse(
                    "is a symbolic link; saving would replace the link, so it is left as it is (edit the file it points to by hand)".into(),
                ))
            }
            Ok(m) if !m.is_file() => {
                return Err(refuse("is not a regular file; it is left as it is".into()))
            }
            Ok(m) if m.len() > MAX_SERVICES_FILE => {
                return Err(refuse("is larger than 1 MiB; it is left as it is".into()))
            }
            Ok(_) => {}
        }
        std::fs::read_to_string(&self.path).map_err(|e| refuse(format!("cannot be read: {e}")))
    }

    /// Edits the file under its lock: re-read, refuse a file with any
    /// problem (the error, nothing written), apply `f`, check the result
    /// reads back, write atomically (0600).
    pub fn edit<T>(&self, f: impl FnOnce(&mut Document) -> Result<T>) -> Result<T> {
        self.edit_as(None, f)
    }

    /// [`Self::edit`] of a file whose only problem is `[service]` (a value
    /// it cannot use, see [`Registry::only_broken`]): the edit must repair
    /// it, the file then has no problem, or nothing is written.
    pub fn repair<T>(
        &self,
        service: &str,
        f: impl FnOnce(&mut Document) -> Result<T>,
    ) -> Result<T> {
        self.edit_as(Some(service), f)
    }

    fn edit_as<T>(
        &self,
        repairing: Option<&str>,
        f: impl FnOnce(&mut Document) -> Result<T>,
    ) -> Result<T> {
        let _lock = FileStore::new(self.path.clone()).lock()?;
        let text = self.read()?;
        let before = Registry::from_text(&self.path, &text);
        // Someone else's mistake is shown, never overwritten; a table's own
        // is repaired only by an edit of that table that mends it.
        if !repairing.is_some_and(|s| before.only_broken(s)) {
            if let Some(e) = before.problems().into_iter().next() {
                return Err(match e {
                    Error::ServicesFile { path, message } => Error::ServicesFile {
                        path,
                        message: format!("{message} (fix the file first; nothing was written)"),
                    },
                    other => other,
                });
            }
        }
        let mut doc: Document =
            text.parse()
                .map_err(|e: toml_edit::TomlError| Error::ServicesFile {
                    path: self.path.clone(),
                    message: e.to_string(),
                })?;
        let out = f(&mut doc)?;
        let new_text = doc.to_string();
        if new_text == text && before.problems().is_empty() {
            return Ok(out);
        }
        Registry::from_toml(&self.path, &new_text)?;
        crate::store::file::write_atomic(&self.path, new_text.as_bytes())?;
        Ok(out)
    }

    /// Sets `key` in `[service]` (the table is added when missing).
    pub fn set(&self, service: &str, key: Key, value: &str) -> Result<()> {
        let v = parse_value(key, value)?;
        self.edit(|doc| {
            set_in(doc, service, key, v)?;
            Ok(())
        })
    }

    /// Removes `key` from `[service]`; true when it was there.
    pub fn unset(&self, service: &str, key: Key) -> Result<bool> {
        self.edit(|doc| Ok(unset_in(doc, service, key)))
    }

    /// The keys `[service]` sets, as the file holds them now.
    pub fn table(&self, service: &str) -> Result<Option<toml::Table>> {
        let text = self.read()?;
        let all: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| Error::ServicesFile {
                path: self.path.clone(),
                message: e.message().to_string(),
            })?;
        Ok(match all.get(service) {
            Some(toml::Value::Table(t)) => Some(t.clone()),
            _ => None,
        })
    }
}

fn service_table<'a>(doc: &'a mut Document, service: &str) -> Result<&'a mut Table> {
    let empty = doc.as_table().is_empty();
    // In a file of comments only, they stay above the first table.
    let mut prefix = String::new();
    if empty && !doc.contains_key(service) {
        prefix = doc.trailing().as_str().unwrap_or("").to_string();
        if !prefix.trim().is_empty() {
            doc.set_trailing("");
            prefix.push('\n');
        }
    } else if !empty {
        prefix.push('\n');
    }
    let item = doc.as_table_mut().entry(service).or_insert_with(|| {
        let mut t = Table::new();
        if !prefix.trim_matches(' ').is_empty() {
            t.decor_mut().set_prefix(prefix);
        }
        Item::Table(t)
    });
    item.as_table_mut().ok_or_else(|| {
        invalid(
            format!("[{service}]"),
            "is not a plain table in services.toml (an inline table?); edit it by hand",
        )
    })
}

pub(super) fn set_in(
    doc: &mut Document,
    service: &str,
    key: Key,
    mut v: toml_edit::Value,
) -> Result<()> {
    let table = service_table(doc, service)?;
    match table.get_mut(key.as_str()).and_then(Item::as_value_mut) {
        Some(old) => {
            // Keep the comment after the value and the spacing around it.
            *v.decor_mut() = old.decor().clone();
            *old = v;
        }
        None => {
            table.insert(key.as_str(), toml_edit::value(v));
        }
    }
    Ok(())
}

/// Removes `key` from `[service]`; a table this leaves empty (no keys, no
/// comments) goes too, so a set then unset leaves the file as it was.
pub(super) fn unset_in(doc: &mut Document, service: &str, key: Key) -> bool {
    let removed = doc
        .get_mut(service)
        .and_then(Item::as_table_like_mut)
        .and_then(|t| t.remove(key.as_str()))
        .is_some();
    let blank = |d: Option<&toml_edit::RawString>| {
        d.and_then(|r| r.as_str())
            .is_none_or(|s| s.trim().is_empty())
    };
    let now_empty = doc
        .get(service)
        .and_then(Item::as_table)
        .is_some_and(|t| t.is_empty() && blank(t.decor().prefix()) && blank(t.decor().suffix()));
    if removed && now_empty {
        doc.remove(service);
    }
    removed
}
