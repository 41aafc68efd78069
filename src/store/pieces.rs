//! A value too long for one keyring entry, kept in several.
//!
//! Windows' Credential Manager holds at most 2,560 bytes per entry, and
//! keyring stores UTF-16 there: a token JSON over 1,280 characters (every
//! Microsoft token, most Google ones) is refused. So a value that fits is
//! stored whole, as always; a longer one is cut into pieces `{user}#1`,
//! `{user}#2`, ... and the entry `{user}` holds a header with their count,
//! the value's length and a SHA-256 prefix. It is read back only when every
//! piece is there and the whole matches the header (a save or a logout cut
//! short, or two saves interleaved, read as incomplete, never as a wrong
//! token). The same on every OS: one code path, tested everywhere.
//!
//! Pieces are written in ascending order and removed in descending order,
//! so what an interruption leaves is a run `#1..#n` with no gap; a removal
//! takes every piece up to the header's count and beyond it up to the
//! first one missing.

/// The most a piece holds, in UTF-16 code units (2,560 bytes).
pub const PIECE_UNITS: usize = 1280;
const HEADER: &str = "planopticon-pieces:v1:";

/// Keyring entries by user name (the real keyring, or a test's).
pub trait Slots {
    fn get(&self, user: &str) -> keyring::Result<Option<String>>;
    fn set(&self, user: &str, value: &str) -> keyring::Result<()>;
    /// Removes the entry; a missing one is fine.
    fn delete(&self, user: &str) -> keyring::Result<()>;
}

fn piece(user: &str, n: usize) -> String {
    format!("{user}#{n}")
}

/// `value` cut at character boundaries into parts of at most
/// [`PIECE_UNITS`] UTF-16 units; one part when it fits.
pub fn split(value: &str) -> Vec<&str> {
    let (mut parts, mut start, mut units) = (Vec::new(), 0, 0);
    for (at, c) in value.char_indices() {
        if units + c.len_utf16() > PIECE_UNITS {
            parts.push(&value[start..at]);
            (start, units) = (at, 0);
        }
        units += c.len_utf16();
    }
    parts.push(&value[start..]);
    parts
}

fn digest(value: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, value.as_bytes());
    d.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn header(count: usize, value: &str) -> String {
    format!("{HEADER}{count}:{}:{}", value.len(), digest(value))
}

/// `(count, length, digest)` when `text` is a header.
fn parse_header(text: &str) -> Option<(usize, usize, &str)> {
    let mut fields = text.strip_prefix(HEADER)?.split(':');
    let count = fields.next()?.parse().ok()?;
    let len = fields.next()?.parse().ok()?;
    Some((count, len, fields.next()?))
}

/// Stores `value` under `user`: whole when it fits, else in pieces with
/// the header written last; pieces left from a longer value are removed.
pub fn write(slots: &impl Slots, user: &str, value: &str) -> keyring::Result<()> {
    let before = stored_count(slots, user)?;
    let parts = split(value);
    let kept = if parts.len() == 1 {
        slots.set(user, value)?;
        0
    } else {
        for (n, part) in parts.iter().enumerate() {
            slots.set(&piece(user, n + 1), part)?;
        }
        slots.set(user, &header(parts.len(), value))?;
        parts.len()
    };
    remove_pieces_after(slots, user, kept, before)
}

/// How many pieces the header under `user` counts (0 for a whole value or none).
fn stored_count(slots: &impl Slots, user: &str) -> keyring::Result<usize> {
    Ok(slots
        .get(user)?
        .and_then(|main| parse_header(&main).map(|(count, ..)| count))
        .unwrap_or(0))
}

/// The value under `user`: `None` when there is none; an error when its
/// pieces are incomplete or do not match their header.
pub fn read(slots: &impl Slots, user: &str) -> keyring::Result<Option<String>> {
    let Some(main) = slots.get(user)? else {
        return Ok(None);
    };
    let Some((count, len, sum)) = parse_header(&main) else {
        return Ok(Some(main));
    };
    let incomplete = |why: String| keyring::Error::Invalid(user.into(), why);
    let mut value = String::with_capacity(len);
    for n in 1..=count {
        match slots.get(&piece(user, n))? {
            Some(part) => value.push_str(&part),
            None => return Err(incomplete(format!("piece {n} of {count} is missing"))),
        }
    }
    if value.len() != len || digest(&value) != sum {
        return Err(incomplete(format!(
            "its {count} pieces do not make the value their header describes"
        )));
    }
    Ok(Some(value))
}

/// Removes `user` and every piece of it.
pub fn remove(slots: &impl Slots, user: &str) -> keyring::Result<()> {
    let before = stored_count(slots, user)?;
    slots.delete(user)?;
    remove_pieces_after(slots, user, 0, before)
}

