//! Client-supplied text in error messages, bounded. A refusal that names what the client
//! sent (a contract, channel, transaction id, block hash, function, MSP id, ...) quotes it
//! with [`quote`] or [`quote_hex`]: whole when it is short, else its start, an ellipsis and
//! its length. A gRPC status travels in response metadata, which clients cap (8 KiB by
//! default in gRPC's C core), so a status that echoed a 1 MiB name would reach the client as
//! "metadata size exceeds limit" instead of the refusal. [`truncate`] bounds a whole message.
//!
//! ```
//! use weft_proto::quote::{quote, quote_hex};
//!
//! assert_eq!(quote("basic").to_string(), r#""basic""#);
//! let long = "x".repeat(1 << 20);
//! assert_eq!(
//!     quote(&long).to_string(),
//!     format!(r#""{}"… (1048576 bytes)"#, "x".repeat(weft_proto::quote::MAX_QUOTED_CHARS))
//! );
//! assert_eq!(quote_hex(&[0xab, 0xcd]).to_string(), "abcd");
//! ```

use std::fmt;

/// The most characters of a client-supplied string a message quotes (a transaction id or a
/// hex block hash, 64 characters, is always whole).
pub const MAX_QUOTED_CHARS: usize = 96;

/// `text` for an error message: in double quotes with control characters escaped, cut to
/// [`MAX_QUOTED_CHARS`] characters followed by `… (N bytes)` when longer.
pub fn quote(text: &str) -> Quoted<'_> {
    Quoted(text)
}

/// See [`quote`].
#[derive(Debug, Clone, Copy)]
pub struct Quoted<'a>(&'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.char_indices().nth(MAX_QUOTED_CHARS) {
            None => write!(f, "{:?}", self.0),
            Some((cut, _)) => write!(f, "{:?}… ({} bytes)", &self.0[..cut], self.0.len()),
        }
    }
}

/// `bytes` in lowercase hex for an error message, cut to [`MAX_QUOTED_CHARS`] hex digits
/// followed by `… (N bytes)` when longer.
pub fn quote_hex(bytes: &[u8]) -> QuotedHex<'_> {
    QuotedHex(bytes)
}

/// See [`quote_hex`].
#[derive(Debug, Clone, Copy)]
pub struct QuotedHex<'a>(&'a [u8]);

impl fmt::Display for QuotedHex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = &self.0[..self.0.len().min(MAX_QUOTED_CHARS / 2)];
        for byte in shown {
            write!(f, "{byte:02x}")?;
        }
        if shown.len() < self.0.len() {
            write!(f, "… ({} bytes)", self.0.len())?;
        }
        Ok(())
    }
}

/// `message` cut to at most `max` bytes (at a character boundary), ending in
/// `… (N bytes in all)` when cut; the result is never longer than `max` plus that note.
pub fn truncate(message: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if message.len() <= max {
        return message.into();
    }
    let mut cut = max;
    while !message.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}… ({} bytes in all)", &message[..cut], message.len()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_quoted_whole_and_escaped() {
        assert_eq!(quote("").to_string(), r#""""#);
        assert_eq!(quote("a\nb\"c").to_string(), r#""a\nb\"c""#);
        let id = "0123456789abcdef".repeat(4);
        assert_eq!(quote(&id).to_string(), format!("{id:?}"));
        let exactly = "é".repeat(MAX_QUOTED_CHARS);
        assert_eq!(quote(&exactly).to_string(), format!("{exactly:?}"));
    }

    #[test]
    fn long_text_is_cut_at_a_character_and_gives_its_length() {
        let long = "é".repeat(MAX_QUOTED_CHARS + 1);
        let shown = quote(&long).to_string();
        let expected = format!("{:?}… ({} bytes)", "é".repeat(MAX_QUOTED_CHARS), long.len());
        assert_eq!(shown, expected);
        // Escapes can grow a character to at most 10 (\u{10ffff}): still small.
        let worst = "\u{10ffff}".repeat(1 << 18);
        assert!(quote(&worst).to_string().len() < 10 * MAX_QUOTED_CHARS + 32);
    }

    #[test]
    fn hex_is_whole_for_a_hash_and_cut_beyond() {
        let hash = [7u8; 32];
        assert_eq!(quote_hex(&hash).to_string(), "07".repeat(32));
        let long = vec![0xffu8; 1 << 20];
        assert_eq!(
            quote_hex(&long).to_string(),
            format!("{}… (1048576 bytes)", "ff".repeat(MAX_QUOTED_CHARS / 2))
        );
    }

    #[test]
    fn truncate_bounds_a_message_at_a_character_boundary() {
        assert_eq!(truncate("short", 10), "short");
        let cut = truncate("ééé", 3);
        assert_eq!(cut, "é… (6 bytes in all)");
        let big = "x".repeat(1 << 20);
        assert!(truncate(&big, 1024).len() <= 1024 + 32);
    }
}
