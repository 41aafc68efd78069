//! Words from outside (a provider's `error` and `error_description`, a
//! who-am-I name, login or workspace, a header, a services.toml value) made
//! fit to show a person: the one sanitizer every front end uses.
//!
//! A terminal obeys escape sequences (`ESC ] 0 ; title BEL` retitles it,
//! `ESC [ 2 J` clears it, a C1 `CSI` U+009B does what `ESC [` does), and a
//! bidi control (U+202E) reorders what follows, so `txt.exe` reads as
//! `exe.txt` (CWE-150). [`displayable`] writes each such character as a
//! visible escape (`\x1b`, `\u{202e}`) and cuts text longer than
//! [`MAX_CHARS`] with an ellipsis; [`escape`] does the first only, for a
//! whole line of ours that quotes such words (a sign-in URL is long for good
//! reasons). Backslashes are left as they are, so sanitizing twice changes
//! nothing. Machine output (`--json`) keeps the words exactly, written by
//! [`to_json_pretty`] with the same characters as JSON escapes.

use std::borrow::Cow;
use std::fmt;

/// The most characters of outside text shown (the ellipsis included).
pub const MAX_CHARS: usize = 300;

/// What a longer text ends with once cut.
pub const ELLIPSIS: char = '…';

/// Whether `c` must not reach a terminal, a tray label or a notification
/// as it is: C0 and C1 controls and DEL (`char::is_control`: tab and
/// newline too, since none belongs inside these fields), the bidi embedding,
/// override and isolate controls and the three direction marks, and the
/// Unicode line and paragraph separators.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{061c}'
                | '\u{2028}'
                | '\u{2029}'
        )
}

/// How `c` is written: itself, or its visible escape.
fn piece(c: char) -> Piece {
    match c {
        _ if !is_unsafe(c) => Piece::Char(c),
        '\n' => Piece::Escape("\\n".into()),
        '\t' => Piece::Escape("\\t".into()),
        '\r' => Piece::Escape("\\r".into()),
        c if (c as u32) < 0x100 => Piece::Escape(format!("\\x{:02x}", c as u32)),
        c => Piece::Escape(format!("\\u{{{:x}}}", c as u32)),
    }
}

enum Piece {
    Char(char),
    Escape(String),
}

impl Piece {
    fn chars(&self) -> usize {
        match self {
            Self::Char(_) => 1,
            Self::Escape(s) => s.len(),
        }
    }

    fn push_to(&self, out: &mut String) {
        match self {
            Self::Char(c) => out.push(*c),
            Self::Escape(s) => out.push_str(s),
        }
    }
}

/// `text` fit to show a person: every unsafe character ([`is_unsafe`]) as a
/// visible escape, and no more than [`MAX_CHARS`] characters, a longer text
/// cut (never inside a character or an escape) and ended with `…`.
/// Clean text of a sensible length comes back as it is, borrowed.
pub fn displayable(text: &str) -> Cow<'_, str> {
    let escaped = escape(text);
    if escaped.chars().count() <= MAX_CHARS {
        return escaped;
    }
    let mut out = String::with_capacity(MAX_CHARS + 8);
    let mut count = 0;
    for p in text.chars().map(piece) {
        if count + p.chars() > MAX_CHARS - 1 {
            break;
        }
        count += p.chars();
        p.push_to(&mut out);
    }
    out.push(ELLIPSIS);
    Cow::Owned(out)
}

/// `text` with every unsafe character ([`is_unsafe`]) as a visible escape,
/// whatever its length: for a whole line of ours that may quote outside words.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        piece(c).push_to(&mut out);
    }
    Cow::Owned(out)
}

/// [`escape`] for each line of a text of ours that has several (a prompt
/// and the URL under it): the line breaks stay, everything else unsafe is
/// escaped.
pub fn escape_lines(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| c != '\n' && is_unsafe(c)) {
        return Cow::Borrowed(text);
    }
    let lines: Vec<Cow<str>> = text.split('\n').map(escape).collect();
    Cow::Owned(lines.join("\n"))
}

/// `text` for a notification's body, which notification servers read as a
/// little markup: [`escape`]d, then `&`, `<` and `>` as entities. Cut the
/// outside words in it with [`displayable`] first.
pub fn for_markup(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for c in escape(text).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// Outside words, shown through [`displayable`]: `format!("{}",
/// Untrusted(&description))`. The wrapped value stays as it came, for
/// machine output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Untrusted<'a>(pub &'a str);

impl fmt::Display for Untrusted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&displayable(self.0))
    }
}

/// Pretty JSON of `value`, faithful to every string in it, where the
/// characters [`is_unsafe`] names are written as JSON escapes (`\u009b`,
/// `\u202e`) rather than as they are: a program reading it gets the very
/// words, a person reading it on a terminal sees no escape sequence act.
pub fn to_json_pretty<T: serde::Serialize + ?Sized>(value: &T) -> String {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, SafeFormatter::default());
    value.serialize(&mut ser).expect("plain data serializes");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// serde_json's pretty formatter, with unsafe characters escaped in strings.
