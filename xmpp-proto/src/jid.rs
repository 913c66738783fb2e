//! XMPP addresses (JIDs) as defined by RFC 7622.
//!
//! A JID has the form `[localpart@]domainpart[/resourcepart]`
//! (RFC 7622 section 3.1). This module parses JIDs, prepares and enforces
//! each part with the rules of RFC 7622, and stores the result in one
//! normalized string, so that two JIDs are equal exactly when they address
//! the same entity, and [`Display`](fmt::Display) is a plain slice.
//!
//! Three types cover the three ways a protocol uses an address:
//!
//! * [`Jid`]: any JID, with or without a resourcepart;
//! * [`BareJid`]: a JID that never has a resourcepart (`user@example.com`);
//! * [`FullJid`]: a JID that always has a resourcepart
//!   (`user@example.com/phone`).
//!
//! # Rules applied
//!
//! * **Splitting** (RFC 7622 section 3.1): the resourcepart is everything
//!   after the first `/` (so it may contain `@` and `/`); the localpart is
//!   everything before the first `@` of what remains. A separator with
//!   nothing on one side (`@example.com`, `example.com/`) is an error, not an
//!   absent part.
//! * **Localpart** (RFC 7622 section 3.3): the PRECIS `UsernameCaseMapped`
//!   profile of RFC 8265 section 3.3 is enforced (width mapping, lowercasing,
//!   NFC, bidi rule), then the characters `"` `&` `'` `/` `:` `<` `>` `@`
//!   are refused (RFC 7622 section 3.3.1). The result must be 1 to 1023
//!   bytes long.
//! * **Resourcepart** (RFC 7622 section 3.4): the PRECIS `OpaqueString`
//!   profile of RFC 8265 section 4.2 is enforced (non-ASCII spaces become
//!   U+0020, NFC). The result must be 1 to 1023 bytes long.
//! * **Domainpart** (RFC 7622 section 3.2): either an IP literal or a domain
//!   name, 1 to 1023 bytes long:
//!   * an IPv6 address in brackets (`[::1]`) is kept in brackets and written
//!     in its canonical RFC 5952 form (lowercase, shortest);
//!   * a domainpart made only of digits and dots must be a valid dotted
//!     IPv4 address (`192.0.2.1`; no leading zeros) and is kept as is;
//!   * anything else is a domain name: one trailing dot is removed
//!     (RFC 7622 section 3.2), UTS #46 non-transitional processing maps it
//!     (IDNA2008 with the UTS #46 mappings: lowercasing, width mapping,
//!     ideographic full stops to `.`, etc.), and it is stored in Unicode form
//!     (U-labels). Every label must be 1 to 63 bytes long in its ASCII
//!     (A-label) form.
//!
//! Each preparation is applied again to its own output until it no longer
//! changes (RFC 8264 section 7); a part that does not settle within three
//! further rounds is refused. For the profiles used here one round normally
//! suffices, so the extra round is skipped when the output is pure ASCII.
//!
//! A part made only of ASCII bytes that its preparation provably leaves
//! unchanged (lowercase letters, digits and most punctuation in a localpart,
//! printable ASCII in a resourcepart, lowercase LDH labels and `_` in a domain
//! name) is accepted as it is, without running PRECIS or IDNA: the common case
//! on the wire. Everything else takes the full path, which alone refuses; a
//! property test checks that both paths agree.
//!
//! # Decisions where the RFCs leave room
//!
//! * **ASCII in domain names.** Letters, digits, `-`, `.` and also `_` are
//!   accepted; every other ASCII character (space, control characters and
//!   all other punctuation, such as `@`, `/`, `:`, `[`, `%` or `*`) is
//!   refused with [`JidError::DomainForbiddenChar`]. This is UTS #46 with
//!   *UseSTD3ASCIIRules* relaxed for the underscore, which occurs in real
//!   host names (`_xmpp-client` style service names, container names).
//!   Hyphens are not checked for position (UTS #46 *CheckHyphens=false*, as
//!   in the WHATWG URL standard), because names like `-foo-.example` and
//!   `ab--cd.example` exist in the wild. Punycode labels (`xn--…`) must
//!   decode to valid IDNA labels; the bidi and joiner rules of IDNA2008 are
//!   checked. The DNS limit of 253 bytes for a whole name is *not* applied;
//!   RFC 7622 allows 1023 bytes.
//! * **Numeric domains.** A domainpart of only digits and dots that is not a
//!   valid IPv4 address (`1.2.3.256`, `01.2.3.4`, `123`) is refused with
//!   [`JidError::InvalidIpLiteral`] rather than taken as a host name, since
//!   no top-level domain is numeric and such strings are ambiguous.
//! * **Leading and trailing spaces in resourceparts.** Table 2 of RFC 7622
//!   section 3.5 lists `juliet@example.com/ foo` as not a JID ("leading
//!   space in resourcepart"), but no rule in RFC 7622 or in the
//!   `OpaqueString` profile (RFC 8265 section 4.2) forbids it: the
//!   `FreeformClass` allows U+0020 anywhere. This module follows the rules,
//!   not the table: such resourceparts are accepted and kept as they are.
//!   Refusing an address that other servers treat as valid would lose
//!   stanzas.
//! * **Ordering.** [`Ord`] compares the normalized strings byte by byte. It
//!   is consistent with [`Eq`] and [`Hash`] but has no other meaning.
//! * **Lookups.** JIDs do not implement `Borrow<str>` on purpose: a lookup
//!   with an unnormalized string would silently miss. Parse first.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::num::NonZeroU16;
use std::str::FromStr;

use idna::uts46::{AsciiDenyList, DnsLength, Hyphens, Uts46};
use precis_profiles::precis_core::profile::PrecisFastInvocation;
use precis_profiles::precis_core::{
    DerivedPropertyValue, Error as PrecisError, UnexpectedError as PrecisUnexpected,
};
use precis_profiles::{OpaqueString, UsernameCaseMapped};

/// The largest size in bytes of each of the three parts after preparation
/// (RFC 7622 sections 3.2, 3.3 and 3.4).
pub const MAX_PART_LEN: usize = 1023;

/// The largest size in bytes of each part *before* preparation: a longer part is refused
/// without running PRECIS or IDNA over it, so that a peer cannot make the core prepare a
/// 200 KB address only to refuse it. Preparation shrinks no character more than fourfold
/// (fullwidth forms map 3 bytes to 1, mathematical letters in domain names 4 bytes to 1),
/// so no part this bound refuses could have prepared to 1023 bytes or fewer; the one
/// exception, a domain padded with thousands of bytes of characters UTS 46 deletes, is
/// refused as too long.
pub const MAX_RAW_PART_LEN: usize = 4 * MAX_PART_LEN;

/// The largest size in bytes of one domain label in its ASCII form
/// (RFC 1035 section 2.3.4, RFC 5890 section 2.3.2.1).
pub const MAX_LABEL_LEN: usize = 63;

/// The characters RFC 7622 section 3.3.1 forbids in a localpart, on top of
/// what the `UsernameCaseMapped` profile forbids.
const LOCAL_FORBIDDEN: [char; 8] = ['"', '&', '\'', '/', ':', '<', '>', '@'];

/// ASCII punctuation refused in domain names: everything except `-`, `.`
/// and `_`. Space, controls and DEL are refused through `deny_glyphless`.
const DOMAIN_DENIED_PUNCT: &str = "!\"#$%&'()*+,/:;<=>?@[\\]^`{|}~";

const DOMAIN_DENY_LIST: AsciiDenyList = AsciiDenyList::new(true, DOMAIN_DENIED_PUNCT);

/// How many extra rounds of preparation are tried before a part that keeps
/// changing is refused (RFC 8264 section 7).
const MAX_EXTRA_ROUNDS: usize = 3;

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// Why a string was refused by a PRECIS profile (RFC 8264, RFC 8265).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PrecisViolation {
    /// The character is not allowed by the profile at all (for example a
    /// space, a symbol or a compatibility character in a localpart, or a
    /// control character anywhere).
    Disallowed(char),
    /// The character is allowed only in certain contexts (such as ZERO WIDTH
    /// JOINER after a virama, RFC 5892 appendix A), and this is not one.
    Context(char),
    /// The string mixes right-to-left and left-to-right characters in a way
    /// the bidi rule of RFC 5893 forbids.
    Bidi,
    /// The string still changed after the rules were applied four times
    /// (RFC 8264 section 7).
    Unstable,
    /// The PRECIS implementation reported an error this module does not
    /// know how to describe.
    Other,
}

impl fmt::Display for PrecisViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            PrecisViolation::Disallowed(c) => {
                write!(f, "the character U+{:04X} {:?} is not allowed", c as u32, c)
            }
            PrecisViolation::Context(c) => write!(
                f,
                "the character U+{:04X} {:?} is allowed only next to certain other \
                 characters, and it is not next to them here",
                c as u32, c
            ),
            PrecisViolation::Bidi => f.write_str(
                "it mixes right-to-left and left-to-right text in a way the bidi rule \
                 (RFC 5893) forbids",
            ),
            PrecisViolation::Unstable => f.write_str(
                "it keeps changing when the preparation rules are applied again \
                 (RFC 8264 section 7)",
            ),
            PrecisViolation::Other => f.write_str("the PRECIS library refused it"),
        }
    }
}

