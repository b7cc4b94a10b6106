//! Variable-length layouts: length-prefixed lists and key/value pairs. All integers are
//! little-endian `u32`.

use alloc::vec::Vec;

/// Why a buffer did not decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeError;

impl core::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("malformed length-prefixed buffer")
    }
}

fn read_u32(buf: &[u8], at: usize) -> Result<u32, DecodeError> {
    let bytes = buf.get(at..at.checked_add(4).ok_or(DecodeError)?).ok_or(DecodeError)?;
    Ok(u32::from_le_bytes(bytes.try_into().map_err(|_| DecodeError)?))
}

/// Encodes a list: `count: u32`, then for each item `len: u32` and its bytes.
pub fn encode_list<T: AsRef<[u8]>>(items: &[T]) -> Vec<u8> {
    let total: usize = 4 + items.iter().map(|i| 4 + i.as_ref().len()).sum::<usize>();
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&(items.len() as u32).to_le_bytes());
    for item in items {
        let item = item.as_ref();
        out.extend_from_slice(&(item.len() as u32).to_le_bytes());
        out.extend_from_slice(item);
    }
    out
}

/// Decodes [`encode_list`]; the whole buffer must be consumed.
pub fn decode_list(buf: &[u8]) -> Result<Vec<&[u8]>, DecodeError> {
    let count = read_u32(buf, 0)? as usize;
    // Each item takes at least 4 bytes: refuse counts the buffer cannot hold before allocating.
    if count > buf.len().saturating_sub(4) / 4 {
        return Err(DecodeError);
    }
    let mut items = Vec::with_capacity(count);
    let mut at = 4usize;
    for _ in 0..count {
        let len = read_u32(buf, at)? as usize;
        at += 4;
        let end = at.checked_add(len).ok_or(DecodeError)?;
        items.push(buf.get(at..end).ok_or(DecodeError)?);
        at = end;
    }
    if at != buf.len() {
        return Err(DecodeError);
    }
    Ok(items)
}

/// Encodes a key/value pair: `key_len: u32`, the key, then the value (the rest).
pub fn encode_kv(key: &[u8], value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + key.len() + value.len());
    out.extend_from_slice(&(key.len() as u32).to_le_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(value);
    out
}

/// Decodes [`encode_kv`] into `(key, value)`.
pub fn decode_kv(buf: &[u8]) -> Result<(&[u8], &[u8]), DecodeError> {
    let key_len = read_u32(buf, 0)? as usize;
    let key_end = 4usize.checked_add(key_len).ok_or(DecodeError)?;
    let key = buf.get(4..key_end).ok_or(DecodeError)?;
    Ok((key, &buf[key_end..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn list_round_trips_including_empty_items() {
        let items: Vec<&[u8]> = vec![b"", b"x", b"hello"];
        let enc = encode_list(&items);
        assert_eq!(decode_list(&enc).unwrap(), items);
        assert_eq!(decode_list(&encode_list::<&[u8]>(&[])).unwrap(), Vec::<&[u8]>::new());
    }

    #[test]
    fn list_rejects_truncation_trailing_bytes_and_huge_counts() {
        let enc = encode_list(&[b"abc".as_slice()]);
        assert_eq!(decode_list(&enc[..enc.len() - 1]), Err(DecodeError));
        let mut longer = enc.clone();
        longer.push(0);
        assert_eq!(decode_list(&longer), Err(DecodeError));
        assert_eq!(decode_list(&u32::MAX.to_le_bytes()), Err(DecodeError));
        assert_eq!(decode_list(&[]), Err(DecodeError));
    }

    #[test]
    fn kv_round_trips() {
        let enc = encode_kv(b"key", b"value");
        assert_eq!(decode_kv(&enc).unwrap(), (b"key".as_slice(), b"value".as_slice()));
        assert_eq!(decode_kv(&encode_kv(b"", b"")).unwrap(), (b"".as_slice(), b"".as_slice()));
        assert_eq!(decode_kv(&[9, 0, 0, 0, 1]), Err(DecodeError));
    }
}