#[derive(Default)]
struct SafeFormatter(serde_json::ser::PrettyFormatter<'static>);

/// Delegates the layout to the pretty formatter.
macro_rules! layout {
    ($($name:ident $(($arg:ident: $ty:ty))?),* $(,)?) => {$(
        fn $name<W: ?Sized + std::io::Write>(&mut self, w: &mut W $(, $arg: $ty)?) -> std::io::Result<()> {
            self.0.$name(w $(, $arg)?)
        }
    )*};
}

impl serde_json::ser::Formatter for SafeFormatter {
    layout!(
        begin_array,
        end_array,
        begin_array_value(first: bool),
        end_array_value,
        begin_object,
        end_object,
        begin_object_key(first: bool),
        begin_object_value,
        end_object_value,
    );

    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        // C0 controls never get here (serde_json escapes them itself).
        let mut rest = fragment;
        while let Some((at, c)) = rest.char_indices().find(|(_, c)| is_unsafe(*c)) {
            w.write_all(&rest.as_bytes()[..at])?;
            write!(w, "\\u{:04x}", c as u32)?;
            rest = &rest[at + c.len_utf8()..];
        }
        w.write_all(rest.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HOSTILE: &str = "\u{1b}]0;owned\u{7}\u{1b}[2J\u{9b}31m txt\u{202e}exe.txt\n\tend\u{7f}";

    #[test]
    fn controls_and_bidi_become_visible_escapes() {
        assert_eq!(
            displayable(HOSTILE),
            "\\x1b]0;owned\\x07\\x1b[2J\\x9b31m txt\\u{202e}exe.txt\\n\\tend\\x7f"
        );
        for c in [
            '\u{2066}', '\u{2069}', '\u{200e}', '\u{200f}', '\u{61c}', '\u{2028}',
        ] {
            assert_eq!(
                displayable(&format!("a{c}b")),
                format!("a\\u{{{:x}}}b", c as u32)
            );
        }
    }

    #[test]
    fn clean_text_is_left_alone_and_borrowed() {
        for s in [
            "",
            "Alice <alice@example.com> (Acme)",
            "invalid_grant: naïve, 東京 \\x1b",
        ] {
            assert!(matches!(displayable(s), Cow::Borrowed(t) if t == s));
        }
    }

    #[test]
    fn long_text_is_cut_on_a_character_with_an_ellipsis() {
        let long = "é".repeat(400);
        let shown = displayable(&long);
        assert_eq!(shown.chars().count(), MAX_CHARS);
        assert!(shown.ends_with(ELLIPSIS));
        assert_eq!(displayable(&"a".repeat(MAX_CHARS)), "a".repeat(MAX_CHARS));
        // An escape is never cut in two.
        let escapes = "\u{1b}".repeat(100);
        let shown = displayable(&escapes);
        assert_eq!(shown, format!("{}…", "\\x1b".repeat(74)));
    }

    #[test]
    fn lines_keep_their_breaks_only() {
        assert_eq!(
            escape_lines("Open this URL:\nhttp://x/?\u{1b}[2J\r"),
            "Open this URL:\nhttp://x/?\\x1b[2J\\r"
        );
    }

    #[test]
    fn markup_is_escaped_for_notifications() {
        assert_eq!(
            for_markup("<b>Tom & Jerry</b>\u{202e}"),
            "&lt;b&gt;Tom &amp; Jerry&lt;/b&gt;\\u{202e}"
        );
    }

    #[test]
    fn json_keeps_the_words_and_escapes_what_a_terminal_obeys() {
        let value = serde_json::json!({"name": HOSTILE, "list": [1, "x"]});
        let text = to_json_pretty(&value);
        assert!(!text.chars().any(|c| c != '\n' && is_unsafe(c)), "{text}");
        assert!(
            text.contains("\\u009b") && text.contains("\\u202e"),
            "{text}"
        );
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, value);
        // The layout is serde_json's pretty one.
        let plain = serde_json::json!({"list": [1, "x"]});
        assert_eq!(
            to_json_pretty(&plain),
            serde_json::to_string_pretty(&plain).unwrap()
        );
    }

    proptest! {
        #[test]
        fn nothing_unsafe_gets_through(s in any::<String>(), extra in "[\\x00-\\x1f\\x7f-\\x9f\u{202a}-\u{202e}\u{2066}-\u{2069}]{0,8}") {
            let text = format!("{s}{extra}{s}");
            let shown = displayable(&text);
            prop_assert!(!shown.chars().any(is_unsafe));
            prop_assert!(shown.chars().count() <= MAX_CHARS);
            // Sanitizing again changes nothing.
            prop_assert_eq!(displayable(&shown), shown.clone());
            prop_assert!(!escape(&text).chars().any(is_unsafe));
            prop_assert!(!for_markup(&text).chars().any(|c| is_unsafe(c) || c == '<' || c == '>'));
        }

        #[test]
        fn short_clean_text_is_unchanged(s in "[^\\p{Cc}\u{202a}-\u{202e}\u{2066}-\u{2069}\u{200e}\u{200f}\u{61c}\u{2028}\u{2029}]{0,300}") {
            prop_assert_eq!(displayable(&s), s.as_str());
        }
    }
}