/// Why a string is not a valid JID, or not the kind of JID required.
///
/// Each variant names the part concerned and the rule it breaks. The
/// [`Display`](fmt::Display) text is meant for people and cites the RFC.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum JidError {
    /// There is an `@` with nothing before it (`@example.com`).
    EmptyLocal,
    /// The domainpart is empty (`juliet@`, `/foobar`, or the empty string).
    EmptyDomain,
    /// There is a `/` with nothing after it (`example.com/`).
    EmptyResource,
    /// The localpart is longer than 1023 bytes after preparation.
    LocalTooLong,
    /// The domainpart is longer than 1023 bytes after preparation.
    DomainTooLong,
    /// The resourcepart is longer than 1023 bytes after preparation.
    ResourceTooLong,
    /// The localpart breaks the PRECIS `UsernameCaseMapped` profile.
    LocalPrecis(PrecisViolation),
    /// The localpart contains one of `"` `&` `'` `/` `:` `<` `>` `@`
    /// (possibly after width mapping, e.g. from U+FF20 FULLWIDTH
    /// COMMERCIAL AT).
    LocalForbiddenChar(char),
    /// The resourcepart breaks the PRECIS `OpaqueString` profile.
    ResourcePrecis(PrecisViolation),
    /// The domainpart contains an ASCII character that is never allowed in
    /// a domain name here (space, control, or punctuation other than `-`,
    /// `.` and `_`).
    DomainForbiddenChar(char),
    /// The domainpart is not a valid internationalized domain name
    /// (IDNA2008 / UTS #46 processing refused it).
    DomainIdna,
    /// The domainpart has an empty label (`a..b`, `.example.com`, or a
    /// second trailing dot).
    DomainEmptyLabel,
    /// A label of the domainpart is longer than 63 bytes in ASCII form.
    DomainLabelTooLong,
    /// The domainpart is bracketed, or made only of digits and dots, but is
    /// not a valid IPv6 or IPv4 address.
    InvalidIpLiteral,
    /// A full JID was required, but this one has no resourcepart.
    NotFull,
    /// A bare JID was required, but this one has a resourcepart.
    NotBare,
}

impl fmt::Display for JidError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JidError::EmptyLocal => f.write_str(
                "the localpart is empty (nothing before '@'), which RFC 7622 section 3.3 \
                 forbids; leave out the '@' for an address without a localpart",
            ),
            JidError::EmptyDomain => f.write_str(
                "the domainpart is empty, but every address needs one \
                 (RFC 7622 section 3.2)",
            ),
            JidError::EmptyResource => f.write_str(
                "the resourcepart is empty (nothing after '/'), which RFC 7622 section 3.4 \
                 forbids; leave out the '/' for an address without a resourcepart",
            ),
            JidError::LocalTooLong => f.write_str(
                "the localpart is longer than 1023 bytes after preparation, the limit set \
                 by RFC 7622 section 3.3",
            ),
            JidError::DomainTooLong => f.write_str(
                "the domainpart is longer than 1023 bytes after preparation, the limit set \
                 by RFC 7622 section 3.2",
            ),
            JidError::ResourceTooLong => f.write_str(
                "the resourcepart is longer than 1023 bytes after preparation, the limit \
                 set by RFC 7622 section 3.4",
            ),
            JidError::LocalPrecis(v) => write!(
                f,
                "the localpart is not a valid username (PRECIS UsernameCaseMapped profile, \
                 RFC 7622 section 3.3.2 and RFC 8265 section 3.3): {v}"
            ),
            JidError::LocalForbiddenChar(c) => write!(
                f,
                "the localpart contains {c:?}, which RFC 7622 section 3.3.1 forbids"
            ),
            JidError::ResourcePrecis(v) => write!(
                f,
                "the resourcepart is not valid (PRECIS OpaqueString profile, RFC 7622 \
                 section 3.4.2 and RFC 8265 section 4.2): {v}"
            ),
            JidError::DomainForbiddenChar(c) => write!(
                f,
                "the domainpart contains U+{:04X} {c:?}, which is not allowed in a domain \
                 name (RFC 7622 section 3.2)",
                *c as u32
            ),
            JidError::DomainIdna => f.write_str(
                "the domainpart is not a valid internationalized domain name under IDNA2008 \
                 and UTS #46 (RFC 7622 section 3.2.2)",
            ),
            JidError::DomainEmptyLabel => f.write_str(
                "the domainpart has an empty label (two dots in a row, or a dot at the \
                 start), which RFC 7622 section 3.2 forbids",
            ),
            JidError::DomainLabelTooLong => f.write_str(
                "a label of the domainpart is longer than 63 bytes in its ASCII form, the \
                 DNS limit (RFC 1035 section 2.3.4, RFC 5890)",
            ),
            JidError::InvalidIpLiteral => f.write_str(
                "the domainpart looks like an IP address but is not a valid one: IPv6 \
                 must be in brackets like [2001:db8::1], IPv4 must be four numbers from 0 \
                 to 255 without leading zeros (RFC 7622 section 3.2)",
            ),
            JidError::NotFull => f.write_str(
                "a full JID (with a resourcepart, like user@example.com/phone) is required \
                 here, but this one has no resourcepart",
            ),
            JidError::NotBare => f.write_str(
                "a bare JID (without a resourcepart, like user@example.com) is required \
                 here, but this one has a resourcepart",
            ),
        }
    }
}

impl std::error::Error for JidError {}

// ---------------------------------------------------------------------------
// Preparation of each part
// ---------------------------------------------------------------------------

fn codepoint(cp: u32) -> char {
    char::from_u32(cp).unwrap_or(char::REPLACEMENT_CHARACTER)
}

/// Translates a PRECIS error. `whole_string` is what `Error::Invalid` means
/// for the profile at hand (emptiness is checked before PRECIS is called).
fn violation(e: PrecisError, whole_string: PrecisViolation) -> PrecisViolation {
    match e {
        PrecisError::BadCodepoint(info) => match info.property {
            DerivedPropertyValue::ContextJ | DerivedPropertyValue::ContextO => {
                PrecisViolation::Context(codepoint(info.cp))
            }
            _ => PrecisViolation::Disallowed(codepoint(info.cp)),
        },
        PrecisError::Unexpected(
            PrecisUnexpected::ContextRuleNotApplicable(info)
            | PrecisUnexpected::MissingContextRule(info),
        ) => PrecisViolation::Context(codepoint(info.cp)),
        PrecisError::Invalid => whole_string,
        _ => PrecisViolation::Other,
    }
}

/// Applies `enforce` until the output is stable (RFC 8264 section 7).
fn enforce_stable<'a>(
    input: &'a str,
    enforce: fn(&str) -> Result<Cow<'_, str>, PrecisError>,
    whole_string: PrecisViolation,
) -> Result<Cow<'a, str>, PrecisViolation> {
    let mut out = enforce(input).map_err(|e| violation(e, whole_string))?;
    // The profiles used here only lowercase and normalize: pure ASCII output
    // cannot change again, so skip the extra round in the common case. Nor can
    // output equal to the input: enforcing is a function, and the input is
    // already its fixed point (a non-ASCII nickname that needs no mapping).
    if out.is_ascii() || *out == *input {
        return Ok(out);
    }
    for _ in 0..MAX_EXTRA_ROUNDS {
        let again = enforce(&out).map_err(|e| violation(e, whole_string))?;
        if again == out {
            return Ok(out);
        }
        out = Cow::Owned(again.into_owned());
    }
    Err(PrecisViolation::Unstable)
}

fn username_case_mapped(s: &str) -> Result<Cow<'_, str>, PrecisError> {
    UsernameCaseMapped::enforce(s)
}

fn opaque_string(s: &str) -> Result<Cow<'_, str>, PrecisError> {
    OpaqueString::enforce(s)
}

// ---------------------------------------------------------------------------
// The ASCII fast path
// ---------------------------------------------------------------------------
//
// Most addresses on the wire are ASCII that preparation leaves as it is. For those, every
// rule below reduces to a check of each byte against a set, which is what the fast path
// does; anything else (a byte outside the set, a non-ASCII character, an edge case of the
// domain rules) takes the full path, which alone can refuse. The sets are derived from the
// profiles, and a property test (`fast_path_props` below) checks on generated ASCII-heavy
// strings that both paths give the same decision and the same output.

/// The ASCII bytes in `lo..=hi`, as a bit set.
const fn ascii_range(lo: u8, hi: u8) -> u128 {
    let mut set = 0u128;
    let mut b = lo;
    while b <= hi {
        set |= 1 << b;
        b += 1;
    }
    set
}

/// The bytes of `chars`, as a bit set.
const fn ascii_set(chars: &[u8]) -> u128 {
    let mut set = 0u128;
    let mut i = 0;
    while i < chars.len() {
        set |= 1 << chars[i];
        i += 1;
    }
    set
}

/// Localpart bytes that `UsernameCaseMapped` (RFC 8265 section 3.3) leaves unchanged and
/// RFC 7622 section 3.3.1 allows: the `IdentifierClass` takes every printable ASCII
/// character but space as PVALID (RFC 8264 section 9.1, `ASCII7`); width mapping and NFC
/// change no ASCII character; case mapping changes `A`-`Z`, which are left out; the bidi rule
/// applies only to strings with right-to-left characters. Then `"` `&` `'` `/` `:` `<` `>`
/// `@` are forbidden.
const LOCAL_SAME: u128 =
    ascii_range(0x21, 0x7E) & !ascii_range(b'A', b'Z') & !ascii_set(b"\"&'/:<>@");

