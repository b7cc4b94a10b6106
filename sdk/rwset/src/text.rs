//! Contract-supplied text made safe to show: in the node's log, in messages sent to clients
//! and in a terminal. One rule, [`escape_text`]: invalid UTF-8 becomes U+FFFD, every
//! [unsafe](is_unsafe) character becomes a visible escape (`\n`, `\r`, `\t`, `\0`,
//! `\u{1b}`, ...), and the result is cut to a byte budget, ending with `…` if it was cut.
//!
//! The recorder applies it to log lines and response messages, and the runtime to abort
//! messages, so the text is a pure function of what the contract wrote: a response message in
//! an endorsed payload is the same on every peer, and the same in `cargo test`. The result
//! holds no raw newline, carriage return, NUL, escape (ANSI) or bidirectional-override
//! character, so one log record stays one line and a message cannot drive a terminal.

use std::fmt::Write as _;

/// The marker that ends text cut to its budget.
pub const CUT_MARKER: char = '…';

/// Bytes of a name quoted by [`excerpt`] (module-supplied names in deploy errors, contract
/// names in refusals) before it is cut.
pub const EXCERPT_LEN: usize = 64;

/// Whether `c` is shown escaped: control characters (C0, DEL, C1) and the invisible
/// characters that reorder or break lines (bidirectional controls, line and paragraph
/// separators, the byte-order mark).
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{FEFF}'
        )
}

/// Appends `c` to `out`, escaped if it is [unsafe](is_unsafe).
fn push_escaped(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\0' => out.push_str("\\0"),
        c if is_unsafe(c) => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
        c => out.push(c),
    }
}

/// [`escape_text`], and whether the text was cut.
fn escape_counted(bytes: &[u8], max: usize) -> (String, bool) {
    let room = max.saturating_sub(CUT_MARKER.len_utf8());
    let mut out = String::with_capacity(bytes.len().min(max));
    // Length of `out` at the last character boundary that still leaves room for the marker.
    let mut fits = 0;
    let mut piece = String::new();
    let chars = bytes.utf8_chunks().flat_map(|chunk| {
        let bad = (!chunk.invalid().is_empty()).then_some(char::REPLACEMENT_CHARACTER);
        chunk.valid().chars().chain(bad)
    });
    for c in chars {
        piece.clear();
        push_escaped(&mut piece, c);
        if out.len() + piece.len() > max {
            out.truncate(fits);
            out.push(CUT_MARKER);
            return (out, true);
        }
        out.push_str(&piece);
        if out.len() <= room {
            fits = out.len();
        }
    }
    (out, false)
}

/// `bytes` as safe text of at most `max` bytes (for `max` of 3 or more): invalid UTF-8 as
/// U+FFFD, [unsafe](is_unsafe) characters escaped, cut on a character (or escape) boundary
/// and ended with [`CUT_MARKER`] if it does not fit. Reads only as much of `bytes` as it
/// keeps, so a huge input costs no more than a short one.
pub fn escape_text(bytes: &[u8], max: usize) -> String {
    escape_counted(bytes, max).0
}

/// A name or other module- or client-supplied string for an error message: escaped as
/// [`escape_text`], at most [`EXCERPT_LEN`] bytes, and if cut followed by its full length,
/// e.g. `aaaa… (100000 bytes)`.
pub fn excerpt(text: &str) -> String {
    let (mut out, cut) = escape_counted(text.as_bytes(), EXCERPT_LEN);
    if cut {
        let _ = write!(out, " ({} bytes)", text.len());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_reordering_characters_are_escaped() {
        let text = escape_text(b"a\nb\r\0\t\x1b[31mred\x7f \xc2\x9b \xe2\x80\xae!", 100);
        assert_eq!(text, "a\\nb\\r\\0\\t\\u{1b}[31mred\\u{7f} \\u{9b} \\u{202e}!");
        assert!(!text.chars().any(is_unsafe));
        // Ordinary text, including non-ASCII, is unchanged.
        assert_eq!(escape_text("héllo wörld 日本 \\n".as_bytes(), 100), "héllo wörld 日本 \\n");
    }

    #[test]
    fn invalid_utf8_becomes_the_replacement_character() {
        assert_eq!(escape_text(b"ok\xff\xfe!", 100), "ok\u{FFFD}\u{FFFD}!");
        assert_eq!(escape_text(b"\xe6\x97", 100), "\u{FFFD}");
    }

    #[test]
    fn text_is_cut_to_the_budget_on_a_boundary_with_a_marker() {
        assert_eq!(escape_text(b"abcdef", 6), "abcdef");
        assert_eq!(escape_text(b"abcdefg", 6), "abc…");
        // An escape is never cut in half.
        assert_eq!(escape_text(b"ab\x1b\x1b\x1b", 10), "ab…");
        assert_eq!(escape_text(b"ab\x1b\x1b\x1b", 13), "ab\\u{1b}…");
        for max in 3..40 {
            let out = escape_text("é\n日\x1b".repeat(10).as_bytes(), max);
            assert!(out.len() <= max, "{max}: {out}");
        }
        // Huge input: only the kept prefix is read.
        let huge = vec![b'\n'; 64 << 20];
        assert_eq!(escape_text(&huge, 9), "\\n\\n\\n…");
    }

    #[test]
    fn excerpts_say_how_long_the_whole_was() {
        assert_eq!(excerpt("memory"), "memory");
        let long = "x".repeat(100_000);
        let e = excerpt(&long);
        assert!(e.starts_with("xxxx") && e.ends_with("… (100000 bytes)"), "{e}");
        assert!(e.len() < EXCERPT_LEN + 20);
        assert_eq!(excerpt("a\u{202e}b"), "a\\u{202e}b");
    }
}
