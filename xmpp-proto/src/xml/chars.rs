//! Character classes of XML 1.0 (Fifth Edition) and the UTF-8 / legal-character check that
//! runs over every byte before the markup scanner looks at it.
//!
//! RFC 6120 section 11.6 makes UTF-8 the only encoding of an XMPP stream, and XML 1.0
//! production 2 (`Char`) forbids most C0 controls and U+FFFE/U+FFFF. Checking both in one
//! pass, word at a time over ASCII, lets the scanner trust that every byte it sees belongs to
//! a legal character.

use super::error::{ErrorKind, Utf8Fault};

const HI: u64 = 0x8080_8080_8080_8080;
const SPACES: u64 = 0x2020_2020_2020_2020;

/// Checks `bytes` for UTF-8 and XML legal characters.
///
/// Returns the length of the longest prefix made of complete, legal characters: shorter than
/// `bytes` only when the input ends inside a multi-byte sequence that may still complete.
/// An error carries the offset of the first byte of the offending character. `saw_cr` is set
/// when a CR was seen, so that text without one needs no line-end normalization.
pub(crate) fn check(bytes: &[u8], saw_cr: &mut bool) -> Result<usize, (usize, ErrorKind)> {
    let n = bytes.len();
    let mut i = 0;
    while i < n {
        // Sixteen bytes at a time while they are plain ASCII text.
        while let Some(chunk) = bytes.get(i..i + 16) {
            let a = u64::from_le_bytes(chunk[..8].try_into().expect("8 bytes"));
            let b = u64::from_le_bytes(chunk[8..].try_into().expect("8 bytes"));
            let high = (a | b) & HI;
            let low = (a.wrapping_sub(SPACES) & !a) | (b.wrapping_sub(SPACES) & !b);
            if high | (low & HI) != 0 {
                break;
            }
            i += 16;
        }
        if i >= n {
            break;
        }
        if let Some(chunk) = bytes.get(i..i + 8) {
            let w = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
            // All ASCII, and no byte below 0x20 (the classic "has byte less than" test).
            if w & HI == 0 && w.wrapping_sub(SPACES) & !w & HI == 0 {
                i += 8;
                continue;
            }
        }
        let b = bytes[i];
        if b < 0x80 {
            if b < 0x20 {
                match b {
                    b'\r' => *saw_cr = true,
                    b'\t' | b'\n' => {}
                    _ => return Err((i, ErrorKind::IllegalChar(b as u32))),
                }
            }
            i += 1;
            continue;
        }
        let len = match b {
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            0xC0 | 0xC1 => return Err((i, ErrorKind::InvalidUtf8(Utf8Fault::Overlong))),
            _ => return Err((i, ErrorKind::InvalidUtf8(Utf8Fault::InvalidByte(b)))),
        };
        for k in 1..len {
            match bytes.get(i + k) {
                None => return Ok(i),
                Some(c) if c & 0xC0 != 0x80 => {
                    return Err((i, ErrorKind::InvalidUtf8(Utf8Fault::Truncated)));
                }
                Some(_) => {}
            }
        }
        let b1 = bytes[i + 1];
        match (b, b1) {
            (0xE0, 0x80..=0x9F) | (0xF0, 0x80..=0x8F) => {
                return Err((i, ErrorKind::InvalidUtf8(Utf8Fault::Overlong)));
            }
            (0xED, 0xA0..=0xBF) => return Err((i, ErrorKind::InvalidUtf8(Utf8Fault::Surrogate))),
            (0xF4, 0x90..=0xBF) => return Err((i, ErrorKind::InvalidUtf8(Utf8Fault::TooLarge))),
            // U+FFFE and U+FFFF are not characters in XML.
            (0xEF, 0xBF) if bytes[i + 2] >= 0xBE => {
                let c = 0xFFF0 | (bytes[i + 2] as u32 & 0x3F);
                return Err((i, ErrorKind::IllegalChar(c)));
            }
            _ => {}
        }
        i += len;
    }
    Ok(n)
}

/// Is `c` a character that XML 1.0 allows (production 2)?
pub(crate) fn is_xml_char(c: u32) -> bool {
    matches!(c, 0x9 | 0xA | 0xD | 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF)
}

const fn ascii_table(start: bool) -> [bool; 128] {
    let mut t = [false; 128];
    let mut c = 0;
    while c < 128 {
        let b = c as u8;
        t[c] = b.is_ascii_alphabetic() || b == b'_' || b == b':';
        if !start {
            t[c] = t[c] || b.is_ascii_digit() || b == b'-' || b == b'.';
        }
        c += 1;
    }
    t
}

/// ASCII bytes that may continue a name (`NameChar`).
pub(crate) static ASCII_NAME: [bool; 128] = ascii_table(false);
/// ASCII bytes that may start a name (`NameStartChar`).
static ASCII_NAME_START: [bool; 128] = ascii_table(true);

/// XML 1.0 production 4, `NameStartChar`.
pub(crate) fn is_name_start(c: char) -> bool {
    let u = c as u32;
    if u < 0x80 {
        return ASCII_NAME_START[u as usize];
    }
    matches!(u,
        0xC0..=0xD6 | 0xD8..=0xF6 | 0xF8..=0x2FF | 0x370..=0x37D | 0x37F..=0x1FFF
        | 0x200C..=0x200D | 0x2070..=0x218F | 0x2C00..=0x2FEF | 0x3001..=0xD7FF
        | 0xF900..=0xFDCF | 0xFDF0..=0xFFFD | 0x10000..=0xEFFFF)
}