/// Resourcepart bytes that `OpaqueString` (RFC 8265 section 4.2) leaves unchanged: the
/// `FreeformClass` takes printable ASCII and U+0020 (RFC 8264 section 9.2); the only
/// mappings are of non-ASCII spaces and NFC; no case mapping, no directionality rule.
const RESOURCE_SAME: u128 = ascii_range(0x20, 0x7E);

/// Domain bytes that UTS #46 processing (non-transitional, with this module's deny list)
/// leaves unchanged: lowercase letters, digits, `-`, `_` and the label separator `.`
/// (uppercase letters are mapped, every other ASCII byte is refused). Labels starting with
/// `xn--` are decoded, and some shapes are refused or changed (empty labels, a trailing dot,
/// long labels, digits and dots only); [`domain_unchanged`] leaves those to the full path.
const DOMAIN_SAME: u128 = ascii_range(b'a', b'z') | ascii_range(b'0', b'9') | ascii_set(b"-_.");

/// What the fast path may take of each byte: [`LOCAL`], [`DOMAIN`] and [`RESOURCE`] bits,
/// from the sets above (one load a byte, where a 128-bit set costs a shift).
static FAST: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 128 {
        let bit = 1u128 << b;
        t[b] = if LOCAL_SAME & bit != 0 { LOCAL } else { 0 }
            | if DOMAIN_SAME & bit != 0 { DOMAIN } else { 0 }
            | if RESOURCE_SAME & bit != 0 {
                RESOURCE
            } else {
                0
            };
        b += 1;
    }
    t
};
const LOCAL: u8 = 1;
const DOMAIN: u8 = 2;
const RESOURCE: u8 = 4;

fn all_in(class: u8, s: &str) -> bool {
    all_bytes_in(class, s.as_bytes())
}

fn all_bytes_in(class: u8, s: &[u8]) -> bool {
    s.iter().all(|&b| FAST[usize::from(b)] & class != 0)
}

/// Is `raw` a localpart that preparation accepts and leaves unchanged, by the fast check?
fn local_unchanged(raw: &str) -> bool {
    !raw.is_empty() && raw.len() <= MAX_PART_LEN && all_in(LOCAL, raw)
}

/// Is `raw` a resourcepart that preparation accepts and leaves unchanged, by the fast check?
fn resource_unchanged(raw: &str) -> bool {
    !raw.is_empty() && raw.len() <= MAX_PART_LEN && all_in(RESOURCE, raw)
}

/// Is `raw` a domain name that preparation accepts and leaves unchanged, by the fast check:
/// [`DOMAIN_SAME`] bytes only, labels of 1 to 63 bytes none of which starts with `xn--`, no
/// trailing dot, and not digits and dots alone (which must be an IPv4 address).
fn domain_unchanged(raw: &str) -> bool {
    domain_bytes_unchanged(raw.as_bytes())
}

/// [`domain_unchanged`] on the bytes of a `str`.
fn domain_bytes_unchanged(b: &[u8]) -> bool {
    if b.is_empty() || b.len() > MAX_PART_LEN {
        return false;
    }
    let label_ok =
        |label: &[u8]| (1..=MAX_LABEL_LEN).contains(&label.len()) && !label.starts_with(b"xn--");
    let (mut label_start, mut not_numeric) = (0, false);
    for (i, &c) in b.iter().enumerate() {
        if FAST[usize::from(c)] & DOMAIN == 0 {
            return false;
        }
        if c == b'.' {
            if !label_ok(&b[label_start..i]) {
                return false;
            }
            label_start = i + 1;
        } else {
            not_numeric |= !c.is_ascii_digit();
        }
    }
    not_numeric && label_ok(&b[label_start..])
}

/// Prepares and enforces a localpart (RFC 7622 section 3.3).
fn prep_local(raw: &str) -> Result<Cow<'_, str>, JidError> {
    if local_unchanged(raw) {
        return Ok(Cow::Borrowed(raw));
    }
    prep_local_full(raw)
}

/// [`prep_local`] without the fast path.
fn prep_local_full(raw: &str) -> Result<Cow<'_, str>, JidError> {
    if raw.is_empty() {
        return Err(JidError::EmptyLocal);
    }
    if raw.len() > MAX_RAW_PART_LEN {
        return Err(JidError::LocalTooLong);
    }
    let out = enforce_stable(raw, username_case_mapped, PrecisViolation::Bidi)
        .map_err(JidError::LocalPrecis)?;
    if let Some(c) = out.chars().find(|c| LOCAL_FORBIDDEN.contains(c)) {
        return Err(JidError::LocalForbiddenChar(c));
    }
    if out.len() > MAX_PART_LEN {
        return Err(JidError::LocalTooLong);
    }
    Ok(out)
}

/// Prepares and enforces a resourcepart (RFC 7622 section 3.4).
fn prep_resource(raw: &str) -> Result<Cow<'_, str>, JidError> {
    if resource_unchanged(raw) {
        return Ok(Cow::Borrowed(raw));
    }
    prep_resource_full(raw)
}

/// [`prep_resource`] without the fast path.
fn prep_resource_full(raw: &str) -> Result<Cow<'_, str>, JidError> {
    if raw.is_empty() {
        return Err(JidError::EmptyResource);
    }
    if raw.len() > MAX_RAW_PART_LEN {
        return Err(JidError::ResourceTooLong);
    }
    let out = enforce_stable(raw, opaque_string, PrecisViolation::Other)
        .map_err(JidError::ResourcePrecis)?;
    if out.len() > MAX_PART_LEN {
        return Err(JidError::ResourceTooLong);
    }
    Ok(out)
}

/// Prepares a domainpart (RFC 7622 section 3.2).
fn prep_domain(raw: &str) -> Result<Cow<'_, str>, JidError> {
    if domain_unchanged(raw) {
        return Ok(Cow::Borrowed(raw));
    }
    prep_domain_full(raw)
}

/// Whether a label of `raw`, mapped as UTS #46 maps it before any Punycode is decoded, has
/// more than [`MAX_LABEL_LEN`] characters, so that its ASCII form must be too long: an
/// A-label has at least one character per code point of its U-label, and an ASCII label
/// stays as it is. Checked before IDNA, whose Punycode decoding takes time quadratic in a
/// label's length: the fuzzer found a 1 KB `xn--` label costing a millisecond per address,
/// then the same label with U+FEFF (which the mapping deletes) inside it, far past the small
/// constant per byte received that a peer may cost. The mapping itself is linear.
fn has_long_label(raw: &str) -> bool {
    let mut len = 0;
    for c in idna_adapter::Adapter::new().map_normalize(raw.chars()) {
        len = if c == '.' { 0 } else { len + 1 };
        if len > MAX_LABEL_LEN {
            return true;
        }
    }
    false
}

/// [`prep_domain`] without the fast path.
fn prep_domain_full(raw: &str) -> Result<Cow<'_, str>, JidError> {
    let prepared = prep_domain_once(raw)?;
    // The stored form must prepare to itself, or a JID would not parse back from its own
    // display (the fuzzer found Punycode labels whose Unicode form IDNA then refuses).
    if prepared != raw && prep_domain_once(&prepared).ok().as_deref() != Some(&*prepared) {
        return Err(JidError::DomainIdna);
    }
    Ok(prepared)
}

fn prep_domain_once(raw: &str) -> Result<Cow<'_, str>, JidError> {
    if raw.is_empty() {
        return Err(JidError::EmptyDomain);
    }
    if raw.len() > MAX_RAW_PART_LEN {
        return Err(JidError::DomainTooLong);
    }

    // IPv6 literal.
    if let Some(inner) = raw.strip_prefix('[') {
        let addr = inner
            .strip_suffix(']')
            .and_then(|a| a.parse::<Ipv6Addr>().ok())
            .ok_or(JidError::InvalidIpLiteral)?;
        let canonical = format!("[{addr}]");
        return Ok(if canonical == raw {
            Cow::Borrowed(raw)
        } else {
            Cow::Owned(canonical)
        });
    }

    // Better errors for ASCII characters UTS #46 would refuse anyway.
    if let Some(c) = raw
        .chars()
        .find(|&c| c.is_ascii_control() || c == ' ' || DOMAIN_DENIED_PUNCT.contains(c))
    {
        return Err(JidError::DomainForbiddenChar(c));
    }

    if has_long_label(raw) {
        return Err(JidError::DomainLabelTooLong);
    }

    let uts46 = Uts46::new();
    let ascii = uts46
        .to_ascii(
            raw.as_bytes(),
            DOMAIN_DENY_LIST,
            Hyphens::Allow,
            DnsLength::Ignore,
        )
        .map_err(|_| JidError::DomainIdna)?;
    // The mapping may have produced the trailing dot (U+3002 etc.).
    let ascii_trimmed = ascii.strip_suffix('.').unwrap_or(&ascii);
    if ascii_trimmed.is_empty() {
        return Err(JidError::EmptyDomain);
    }

    if ascii_trimmed.split('.').any(str::is_empty) {
        return Err(JidError::DomainEmptyLabel);
    }

    // IPv4 literal, or something that pretends to be one.
    if ascii_trimmed
        .bytes()
        .all(|b| b.is_ascii_digit() || b == b'.')
    {
        if ascii_trimmed.parse::<Ipv4Addr>().is_err() {
            return Err(JidError::InvalidIpLiteral);
        }
        return Ok(if ascii_trimmed == raw {
            Cow::Borrowed(raw)
        } else {
            Cow::Owned(ascii_trimmed.to_owned())
        });
    }

    if ascii_trimmed
        .split('.')
        .any(|label| label.len() > MAX_LABEL_LEN)
    {
        return Err(JidError::DomainLabelTooLong);
    }

    let unicode: Cow<'_, str> = if ascii_trimmed.contains("xn--") {
        let (unicode, result) =
            uts46.to_unicode(ascii_trimmed.as_bytes(), DOMAIN_DENY_LIST, Hyphens::Allow);
        result.map_err(|_| JidError::DomainIdna)?;
        Cow::Owned(unicode.into_owned())
    } else {
        Cow::Borrowed(ascii_trimmed)
    };
    if unicode.len() > MAX_PART_LEN {
        return Err(JidError::DomainTooLong);
    }
    Ok(if unicode == raw {
        Cow::Borrowed(raw)
    } else {
        Cow::Owned(unicode.into_owned())
    })
}