/// Removes pieces `#(kept+1)...` (at least up to `#counted`, then up to the
/// first one missing), the highest first, so that what is left after an
/// interruption is still a run without gaps.
fn remove_pieces_after(
    slots: &impl Slots,
    user: &str,
    kept: usize,
    counted: usize,
) -> keyring::Result<()> {
    let mut last = kept.max(counted);
    while slots.get(&piece(user, last + 1))?.is_some() {
        last += 1;
    }
    for n in (kept + 1..=last).rev() {
        slots.delete(&piece(user, n))?;
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    /// Entries in memory, refusing what Credential Manager refuses: a
    /// value over 2,560 bytes as UTF-16 (keyring's own check and words).
    #[derive(Default)]
    pub(crate) struct Limited(pub RefCell<BTreeMap<String, String>>);

    impl Slots for Limited {
        fn get(&self, user: &str) -> keyring::Result<Option<String>> {
            Ok(self.0.borrow().get(user).cloned())
        }
        fn set(&self, user: &str, value: &str) -> keyring::Result<()> {
            if value.encode_utf16().count() * 2 > 2560 {
                return Err(keyring::Error::TooLong(
                    "password encoded as UTF-16".into(),
                    2560,
                ));
            }
            self.0.borrow_mut().insert(user.into(), value.into());
            Ok(())
        }
        fn delete(&self, user: &str) -> keyring::Result<()> {
            self.0.borrow_mut().remove(user);
            Ok(())
        }
    }

    fn names(slots: &Limited) -> Vec<String> {
        slots.0.borrow().keys().cloned().collect()
    }

    /// A token JSON of about `n` bytes, with some non-ASCII in it.
    pub(crate) fn token_json(n: usize) -> String {
        let filler: String = "abcdéf€𝄞".chars().cycle().take(n).collect();
        serde_json::json!({"access_token": filler, "expires_at": 4e9}).to_string()
    }

    #[test]
    fn pieces_fit_the_limit_and_cut_no_character() {
        let value = token_json(4096);
        let parts = split(&value);
        assert_eq!(parts.concat(), value);
        assert!(parts.len() >= 4, "{}", parts.len());
        assert!(parts
            .iter()
            .all(|p| p.encode_utf16().count() <= PIECE_UNITS));
        assert_eq!(split("small"), ["small"]);
        assert_eq!(split(""), [""]);
        let exact = "x".repeat(PIECE_UNITS);
        assert_eq!(split(&exact).len(), 1);
        assert_eq!(split(&(exact + "y")).len(), 2);
    }

    #[test]
    fn a_4kb_token_is_refused_whole_and_round_trips_in_pieces() {
        let slots = Limited::default();
        let big = token_json(4096);
        assert!(
            slots.set("acme_token", &big).is_err(),
            "the double enforces the limit"
        );
        write(&slots, "acme_token", &big).unwrap();
        assert_eq!(read(&slots, "acme_token").unwrap().as_deref(), Some(&*big));
        let stored = names(&slots);
        assert!(
            stored.len() >= 5 && stored.contains(&"acme_token#1".into()),
            "{stored:?}"
        );
        remove(&slots, "acme_token").unwrap();
        assert_eq!(names(&slots), Vec::<String>::new());
        assert_eq!(read(&slots, "acme_token").unwrap(), None);
    }

    #[test]
    fn a_shorter_value_replaces_a_split_one_and_leaves_no_piece() {
        let slots = Limited::default();
        write(&slots, "acme_token", &token_json(6000)).unwrap();
        write(&slots, "acme_token", &token_json(3000)).unwrap();
        let three = names(&slots).len();
        assert_eq!(read(&slots, "acme_token").unwrap(), Some(token_json(3000)));
        write(&slots, "acme_token", "{\"access_token\":\"a\"}").unwrap();
        assert_eq!(names(&slots), ["acme_token"], "down from {three}");
        assert_eq!(
            read(&slots, "acme_token").unwrap().as_deref(),
            Some("{\"access_token\":\"a\"}")
        );
        // Another user's pieces are not touched.
        write(&slots, "other_token", &token_json(3000)).unwrap();
        remove(&slots, "acme_token").unwrap();
        assert_eq!(read(&slots, "other_token").unwrap(), Some(token_json(3000)));
    }

    #[test]
    fn missing_or_mixed_pieces_are_never_read_as_a_token() {
        let slots = Limited::default();
        write(&slots, "t", &token_json(4096)).unwrap();
        // Another save's piece in place of one of ours (same length).
        let other = Limited::default();
        let swapped = token_json(4096).replace("abcd", "abce");
        write(&other, "t", &swapped).unwrap();
        let theirs = other.0.borrow()["t#2"].clone();
        assert_ne!(theirs, slots.0.borrow()["t#2"]);
        assert_eq!(theirs.len(), slots.0.borrow()["t#2"].len());
        slots.0.borrow_mut().insert("t#2".into(), theirs);
        assert!(matches!(
            read(&slots, "t"),
            Err(keyring::Error::Invalid(..))
        ));
        slots.0.borrow_mut().remove("t#3");
        let err = read(&slots, "t").unwrap_err().to_string();
        assert!(err.contains("piece 3 of"), "{err}");
        // A removal cut short after the header: what is left is removed next time.
        remove(&slots, "t").unwrap();
        assert_eq!(names(&slots), Vec::<String>::new());
    }
}
