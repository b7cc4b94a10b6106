//! Composite keys, Fabric's layout (constants from [`weft_abi::composite`]): `0x00`, the object
//! type, `0x00`, then each attribute followed by `0x00`. Attributes are UTF-8 without `0x00`
//! or U+10FFFF.
//!
//! ```
//! use weft_sdk::composite::{create_composite_key, split_composite_key};
//!
//! let key = create_composite_key("color~name", &["blue", "marble1"]).unwrap();
//! assert_eq!(key, b"\0color~name\0blue\0marble1\0");
//! let (object_type, attributes) = split_composite_key(&key).unwrap();
//! assert_eq!((object_type.as_str(), attributes), ("color~name", vec!["blue".to_owned(), "marble1".to_owned()]));
//! // U+0000 and U+10FFFF are reserved.
//! assert!(create_composite_key("t", &["a\u{10FFFF}"]).is_err());
//! ```

use weft_abi::composite::{MAX_UNICODE_RUNE, MIN_SIMPLE_KEY, NAMESPACE, SEPARATOR};

use crate::{Error, Result};

fn check_part(part: &str) -> Result<()> {
    match part.chars().find(|c| *c as u32 == u32::from(SEPARATOR) || *c == MAX_UNICODE_RUNE) {
        Some(c) => Err(Error::InvalidKey(format!(
            "{part:?} contains U+{:04X}, which is not allowed in a composite key part",
            c as u32
        ))),
        None => Ok(()),
    }
}

/// Builds a composite key from an object type and attributes (Fabric's `CreateCompositeKey`).
pub fn create_composite_key(object_type: &str, attributes: &[&str]) -> Result<Vec<u8>> {
    check_part(object_type)?;
    let len = 2 + object_type.len() + attributes.iter().map(|a| a.len() + 1).sum::<usize>();
    let mut key = Vec::with_capacity(len);
    key.push(NAMESPACE);
    key.extend_from_slice(object_type.as_bytes());
    key.push(SEPARATOR);
    for attribute in attributes {
        check_part(attribute)?;
        key.extend_from_slice(attribute.as_bytes());
        key.push(SEPARATOR);
    }
    Ok(key)
}

/// Splits a composite key into its object type and attributes (Fabric's `SplitCompositeKey`).
pub fn split_composite_key(key: &[u8]) -> Result<(String, Vec<String>)> {
    let invalid = || Error::InvalidKey(format!("{key:?} is not a composite key"));
    let body = key.strip_prefix(&[NAMESPACE]).ok_or_else(invalid)?;
    let body = body.strip_suffix(&[SEPARATOR]).ok_or_else(invalid)?;
    let mut parts = body.split(|b| *b == SEPARATOR).map(|p| {
        String::from_utf8(p.to_vec()).map_err(|_| Error::InvalidKey("not UTF-8".to_owned()))
    });
    let object_type = parts.next().ok_or_else(invalid)??;
    Ok((object_type, parts.collect::<Result<_>>()?))
}

/// The `[start, end)` range a partial composite key covers: the key itself, up to the key
/// followed by U+10FFFF.
pub(crate) fn partial_key_range(
    object_type: &str,
    attributes: &[&str],
) -> Result<(Vec<u8>, Vec<u8>)> {
    let start = create_composite_key(object_type, attributes)?;
    let mut end = start.clone();
    let mut rune = [0u8; 4];
    end.extend_from_slice(MAX_UNICODE_RUNE.encode_utf8(&mut rune).as_bytes());
    Ok((start, end))
}

/// The bounds of a plain (non-composite) range as the host is asked for them: an empty start
/// becomes [`MIN_SIMPLE_KEY`] so composite keys never appear; a bound beginning with `0x00` is
/// refused, as Fabric's shim does.
pub(crate) fn simple_range_bounds<'a>(
    start: &'a [u8],
    end: &'a [u8],
) -> Result<(&'a [u8], &'a [u8])> {
    for bound in [start, end] {
        if bound.first() == Some(&NAMESPACE) {
            return Err(Error::InvalidKey(format!(
                "range bound {bound:?} begins with 0x00, which is reserved for composite keys"
            )));
        }
    }
    Ok((if start.is_empty() { MIN_SIMPLE_KEY } else { start }, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_fabric() {
        assert_eq!(create_composite_key("t", &[]).unwrap(), b"\0t\0");
        assert_eq!(create_composite_key("", &["a"]).unwrap(), b"\0\0a\0");
        assert_eq!(split_composite_key(b"\0t\0").unwrap(), ("t".to_owned(), vec![]));
        assert_eq!(
            split_composite_key(b"\0t\0\0b\0").unwrap(),
            ("t".to_owned(), vec![String::new(), "b".to_owned()])
        );
    }

    #[test]
    fn reserved_characters_and_malformed_keys_are_refused() {
        assert!(create_composite_key("a\0b", &[]).is_err());
        assert!(create_composite_key("t", &["\0"]).is_err());
        assert!(split_composite_key(b"plain").is_err());
        assert!(split_composite_key(b"\0no-trailing-separator").is_err());
        assert!(split_composite_key(b"\0t\0\xff\0").is_err());
    }

    #[test]
    fn partial_key_range_ends_with_max_rune() {
        let (start, end) = partial_key_range("color~name", &["blue"]).unwrap();
        assert_eq!(start, b"\0color~name\0blue\0");
        assert_eq!(end, b"\0color~name\0blue\0\xf4\x8f\xbf\xbf");
    }

    #[test]
    fn simple_range_bounds_follow_the_shim() {
        assert_eq!(simple_range_bounds(b"", b"").unwrap(), (MIN_SIMPLE_KEY, b"".as_slice()));
        assert_eq!(simple_range_bounds(b"a", b"c").unwrap(), (b"a".as_slice(), b"c".as_slice()));
        assert!(simple_range_bounds(b"\0x", b"").is_err());
        assert!(simple_range_bounds(b"a", b"\0").is_err());
    }
}