/// Splits a JID string into its raw parts (RFC 7622 section 3.1).
fn split(s: &str) -> (Option<&str>, &str, Option<&str>) {
    // Addresses are short: a plain loop is cheaper than setting up a memchr search.
    let b = s.as_bytes();
    let (rest, resource) = match b.iter().position(|&c| c == b'/') {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let (local, domain) = match rest.as_bytes().iter().position(|&c| c == b'@') {
        Some(i) => (Some(&rest[..i]), &rest[i + 1..]),
        None => (None, rest),
    };
    (local, domain, resource)
}

fn offset(i: usize) -> Option<NonZeroU16> {
    // Parts are at most 1023 bytes, so offsets stay below 2 * 1024.
    NonZeroU16::new(u16::try_from(i).expect("JID offsets fit in u16"))
}

// ---------------------------------------------------------------------------
// Jid
// ---------------------------------------------------------------------------

/// An XMPP address, with or without a resourcepart (RFC 7622).
///
/// The value is always valid and normalized: parsing `"Juliet@Example.COM"`
/// gives the same `Jid` as parsing `"juliet@example.com"`. Equality,
/// hashing and ordering use the normalized string.
///
/// ```
/// # use xmpp_sansio::jid::Jid;
/// let jid: Jid = "Juliet@Example.COM/Balcony".parse().unwrap();
/// assert_eq!(jid.local(), Some("juliet"));
/// assert_eq!(jid.domain(), "example.com");
/// assert_eq!(jid.resource(), Some("Balcony"));
/// assert_eq!(jid.to_string(), "juliet@example.com/Balcony");
/// ```
#[derive(Clone)]
pub struct Jid {
    /// `local@domain/resource`, each part prepared.
    normalized: String,
    /// Byte index of the `@`, if there is a localpart (never 0: the
    /// localpart is not empty).
    at: Option<NonZeroU16>,
    /// Byte index of the `/`, if there is a resourcepart (never 0: the
    /// domainpart is not empty).
    slash: Option<NonZeroU16>,
}

impl Jid {
    /// Parses and normalizes a JID, with or without a resourcepart.
    ///
    /// # Errors
    ///
    /// Returns the first rule broken, checking the localpart, then the
    /// domainpart, then the resourcepart.
    pub fn parse(s: &str) -> Result<Jid, JidError> {
        if let Some(jid) = Jid::parse_unchanged(s) {
            return Ok(jid);
        }
        let (local, domain, resource) = split(s);
        Jid::new(local, domain, resource)
    }

    /// The fast path of [`Jid::parse`] for an address whose every part preparation leaves
    /// unchanged ([`local_unchanged`], [`domain_unchanged`], [`resource_unchanged`]): split
    /// and checked in one pass, stored as it is. `None` sends it to the full path.
    fn parse_unchanged(s: &str) -> Option<Jid> {
        let (at, slash) = Jid::split_unchanged(s)?;
        Some(Jid {
            normalized: s.to_owned(),
            at,
            slash,
        })
    }

    /// Is `s` a valid JID? The answer of [`Jid::parse`], without keeping the address: the
    /// fast path allocates nothing, so a server that only checks an address it forwards
    /// (RFC 6120 section 8.1.1: `jid-malformed`) pays no copy for it.
    pub(crate) fn check(s: &str) -> Result<(), JidError> {
        match Jid::split_unchanged(s) {
            Some(_) => Ok(()),
            None => Jid::parse(s).map(drop),
        }
    }

    /// The split of the fast path: where the `@` and the `/` are, when every part is one
    /// that preparation leaves unchanged; `None` sends the address to the full path.
    #[allow(clippy::type_complexity)]
    fn split_unchanged(s: &str) -> Option<(Option<NonZeroU16>, Option<NonZeroU16>)> {
        let b = s.as_bytes();
        // Each part is read once: the first `/` ends the domain, the first `@` before it
        // ends the localpart (a second `@` is in the domain, whose set refuses it).
        let slash = memchr::memchr(b'/', b);
        let head = &b[..slash.unwrap_or(b.len())];
        let at = memchr::memchr(b'@', head);
        let domain = match at {
            Some(a) => {
                let local = &head[..a];
                if !(1..=MAX_PART_LEN).contains(&a) || !all_bytes_in(LOCAL, local) {
                    return None;
                }
                &head[a + 1..]
            }
            None => head,
        };
        let resource_ok = slash.is_none_or(|i| resource_unchanged(&s[i + 1..]));
        (domain_bytes_unchanged(domain) && resource_ok)
            .then(|| (at.and_then(offset), slash.and_then(offset)))
    }

    /// Builds a JID from separate parts, preparing each one.
    ///
    /// Unlike [`Jid::parse`], nothing is split: a `/` or `@` in `resource`
    /// stays in the resourcepart, and one in `local` or `domain` is an error.
    ///
    /// # Errors
    ///
    /// Returns the first rule broken, checking the localpart, then the
    /// domainpart, then the resourcepart.
    pub fn new(local: Option<&str>, domain: &str, resource: Option<&str>) -> Result<Jid, JidError> {
        let local = local.map(prep_local).transpose()?;
        let domain = prep_domain(domain)?;
        let resource = resource.map(prep_resource).transpose()?;
        Ok(Jid::assemble(
            local.as_deref(),
            &domain,
            resource.as_deref(),
        ))
    }

    /// Joins parts that are already prepared.
    fn assemble(local: Option<&str>, domain: &str, resource: Option<&str>) -> Jid {
        let len =
            local.map_or(0, |l| l.len() + 1) + domain.len() + resource.map_or(0, |r| r.len() + 1);
        let mut normalized = String::with_capacity(len);
        let mut at = None;
        if let Some(l) = local {
            normalized.push_str(l);
            at = offset(normalized.len());
            normalized.push('@');
        }
        normalized.push_str(domain);
        let mut slash = None;
        if let Some(r) = resource {
            slash = offset(normalized.len());
            normalized.push('/');
            normalized.push_str(r);
        }
        Jid {
            normalized,
            at,
            slash,
        }
    }

    /// The localpart, if any (`juliet` in `juliet@example.com/balcony`).
    pub fn local(&self) -> Option<&str> {
        self.at.map(|at| &self.normalized[..usize::from(at.get())])
    }

    /// The domainpart (`example.com` in `juliet@example.com/balcony`).
    ///
    /// Domain names are in Unicode form (U-labels), lowercase, without a
    /// trailing dot; IPv6 literals keep their brackets.
    pub fn domain(&self) -> &str {
        let start = self.at.map_or(0, |at| usize::from(at.get()) + 1);
        let end = self
            .slash
            .map_or(self.normalized.len(), |slash| usize::from(slash.get()));
        &self.normalized[start..end]
    }

    /// The resourcepart, if any (`balcony` in `juliet@example.com/balcony`).
    pub fn resource(&self) -> Option<&str> {
        self.slash
            .map(|slash| &self.normalized[usize::from(slash.get()) + 1..])
    }

    /// Whether this JID has no resourcepart.
    pub fn is_bare(&self) -> bool {
        self.slash.is_none()
    }

    /// Whether this JID has a resourcepart.
    pub fn is_full(&self) -> bool {
        self.slash.is_some()
    }

    /// The normalized string form, the same as [`Display`](fmt::Display)
    /// gives.
    pub fn as_str(&self) -> &str {
        &self.normalized
    }

    /// This JID without its resourcepart (a copy if it has none).
    pub fn to_bare(&self) -> BareJid {
        match self.slash {
            None => BareJid(self.clone()),
            Some(slash) => BareJid(Jid {
                normalized: self.normalized[..usize::from(slash.get())].to_owned(),
                at: self.at,
                slash: None,
            }),
        }
    }

    /// This JID without its resourcepart, reusing the allocation.
    pub fn into_bare(mut self) -> BareJid {
        if let Some(slash) = self.slash.take() {
            self.normalized.truncate(usize::from(slash.get()));
        }
        BareJid(self)
    }

    /// The JID of this JID's domain alone (`example.com` for
    /// `juliet@example.com/balcony`), which addresses the server.
    pub fn domain_jid(&self) -> BareJid {
        BareJid(Jid {
            normalized: self.domain().to_owned(),
            at: None,
            slash: None,
        })
    }

    /// The same localpart and domainpart with `resource` as resourcepart
    /// (replacing any resourcepart this JID has).
    ///
    /// # Errors
    ///
    /// Returns an error if `resource` is not a valid resourcepart.
    pub fn with_resource(&self, resource: &str) -> Result<FullJid, JidError> {
        let resource = prep_resource(resource)?;
        Ok(FullJid(Jid::assemble(
            self.local(),
            self.domain(),
            Some(&resource),
        )))
    }
}

impl PartialEq for Jid {
    fn eq(&self, other: &Jid) -> bool {
        self.normalized == other.normalized
    }
}

impl Eq for Jid {}

impl Hash for Jid {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.normalized.hash(state);
    }
}