/// XML 1.0 production 4a, `NameChar`.
pub(crate) fn is_name_char(c: char) -> bool {
    let u = c as u32;
    if u < 0x80 {
        return ASCII_NAME[u as usize];
    }
    is_name_start(c) || matches!(u, 0xB7 | 0x300..=0x36F | 0x203F..=0x2040)
}

/// XML 1.0 production 3, `S`.
#[inline(always)]
pub(crate) fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// Decodes the character starting at `bytes[i]`, which `check` has already vetted.
#[inline]
pub(crate) fn decode_at(bytes: &[u8], i: usize) -> (char, usize) {
    let b = bytes[i];
    let len = match b {
        0..=0x7F => return (b as char, 1),
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    };
    // The caller shows only whole, checked characters; anything else reads as a character
    // that no name may hold, rather than a panic.
    match bytes
        .get(i..i + len)
        .and_then(|b| core::str::from_utf8(b).ok())
    {
        Some(s) => (s.chars().next().unwrap_or('\0'), len),
        None => ('\0', 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(bytes: &[u8]) -> Result<usize, (usize, ErrorKind)> {
        super::check(bytes, &mut false)
    }

    fn err(bytes: &[u8]) -> Option<(usize, ErrorKind)> {
        check(bytes).err()
    }

    #[test]
    fn accepts_legal_text_and_stops_before_an_incomplete_sequence() {
        assert_eq!(check("plain ascii text, long enough".as_bytes()), Ok(29));
        assert_eq!(check("é€😀\t\r\n".as_bytes()), Ok(12));
        assert_eq!(check(&[b'a', 0xE2, 0x82]), Ok(1));
        assert_eq!(check(&[0xF0]), Ok(0));
    }

    #[test]
    fn rejects_each_utf8_fault_at_the_start_of_the_character() {
        use ErrorKind::InvalidUtf8 as U;
        assert_eq!(err(&[b'a', 0xC0, 0x80]), Some((1, U(Utf8Fault::Overlong))));
        assert_eq!(err(&[0xE0, 0x80, 0x80]), Some((0, U(Utf8Fault::Overlong))));
        assert_eq!(
            err(&[0xF0, 0x80, 0x80, 0x80]),
            Some((0, U(Utf8Fault::Overlong)))
        );
        assert_eq!(err(&[0xED, 0xA0, 0x80]), Some((0, U(Utf8Fault::Surrogate))));
        assert_eq!(
            err(&[0xF4, 0x90, 0x80, 0x80]),
            Some((0, U(Utf8Fault::TooLarge)))
        );
        assert_eq!(err(&[0xE2, 0x82, b'a']), Some((0, U(Utf8Fault::Truncated))));
        assert_eq!(err(&[0x80]), Some((0, U(Utf8Fault::InvalidByte(0x80)))));
        assert_eq!(err(&[0xFF]), Some((0, U(Utf8Fault::InvalidByte(0xFF)))));
    }

    #[test]
    fn rejects_characters_xml_forbids_even_inside_a_fast_word() {
        assert_eq!(err(b"abcdefg\0"), Some((7, ErrorKind::IllegalChar(0))));
        assert_eq!(
            err(b"ab\x1bcdefghij"),
            Some((2, ErrorKind::IllegalChar(0x1B)))
        );
        assert_eq!(
            err("x\u{FFFE}".as_bytes()),
            Some((1, ErrorKind::IllegalChar(0xFFFE)))
        );
        assert_eq!(
            err("x\u{FFFF}".as_bytes()),
            Some((1, ErrorKind::IllegalChar(0xFFFF)))
        );
        assert_eq!(check("\u{FFFD}\u{10FFFF}".as_bytes()), Ok(7));
    }

    #[test]
    fn finds_a_fault_at_every_position_of_a_long_run() {
        for at in 0..40 {
            for bad in [0u8, 0x1F, 0x80, 0xFF] {
                let mut text = vec![b'x'; 40];
                text[at] = bad;
                assert_eq!(
                    check(&text).err().map(|e| e.0),
                    Some(at),
                    "{bad:#x} at {at}"
                );
            }
            let mut text = vec![b'y'; 40];
            text[at] = b'\r';
            let mut cr = false;
            assert_eq!(super::check(&text, &mut cr), Ok(40));
            assert!(cr, "CR at {at}");
        }
    }

    #[test]
    fn reports_whether_a_cr_was_seen() {
        let mut cr = false;
        super::check(b"no carriage return here\n\t", &mut cr).unwrap();
        assert!(!cr);
        super::check(b"one\r\n", &mut cr).unwrap();
        assert!(cr);
    }

    #[test]
    fn name_classes_follow_the_xml_productions() {
        assert!(is_name_start('a') && is_name_start('_') && is_name_start('é'));
        assert!(!is_name_start('1') && !is_name_start('-') && !is_name_start('\u{D7}'));
        assert!(is_name_char('1') && is_name_char('\u{B7}') && is_name_char('\u{300}'));
        assert!(!is_name_char(' ') && !is_name_char('\u{F7}'));
    }
}