impl PartialOrd for Jid {
    fn partial_cmp(&self, other: &Jid) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Jid {
    fn cmp(&self, other: &Jid) -> Ordering {
        self.normalized.cmp(&other.normalized)
    }
}

impl fmt::Display for Jid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.normalized)
    }
}

impl fmt::Debug for Jid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Jid").field(&self.normalized).finish()
    }
}

impl FromStr for Jid {
    type Err = JidError;

    fn from_str(s: &str) -> Result<Jid, JidError> {
        Jid::parse(s)
    }
}

impl AsRef<str> for Jid {
    fn as_ref(&self) -> &str {
        &self.normalized
    }
}

impl From<BareJid> for Jid {
    fn from(jid: BareJid) -> Jid {
        jid.0
    }
}

impl From<FullJid> for Jid {
    fn from(jid: FullJid) -> Jid {
        jid.0
    }
}

// ---------------------------------------------------------------------------
// BareJid
// ---------------------------------------------------------------------------

/// An XMPP address without a resourcepart: `[localpart@]domainpart`.
///
/// ```
/// # use xmpp_sansio::jid::BareJid;
/// let bare: BareJid = "juliet@example.com".parse().unwrap();
/// let full = bare.with_resource("balcony").unwrap();
/// assert_eq!(full.to_string(), "juliet@example.com/balcony");
/// assert!("juliet@example.com/balcony".parse::<BareJid>().is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BareJid(Jid);

impl BareJid {
    /// Parses and normalizes a JID that must not have a resourcepart.
    ///
    /// # Errors
    ///
    /// Returns [`JidError::NotBare`] if the JID is valid but has a
    /// resourcepart, or the rule the string breaks.
    pub fn parse(s: &str) -> Result<BareJid, JidError> {
        BareJid::try_from(Jid::parse(s)?)
    }

    /// Builds a bare JID from a localpart (if any) and a domainpart,
    /// preparing each one.
    ///
    /// # Errors
    ///
    /// Returns the first rule broken, checking the localpart first.
    pub fn new(local: Option<&str>, domain: &str) -> Result<BareJid, JidError> {
        Jid::new(local, domain, None).map(BareJid)
    }

    /// Builds the JID of a domain alone (a server or a service).
    ///
    /// # Errors
    ///
    /// Returns an error if `domain` is not a valid domainpart.
    pub fn from_domain(domain: &str) -> Result<BareJid, JidError> {
        BareJid::new(None, domain)
    }

    /// The localpart, if any.
    pub fn local(&self) -> Option<&str> {
        self.0.local()
    }

    /// The domainpart (see [`Jid::domain`]).
    pub fn domain(&self) -> &str {
        self.0.domain()
    }

    /// The normalized string form.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// This JID as a [`Jid`].
    pub fn as_jid(&self) -> &Jid {
        &self.0
    }

    /// The JID of this JID's domain alone.
    pub fn domain_jid(&self) -> BareJid {
        self.0.domain_jid()
    }

    /// This JID with `resource` as resourcepart.
    ///
    /// # Errors
    ///
    /// Returns an error if `resource` is not a valid resourcepart.
    pub fn with_resource(&self, resource: &str) -> Result<FullJid, JidError> {
        self.0.with_resource(resource)
    }
}

impl fmt::Display for BareJid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for BareJid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("BareJid").field(&self.as_str()).finish()
    }
}

impl FromStr for BareJid {
    type Err = JidError;

    fn from_str(s: &str) -> Result<BareJid, JidError> {
        BareJid::parse(s)
    }
}

impl AsRef<str> for BareJid {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl TryFrom<Jid> for BareJid {
    type Error = JidError;

    /// Fails with [`JidError::NotBare`] if the JID has a resourcepart; use
    /// [`Jid::into_bare`] to drop it instead.
    fn try_from(jid: Jid) -> Result<BareJid, JidError> {
        if jid.is_bare() {
            Ok(BareJid(jid))
        } else {
            Err(JidError::NotBare)
        }
    }
}

// ---------------------------------------------------------------------------
// FullJid
// ---------------------------------------------------------------------------

/// An XMPP address with a resourcepart: `[localpart@]domainpart/resourcepart`.
///
/// ```
/// # use xmpp_sansio::jid::{FullJid, JidError};
/// let full = FullJid::new(Some("Juliet"), "example.com", "balcony").unwrap();
/// assert_eq!(full.resource(), "balcony");
/// assert_eq!(full.to_bare().to_string(), "juliet@example.com");
/// assert_eq!("juliet@example.com".parse::<FullJid>(), Err(JidError::NotFull));
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FullJid(Jid);

impl FullJid {
    /// Parses and normalizes a JID that must have a resourcepart.
    ///
    /// # Errors
    ///
    /// Returns [`JidError::NotFull`] if the JID is valid but has no
    /// resourcepart, or the rule the string breaks.
    pub fn parse(s: &str) -> Result<FullJid, JidError> {
        FullJid::try_from(Jid::parse(s)?)
    }

    /// Builds a full JID from its parts, preparing each one. A `/` or `@`
    /// in `resource` stays part of the resourcepart.
    ///
    /// # Errors
    ///
    /// Returns the first rule broken, checking the localpart, then the
    /// domainpart, then the resourcepart.
    pub fn new(local: Option<&str>, domain: &str, resource: &str) -> Result<FullJid, JidError> {
        Jid::new(local, domain, Some(resource)).map(FullJid)
    }

    /// The localpart, if any.
    pub fn local(&self) -> Option<&str> {
        self.0.local()
    }

    /// The domainpart (see [`Jid::domain`]).
    pub fn domain(&self) -> &str {
        self.0.domain()
    }

    /// The resourcepart.
    pub fn resource(&self) -> &str {
        self.0
            .resource()
            .expect("a FullJid always has a resourcepart")
    }

    /// The normalized string form.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// This JID as a [`Jid`].
    pub fn as_jid(&self) -> &Jid {
        &self.0
    }

    /// This JID without its resourcepart.
    pub fn to_bare(&self) -> BareJid {
        self.0.to_bare()
    }

    /// This JID without its resourcepart, reusing the allocation.
    pub fn into_bare(self) -> BareJid {
        self.0.into_bare()
    }

    /// The JID of this JID's domain alone.
    pub fn domain_jid(&self) -> BareJid {
        self.0.domain_jid()
    }

    /// The same localpart and domainpart with another resourcepart.
    ///
    /// # Errors
    ///
    /// Returns an error if `resource` is not a valid resourcepart.
    pub fn with_resource(&self, resource: &str) -> Result<FullJid, JidError> {
        self.0.with_resource(resource)
    }
}

impl fmt::Display for FullJid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for FullJid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("FullJid").field(&self.as_str()).finish()
    }
}

impl FromStr for FullJid {
    type Err = JidError;

    fn from_str(s: &str) -> Result<FullJid, JidError> {
        FullJid::parse(s)
    }
}

impl AsRef<str> for FullJid {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl TryFrom<Jid> for FullJid {
    type Error = JidError;

    /// Fails with [`JidError::NotFull`] if the JID has no resourcepart.
    fn try_from(jid: Jid) -> Result<FullJid, JidError> {
        if jid.is_full() {
            Ok(FullJid(jid))
        } else {
            Err(JidError::NotFull)
        }
    }
}

// Comparisons across the three types, on the normalized form.

impl PartialEq<BareJid> for Jid {
    fn eq(&self, other: &BareJid) -> bool {
        *self == other.0
    }
}

impl PartialEq<Jid> for BareJid {
    fn eq(&self, other: &Jid) -> bool {
        self.0 == *other
    }
}

impl PartialEq<FullJid> for Jid {
    fn eq(&self, other: &FullJid) -> bool {
        *self == other.0
    }
}

impl PartialEq<Jid> for FullJid {
    fn eq(&self, other: &Jid) -> bool {
        self.0 == *other
    }
}

/// The ASCII fast path gives what the full path gives: the same decision (accepted, or the
/// same error) and the same prepared output, on generated strings that are mostly ASCII and
/// hit the edges of each set (uppercase letters, forbidden punctuation, spaces, controls,
/// `xn--` labels, numeric and long labels, trailing dots, a few non-ASCII characters).
#[cfg(test)]
mod fast_path_props {
    use super::*;
    use proptest::prelude::*;

    fn full_parse(s: &str) -> Result<String, JidError> {
        let (local, domain, resource) = split(s);
        let local = local.map(prep_local_full).transpose()?;
        let domain = prep_domain_full(domain)?;
        let resource = resource.map(prep_resource_full).transpose()?;
        Ok(Jid::assemble(local.as_deref(), &domain, resource.as_deref()).normalized)
    }

    /// Printable ASCII, space and a few controls, and now and then a character that
    /// preparation maps, refuses or keeps (fullwidth, ideographic full stop, sharp s, sigma,
    /// a combining mark, a right-to-left letter, no-break space, a joiner).
    fn ascii_heavy(max: usize) -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop_oneof![
                20 => prop::char::range(' ', '~'),
                2 => prop::sample::select(vec!['\t', '\n', '\u{7f}', '\0']),
                1 => prop::sample::select(vec![
                    '\u{ff21}', '\u{ff41}', '\u{3002}', 'ß', 'Σ', 'é', '\u{301}', 'א', '\u{a0}',
                    '\u{200d}', 'İ', 'K',
                ]),
            ],
            0..max,
        )
        .prop_map(|cs| cs.into_iter().collect())
    }

    /// Domain-shaped strings: labels of the fast set's bytes and of its edges, joined by
    /// dots, sometimes with a trailing dot.
    fn domain_like() -> impl Strategy<Value = String> {
        let label = prop_oneof![
            4 => "[a-z0-9_-]{0,8}",
            1 => "[a-zA-Z0-9_.-]{0,8}",
            1 => "[0-9]{1,3}",
            1 => "xn--[a-z0-9-]{0,8}",
            1 => "[a-z]{60,66}",
            1 => ascii_heavy(6),
        ];
        (prop::collection::vec(label, 1..5), any::<bool>()).prop_map(|(labels, dot)| {
            let mut d = labels.join(".");
            if dot {
                d.push('.');
            }
            d
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn localparts(s in prop_oneof![ascii_heavy(24), "[a-z0-9!#$%*+=?^_`{|}~.-]{0,1030}"]) {
            let fast = prep_local(&s).map(Cow::into_owned);
            prop_assert_eq!(fast, prep_local_full(&s).map(Cow::into_owned));
        }

        #[test]
        fn resourceparts(s in prop_oneof![ascii_heavy(24), "[ -~]{1020,1030}"]) {
            let fast = prep_resource(&s).map(Cow::into_owned);
            prop_assert_eq!(fast, prep_resource_full(&s).map(Cow::into_owned));
        }

        #[test]
        fn domainparts(s in prop_oneof![domain_like(), ascii_heavy(24)]) {
            let fast = prep_domain(&s).map(Cow::into_owned);
            prop_assert_eq!(fast, prep_domain_full(&s).map(Cow::into_owned));
        }

        #[test]
        fn whole_addresses(
            local in prop::option::of(prop_oneof![ascii_heavy(10), "[a-z0-9._-]{1,10}"]),
            domain in domain_like(),
            resource in prop::option::of(ascii_heavy(12)),
        ) {
            let mut s = String::new();
            if let Some(l) = &local {
                s.push_str(l);
                s.push('@');
            }
            s.push_str(&domain);
            if let Some(r) = &resource {
                s.push('/');
                s.push_str(r);
            }
            let fast = Jid::parse(&s).map(|j| j.normalized);
            let full = full_parse(&s);
            // The check that keeps nothing decides as parsing does, with the same error.
            prop_assert_eq!(Jid::check(&s), full.clone().map(drop));
            prop_assert_eq!(fast, full);
        }

        #[test]
        fn stability_shortcut_changes_nothing(s in ascii_heavy(16)) {
            // `enforce_stable` stops when the output is the input; enforcing until two
            // rounds agree must give the same answer.
            fn rounds(
                input: &str,
                enforce: fn(&str) -> Result<Cow<'_, str>, PrecisError>,
            ) -> Result<String, PrecisViolation> {
                let mut out = enforce(input)
                    .map_err(|e| violation(e, PrecisViolation::Bidi))?
                    .into_owned();
                for _ in 0..MAX_EXTRA_ROUNDS {
                    let again = enforce(&out)
                        .map_err(|e| violation(e, PrecisViolation::Bidi))?
                        .into_owned();
                    if again == out {
                        return Ok(out);
                    }
                    out = again;
                }
                Err(PrecisViolation::Unstable)
            }
            type Enforce = fn(&str) -> Result<Cow<'_, str>, PrecisError>;
            for enforce in [opaque_string as Enforce, username_case_mapped] {
                let short = enforce_stable(&s, enforce, PrecisViolation::Bidi).map(Cow::into_owned);
                prop_assert_eq!(short, rounds(&s, enforce));
            }
        }
    }

    /// The addresses of ordinary traffic take the fast path, so the property above is about
    /// the path the server's hot loop uses.
    #[test]
    fn ordinary_addresses_take_the_fast_path() {
        for local in ["juliet", "romeo.montague", "user_1", "a+b"] {
            assert!(local_unchanged(local), "{local}");
        }
        for domain in [
            "capulet.example",
            "conference.jabber.example.org",
            "_xmpp.a-b.example",
        ] {
            assert!(domain_unchanged(domain), "{domain}");
        }
        for resource in [
            "balcony",
            "Conversations.x7Qa",
            "gajim.4FZ2KD1E",
            "Lady Capulet",
        ] {
            assert!(resource_unchanged(resource), "{resource}");
        }
        // And what the profiles change or refuse does not.
        for local in ["Juliet", "jul iet", "a:b", "caf\u{e9}"] {
            assert!(!local_unchanged(local), "{local}");
        }
        for domain in [
            "Example.com",
            "example.com.",
            "xn--bcher-kva.example",
            "1.2.3.4",
            "a..b",
        ] {
            assert!(!domain_unchanged(domain), "{domain}");
        }
        assert!(!resource_unchanged("tab\there"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn parse(s: &str) -> Result<Jid, JidError> {
        Jid::parse(s)
    }

    fn err(s: &str) -> JidError {
        match parse(s) {
            Ok(j) => panic!("{s:?} parsed as {j:?}, expected an error"),
            Err(e) => e,
        }
    }

    /// Builds a domain name of exactly `len` bytes out of labels of at most
    /// 63 bytes.
    fn domain_of_len(len: usize) -> String {
        let mut out = String::new();
        while out.len() < len {
            if !out.is_empty() {
                out.push('.');
            }
            let room = (len - out.len()).min(MAX_LABEL_LEN);
            // Never leave room for only a dot.
            let take = if len - out.len() - room == 1 {
                room - 1
            } else {
                room
            };
            out.extend(std::iter::repeat_n('a', take));
        }
        assert_eq!(out.len(), len);
        out
    }

    /// The parts of a JID as `local|domain|resource`, with `-` for an
    /// absent part.
    fn parts(j: &Jid) -> String {
        format!(
            "{}|{}|{}",
            j.local().unwrap_or("-"),
            j.domain(),
            j.resource().unwrap_or("-")
        )
    }

    #[test]
    fn rfc7622_valid_examples() {
        // (input, normalized form, parts)
        #[rustfmt::skip]
        let table = [
            ("juliet@example.com", "juliet@example.com", "juliet|example.com|-"),
            ("juliet@example.com/foo", "juliet@example.com/foo", "juliet|example.com|foo"),
            ("juliet@example.com/foo bar", "juliet@example.com/foo bar", "juliet|example.com|foo bar"),
            ("juliet@example.com/foo@bar", "juliet@example.com/foo@bar", "juliet|example.com|foo@bar"),
            ("foo\\20bar@example.com", "foo\\20bar@example.com", "foo\\20bar|example.com|-"),
            ("fussball@example.com", "fussball@example.com", "fussball|example.com|-"),
            ("fußball@example.com", "fußball@example.com", "fußball|example.com|-"),
            ("π@example.com", "π@example.com", "π|example.com|-"),
            ("Σ@example.com/foo", "σ@example.com/foo", "σ|example.com|foo"),
            ("σ@example.com/foo", "σ@example.com/foo", "σ|example.com|foo"),
            ("ς@example.com/foo", "ς@example.com/foo", "ς|example.com|foo"),
            ("king@example.com/♚", "king@example.com/♚", "king|example.com|♚"),
            ("example.com", "example.com", "-|example.com|-"),
            ("example.com/foobar", "example.com/foobar", "-|example.com|foobar"),
            ("a.example.com/b@example.net", "a.example.com/b@example.net", "-|a.example.com|b@example.net"),
            // Table 2 of RFC 7622 section 3.5 lists this one as invalid, but
            // no rule forbids it; see the module documentation.
            ("juliet@example.com/ foo", "juliet@example.com/ foo", "juliet|example.com| foo"),
        ];
        for (input, normalized, expected_parts) in table {
            let jid = parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(jid.to_string(), normalized, "{input:?}");
            assert_eq!(parts(&jid), expected_parts, "{input:?}");
            assert_eq!(parse(normalized).unwrap(), jid, "{input:?}");
        }
        // Σ and σ are the same JID; ς stays distinct (lowercasing, not case
        // folding, RFC 8265 section 3.3.3).
        assert_eq!(
            parse("Σ@example.com/foo").unwrap(),
            parse("σ@example.com/foo").unwrap()
        );
        assert_ne!(
            parse("ς@example.com/foo").unwrap(),
            parse("σ@example.com/foo").unwrap()
        );
        // fußball and fussball are different JIDs.
        assert_ne!(
            parse("fußball@example.com").unwrap(),
            parse("fussball@example.com").unwrap()
        );
    }

    #[test]
    fn rfc7622_invalid_examples() {
        let table: &[(&str, JidError)] = &[
            ("\"juliet\"@example.com", JidError::LocalForbiddenChar('"')),
            (
                "foo bar@example.com",
                JidError::LocalPrecis(PrecisViolation::Disallowed(' ')),
            ),
            ("@example.com/", JidError::EmptyLocal),
            (
                "henryⅣ@example.com",
                JidError::LocalPrecis(PrecisViolation::Disallowed('Ⅳ')),
            ),
            ("henrybv@example.com/", JidError::EmptyResource),
            (
                "♚@example.com",
                JidError::LocalPrecis(PrecisViolation::Disallowed('♚')),
            ),
            ("juliet@", JidError::EmptyDomain),
            ("/foobar", JidError::EmptyDomain),
        ];
        for (input, expected) in table {
            assert_eq!(&err(input), expected, "{input:?}");
        }
    }

    #[test]
    fn splitting() {
        let j = parse("a@b/c@d/e").unwrap();
        assert_eq!(
            (j.local(), j.domain(), j.resource()),
            (Some("a"), "b", Some("c@d/e"))
        );
        let j = parse("b/c@d").unwrap();
        assert_eq!(
            (j.local(), j.domain(), j.resource()),
            (None, "b", Some("c@d"))
        );
        let j = parse("a@b//").unwrap();
        assert_eq!(j.resource(), Some("/"));
        // A second '@' before the '/' lands in the domainpart.
        assert_eq!(err("a@b@c"), JidError::DomainForbiddenChar('@'));
        assert_eq!(err(""), JidError::EmptyDomain);
        assert_eq!(err("@"), JidError::EmptyLocal);
        assert_eq!(err("/"), JidError::EmptyDomain);
        assert_eq!(err("a@/r"), JidError::EmptyDomain);
        assert_eq!(err("example.com/"), JidError::EmptyResource);
        assert_eq!(err("@example.com"), JidError::EmptyLocal);
    }

    #[test]
    fn localpart_rules() {
        for c in LOCAL_FORBIDDEN {
            if c == '@' || c == '/' {
                continue; // these split the JID instead
            }
            assert_eq!(
                err(&format!("a{c}b@example.com")),
                JidError::LocalForbiddenChar(c)
            );
        }
        // Width mapping turns U+FF20 and U+FF0F into '@' and '/'.
        assert_eq!(
            err("a\u{FF20}b@example.com"),
            JidError::LocalForbiddenChar('@')
        );
        assert_eq!(
            err("a\u{FF0F}b@example.com"),
            JidError::LocalForbiddenChar('/')
        );
        assert_eq!(
            parse("ＪＵＬＩＥＴ@example.com").unwrap().local(),
            Some("juliet")
        );
        assert_eq!(parse("JULIET@example.com").unwrap().local(), Some("juliet"));
        assert_eq!(
            err("a\u{200D}b@example.com"),
            JidError::LocalPrecis(PrecisViolation::Context('\u{200D}'))
        );
        assert_eq!(
            err("a\u{5D0}@example.com"),
            JidError::LocalPrecis(PrecisViolation::Bidi)
        );
        assert_eq!(
            err("a\u{7}@example.com"),
            JidError::LocalPrecis(PrecisViolation::Disallowed('\u{7}'))
        );
    }

    #[test]
    fn resourcepart_rules() {
        // Non-ASCII spaces become U+0020; NFC is applied.
        let j = parse("a@b/foo\u{A0}bar").unwrap();
        assert_eq!(j.resource(), Some("foo bar"));
        let j = parse("a@b/e\u{301}").unwrap();
        assert_eq!(j.resource(), Some("\u{E9}"));
        // Case is kept.
        assert_eq!(parse("a@b/Balcony").unwrap().resource(), Some("Balcony"));
        assert_eq!(
            err("a@b/x\ty"),
            JidError::ResourcePrecis(PrecisViolation::Disallowed('\t'))
        );
        assert_eq!(
            err("a@b/\u{E000}"),
            JidError::ResourcePrecis(PrecisViolation::Disallowed('\u{E000}'))
        );
    }

    #[test]
    fn domainpart_names() {
        let cases = [
            ("Example.COM", "example.com"),
            ("example.com.", "example.com"),
            ("example.com\u{3002}", "example.com"),
            ("example\u{FF0E}com", "example.com"),
            ("MÜNCHEN.de", "münchen.de"),
            ("xn--mnchen-3ya.de", "münchen.de"),
            ("XN--MNCHEN-3YA.DE", "münchen.de"),
            ("faß.de", "faß.de"),
            (
                "_xmpp-client._tcp.example.com",
                "_xmpp-client._tcp.example.com",
            ),
            ("-weird-.example", "-weird-.example"),
            ("localhost", "localhost"),
            ("a\u{AD}b.example", "ab.example"),
        ];
        for (input, expected) in cases {
            let j = BareJid::from_domain(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(j.domain(), expected, "{input:?}");
            assert_eq!(j.local(), None);
        }
        assert_eq!(err("a@b..c"), JidError::DomainEmptyLabel);
        assert_eq!(err(".example.com"), JidError::DomainEmptyLabel);
        assert_eq!(err("example.com.."), JidError::DomainEmptyLabel);
        assert_eq!(err("."), JidError::EmptyDomain);
        assert_eq!(err(".."), JidError::DomainEmptyLabel);
        assert_eq!(err("1..2.3"), JidError::DomainEmptyLabel);
        assert_eq!(err("a@."), JidError::EmptyDomain);
        assert_eq!(err("exa mple.com"), JidError::DomainForbiddenChar(' '));
        assert_eq!(err("exa:mple.com"), JidError::DomainForbiddenChar(':'));
        assert_eq!(err("a@exa<mple.com"), JidError::DomainForbiddenChar('<'));
        assert_eq!(
            err("exa\u{0}mple.com"),
            JidError::DomainForbiddenChar('\u{0}')
        );
        assert_eq!(err("xn--abc.example"), JidError::DomainIdna);
        assert_eq!(err("\u{200D}.example"), JidError::DomainIdna);
        // The bidi rule of IDNA2008 (RFC 5893) applies to domain labels.
        assert_eq!(err("a\u{5D0}.example"), JidError::DomainIdna);
        // A fullwidth '@' maps to '@' inside UTS #46 and is refused there.
        assert_eq!(err("a\u{FF20}b"), JidError::DomainIdna);
        let label64 = "a".repeat(64);
        assert_eq!(
            err(&format!("{label64}.example")),
            JidError::DomainLabelTooLong
        );
        let label63 = "a".repeat(63);
        assert!(parse(&format!("{label63}.example")).is_ok());
        // The label limit applies to the ASCII (A-label) form.
        let long_unicode_label = "ü".repeat(60);
        assert!(idna::domain_to_ascii(&long_unicode_label).unwrap().len() > 63);
        assert_eq!(
            err(&format!("{long_unicode_label}.example")),
            JidError::DomainLabelTooLong
        );
        // A Punycode label longer than a DNS label is refused for its length before IDNA
        // decodes it (decoding is quadratic in the label's length; found by server_session,
        // corpus/server_session/slow-long-punycode-label), as is any long ASCII label, with
        // the fullwidth full stop as a separator too.
        let long_punycode = format!("xn--eza{}", "u".repeat(1000));
        assert_eq!(
            err(&format!("{long_punycode}.example")),
            JidError::DomainLabelTooLong
        );
        // The same with characters the mapping deletes inside it (U+FEFF, found next).
        let hidden = format!("xn--eza{}\u{FEFF}{}", "u".repeat(500), "u".repeat(500));
        assert_eq!(
            err(&format!("{hidden}.example")),
            JidError::DomainLabelTooLong
        );
        // Deleted characters do not count: a label of 63 characters padded with them is
        // still a label of 63.
        let padded = format!("{}{}", "a".repeat(63), "\u{AD}".repeat(10));
        assert!(parse(&format!("{padded}.example")).is_ok());
        assert_eq!(
            err(&format!("{label64}\u{FF0E}example")),
            JidError::DomainLabelTooLong
        );
    }

    #[test]
    fn domainpart_ip_literals() {
        let ok = [
            ("[::1]", "[::1]"),
            ("[2001:DB8:0:0:0:0:0:1]", "[2001:db8::1]"),
            ("[::ffff:192.0.2.1]", "[::ffff:192.0.2.1]"),
            ("192.0.2.1", "192.0.2.1"),
            ("192.0.2.1.", "192.0.2.1"),
            ("\u{FF11}.2.3.4", "1.2.3.4"),
        ];
        for (input, expected) in ok {
            let j = parse(&format!("user@{input}/r")).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(j.domain(), expected, "{input:?}");
        }
        for bad in [
            "[::1",
            "[::1].",
            "[1.2.3.4]",
            "[fe80::1%eth0]",
            "[]",
            "[v1.x]",
            "1.2.3.256",
            "01.2.3.4",
            "1.2.3",
            "123",
        ] {
            assert_eq!(err(bad), JidError::InvalidIpLiteral, "{bad:?}");
        }
        // A bracket elsewhere is just a forbidden character.
        assert_eq!(err("a[b]"), JidError::DomainForbiddenChar('['));
    }

    #[test]
    fn length_limits() {
        let max = "a".repeat(1023);
        let over = "a".repeat(1024);

        assert_eq!(
            parse(&format!("{max}@example.com")).unwrap().local(),
            Some(&*max)
        );
        assert_eq!(err(&format!("{over}@example.com")), JidError::LocalTooLong);
        // The limit applies after preparation: 1023 fullwidth letters are
        // 3069 bytes raw but 1023 bytes once width-mapped.
        let wide = "\u{FF41}".repeat(1023);
        assert_eq!(
            parse(&format!("{wide}@example.com")).unwrap().local(),
            Some(&*max)
        );
        let wide_over = "\u{FF41}".repeat(1024);
        assert_eq!(
            err(&format!("{wide_over}@example.com")),
            JidError::LocalTooLong
        );
        // Parts far beyond any valid length are refused on their raw length, each with its
        // own error, before preparation.
        let huge = "a".repeat(200_000);
        assert_eq!(err(&format!("{huge}@example.com")), JidError::LocalTooLong);
        assert_eq!(err(&format!("juliet@{huge}")), JidError::DomainTooLong);
        assert_eq!(
            err(&format!("juliet@example.com/{huge}")),
            JidError::ResourceTooLong
        );
        // A domain that UTS 46 would shrink to a valid one, but padded with more than
        // MAX_RAW_PART_LEN bytes of deleted characters (U+00AD soft hyphens).
        let padded = format!("exa{}mple.com", "\u{AD}".repeat(MAX_RAW_PART_LEN / 2));
        assert_eq!(err(&format!("juliet@{padded}")), JidError::DomainTooLong);
        let short_pad = format!("exa{}mple.com", "\u{AD}".repeat(8));
        assert_eq!(
            parse(&format!("juliet@{short_pad}")).unwrap().domain(),
            "example.com"
        );

        assert_eq!(
            parse(&format!("example.com/{max}")).unwrap().resource(),
            Some(&*max)
        );
        assert_eq!(
            err(&format!("example.com/{over}")),
            JidError::ResourceTooLong
        );

        let d_max = domain_of_len(1023);
        let d_over = domain_of_len(1024);
        assert_eq!(parse(&d_max).unwrap().domain(), d_max);
        assert_eq!(parse(&format!("{d_max}.")).unwrap().domain(), d_max);
        assert_eq!(err(&d_over), JidError::DomainTooLong);

        // All three parts at their limit.
        let j = parse(&format!("{max}@{d_max}/{max}")).unwrap();
        assert_eq!(j.as_str().len(), 3 * 1023 + 2);
        assert_eq!(j.local(), Some(&*max));
        assert_eq!(j.domain(), d_max);
        assert_eq!(j.resource(), Some(&*max));
    }

    #[test]
    fn bare_and_full() {
        let full = FullJid::parse("Juliet@Example.com/Balcony").unwrap();
        assert_eq!(full.local(), Some("juliet"));
        assert_eq!(full.domain(), "example.com");
        assert_eq!(full.resource(), "Balcony");
        let bare = full.to_bare();
        assert_eq!(bare.as_str(), "juliet@example.com");
        assert_eq!(full.clone().into_bare(), bare);
        assert_eq!(bare.domain_jid().as_str(), "example.com");
        assert_eq!(
            full.domain_jid(),
            BareJid::from_domain("EXAMPLE.com").unwrap()
        );
        assert_eq!(bare.with_resource("Balcony").unwrap(), full);
        assert_eq!(
            full.with_resource("garden").unwrap().as_str(),
            "juliet@example.com/garden"
        );
        assert_eq!(bare.with_resource(""), Err(JidError::EmptyResource));
        assert_eq!(
            bare.with_resource("a/b@c").unwrap().resource(),
            "a/b@c",
            "with_resource does not split"
        );

        assert_eq!(
            BareJid::parse("juliet@example.com/x"),
            Err(JidError::NotBare)
        );
        assert_eq!(FullJid::parse("juliet@example.com"), Err(JidError::NotFull));
        assert_eq!("a@b/c".parse::<FullJid>().unwrap().resource(), "c");
        assert_eq!(BareJid::parse("@b"), Err(JidError::EmptyLocal));

        let jid: Jid = full.clone().into();
        assert!(jid.is_full() && !jid.is_bare());
        assert_eq!(jid, full);
        assert_eq!(full, jid);
        assert_eq!(FullJid::try_from(jid.clone()).unwrap(), full);
        assert_eq!(BareJid::try_from(jid.clone()), Err(JidError::NotBare));
        assert_eq!(jid.to_bare(), bare);
        assert_eq!(jid.clone().into_bare(), bare);

        let jid: Jid = bare.clone().into();
        assert!(jid.is_bare());
        assert_eq!(jid, bare);
        assert_eq!(bare, jid);
        assert_eq!(FullJid::try_from(jid.clone()), Err(JidError::NotFull));
        assert_eq!(BareJid::try_from(jid.clone()).unwrap(), bare);
        assert_eq!(jid.to_bare(), bare);
    }

    #[test]
    fn constructors_from_parts() {
        let j = Jid::new(Some("Juliet"), "Example.com", Some("a/b")).unwrap();
        assert_eq!(j.as_str(), "juliet@example.com/a/b");
        assert_eq!(
            Jid::new(Some(""), "example.com", None),
            Err(JidError::EmptyLocal)
        );
        assert_eq!(Jid::new(None, "", None), Err(JidError::EmptyDomain));
        assert_eq!(
            Jid::new(None, "example.com", Some("")),
            Err(JidError::EmptyResource)
        );
        assert_eq!(
            Jid::new(Some("a/b"), "example.com", None),
            Err(JidError::LocalForbiddenChar('/'))
        );
        assert_eq!(
            Jid::new(Some("a@b"), "example.com", None),
            Err(JidError::LocalForbiddenChar('@'))
        );
        assert_eq!(
            Jid::new(None, "a/b", None),
            Err(JidError::DomainForbiddenChar('/'))
        );
        assert_eq!(BareJid::new(Some("x"), "y").unwrap().as_str(), "x@y");
        assert_eq!(FullJid::new(None, "y", "z").unwrap().as_str(), "y/z");
        // Errors come from the localpart first, then domain, then resource.
        assert_eq!(Jid::new(Some(""), "", Some("")), Err(JidError::EmptyLocal));
        assert_eq!(Jid::new(None, "", Some("")), Err(JidError::EmptyDomain));
    }

    #[test]
    fn equality_hash_order() {
        let a = parse("Juliet@EXAMPLE.com/r").unwrap();
        let b = parse("juliet@example.com./r").unwrap();
        assert_eq!(a, b);
        let set: HashSet<Jid> = [a.clone(), b.clone()].into_iter().collect();
        assert_eq!(set.len(), 1);
        let mut v = [
            parse("b@x").unwrap(),
            parse("a@x/r").unwrap(),
            parse("a@x").unwrap(),
        ];
        v.sort();
        let s: Vec<&str> = v.iter().map(Jid::as_str).collect();
        assert_eq!(s, ["a@x", "a@x/r", "b@x"]);
        // Resources are case-sensitive.
        assert_ne!(parse("a@x/R").unwrap(), parse("a@x/r").unwrap());
    }

    #[test]
    fn display_debug_and_size() {
        let j = parse("Juliet@example.com/r").unwrap();
        assert_eq!(format!("{j}"), "juliet@example.com/r");
        assert_eq!(format!("{j:?}"), "Jid(\"juliet@example.com/r\")");
        let f = FullJid::try_from(j).unwrap();
        assert_eq!(format!("{f:?}"), "FullJid(\"juliet@example.com/r\")");
        assert_eq!(
            format!("{:?}", f.to_bare()),
            "BareJid(\"juliet@example.com\")"
        );
        assert!(std::mem::size_of::<Jid>() <= std::mem::size_of::<String>() + 8);
        assert_eq!(std::mem::size_of::<BareJid>(), std::mem::size_of::<Jid>());
        assert_eq!(std::mem::size_of::<FullJid>(), std::mem::size_of::<Jid>());
    }

    #[test]
    fn error_messages() {
        let all = [
            JidError::EmptyLocal,
            JidError::EmptyDomain,
            JidError::EmptyResource,
            JidError::LocalTooLong,
            JidError::DomainTooLong,
            JidError::ResourceTooLong,
            JidError::LocalPrecis(PrecisViolation::Disallowed(' ')),
            JidError::LocalPrecis(PrecisViolation::Context('\u{200D}')),
            JidError::LocalPrecis(PrecisViolation::Bidi),
            JidError::LocalPrecis(PrecisViolation::Unstable),
            JidError::LocalPrecis(PrecisViolation::Other),
            JidError::LocalForbiddenChar('@'),
            JidError::ResourcePrecis(PrecisViolation::Disallowed('\t')),
            JidError::DomainForbiddenChar(' '),
            JidError::DomainIdna,
            JidError::DomainEmptyLabel,
            JidError::DomainLabelTooLong,
            JidError::InvalidIpLiteral,
            JidError::NotFull,
            JidError::NotBare,
        ];
        for e in all {
            let msg = e.to_string();
            assert!(msg.len() > 20, "{e:?}: {msg}");
            let _: &dyn std::error::Error = &e;
        }
        assert_eq!(
            JidError::LocalForbiddenChar('@').to_string(),
            "the localpart contains '@', which RFC 7622 section 3.3.1 forbids"
        );
        assert!(
            JidError::LocalPrecis(PrecisViolation::Disallowed(' '))
                .to_string()
                .contains("U+0020 ' '")
        );
    }
}
