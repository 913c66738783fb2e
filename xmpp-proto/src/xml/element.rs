//! The element tree: one received first-level element, frozen in one allocation.
//!
//! An [`Element`] holds the exact bytes that arrived, followed by a small pool (namespace
//! names inherited from the stream header or decoded from declarations) and fixed-size node
//! and attribute records that point into them. Reading it allocates nothing unless text needs
//! entity decoding; cloning it bumps a reference count; forwarding it unchanged can write the
//! received bytes as they are ([`Element::raw`]).

use core::fmt;
use std::borrow::Cow;

use bytes::Bytes;

/// `http://www.w3.org/XML/1998/namespace`, bound to the `xml` prefix by definition.
pub const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";
/// `http://www.w3.org/2000/xmlns/`, the namespace of namespace declarations.
pub const XMLNS_NS: &str = "http://www.w3.org/2000/xmlns/";

pub(crate) const NODE_WORDS: usize = 8;
pub(crate) const ATTR_WORDS: usize = 7;
pub(crate) const KIND_ELEMENT: u32 = 0;
pub(crate) const KIND_TEXT: u32 = 1;
pub(crate) const KIND_CDATA: u32 = 2;
/// The text holds references or CR characters and must be decoded before use.
pub(crate) const FLAG_DECODE: u32 = 1 << 4;
/// A span with this bit in its start points into the pool that follows the raw bytes.
pub(crate) const POOL: u32 = 1 << 31;
/// A span with this bit in its start names one of [`KNOWN_NS`] by index: the namespaces a
/// stream header declares are almost always these, and need no copy in each element.
pub(crate) const KNOWN: u32 = 1 << 30;
/// A span with both [`POOL`] and [`KNOWN`] set points into the stream header's buffer, by
/// absolute offset: a namespace the header declares is shared by the elements that use it,
/// never copied into each (a peer could otherwise make every small stanza carry a long
/// namespace name).
pub(crate) const HEADER: u32 = POOL | KNOWN;
/// Offsets in an element stay below this, leaving the two top bits for [`POOL`] and [`KNOWN`].
pub(crate) const MAX_OFFSET: usize = (1 << 30) - 1;
pub(crate) static KNOWN_NS: [&str; 5] = [
    "jabber:client",
    "jabber:server",
    "jabber:component:accept",
    "http://etherx.jabber.org/streams",
    XML_NS,
];

/// The [`KNOWN`] span of `uri`, if it is one of [`KNOWN_NS`].
pub(crate) fn known_ns(uri: &[u8]) -> Option<(u32, u32)> {
    let k = KNOWN_NS.iter().position(|ns| ns.as_bytes() == uri)?;
    Some((KNOWN | k as u32, uri.len() as u32))
}

/// Where the parts of an element's buffer start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    pub raw_len: u32,
    pub nodes_off: u32,
    pub attrs_off: u32,
}

/// A complete element as received, with its subtree. Cheap to clone.
///
/// All accessors are on [`ElementRef`]; the most common ones are repeated here for the root.
/// Each is O(1) beyond its own decoding: the text the parser checked is not checked again.
//
// The text region: the raw bytes and the pool (`buf[..nodes_off]`) are valid UTF-8 as a
// whole. The raw bytes are a unit of input that the parser checked, every byte of it, before
// its scanner looked at it (`chars::check`); the pool holds only namespace names decoded
// into `String`s and, after `with_attr`, `&str` arguments. The header's buffer is kept as
// its own text region. Reading a span therefore needs no new UTF-8 check, only that its ends
// are in the region and on character boundaries (`text_at`).
#[derive(Clone)]
pub struct Element {
    buf: Bytes,
    layout: Layout,
    /// The text region of the stream header's buffer, when a namespace of this element is
    /// the header's ([`HEADER`] spans): shared, not copied.
    header: Option<Bytes>,
}

/// The most root attributes `with_root_attrs` sets at once (`from` and `xml:lang`).
const MAX_ROOT_ATTRS: usize = 2;

/// The root attributes that every hop of a stanza reads (RFC 6120 section 8.1: `to`,
/// `from`, `id`, `type`, `xml:lang`), found in one pass over the root's records so that
/// each later read is one record away instead of a scan comparing names.
#[cfg_attr(not(feature = "jid"), allow(dead_code))]
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct RootIndex([u8; 5]);

/// One of the attributes a [`RootIndex`] finds.
#[cfg_attr(not(feature = "jid"), allow(dead_code))]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Known {
    To = 0,
    From = 1,
    Id = 2,
    Type = 3,
    Lang = 4,
}

impl Known {
    /// The unprefixed attribute `name` is this one.
    fn unprefixed(name: &str) -> Option<Known> {
        Some(match name {
            "to" => Known::To,
            "from" => Known::From,
            "id" => Known::Id,
            "type" => Known::Type,
            _ => return None,
        })
    }
}

/// In a [`RootIndex`]: the element has no such attribute.
const ABSENT: u8 = u8::MAX;
/// In a [`RootIndex`]: the attribute's record is too far to note (more root attributes
/// than a byte counts, which a configured `max_attributes` allows); read it by a scan.
const FAR: u8 = u8::MAX - 1;

impl RootIndex {
    /// The same index, with `which` at record `at` of the root's attributes.
    fn placed(mut self, which: Known, at: u32) -> RootIndex {
        self.0[which as usize] = u8::try_from(at).map_or(FAR, |i| i.min(FAR));
        self
    }

    /// The record of `which` among the root's attributes: `Ok(None)` when absent,
    /// `Err(())` when the index could not note it.
    fn get(self, which: Known) -> Result<Option<u32>, ()> {
        match self.0[which as usize] {
            ABSENT => Ok(None),
            FAR => Err(()),
            i => Ok(Some(u32::from(i))),
        }
    }
}

impl Element {
    /// The one constructor: `buf[..layout.nodes_off]` must be valid UTF-8, and so must
    /// `header` (the text region of the header, [`text_region`](Self::text_region)).
    pub(crate) fn from_parts(buf: Bytes, layout: Layout, header: Option<Bytes>) -> Self {
        debug_assert!(
            buf.get(..layout.nodes_off as usize)
                .is_some_and(|t| core::str::from_utf8(t).is_ok())
                && header
                    .as_ref()
                    .is_none_or(|h| core::str::from_utf8(h).is_ok()),
            "an element's text region is valid UTF-8"
        );
        Element {
            buf,
            layout,
            header,
        }
    }

    /// The whole buffer (raw bytes, pool, records), for elements that share it.
    pub(crate) fn buffer(&self) -> &Bytes {
        &self.buf
    }

    /// The text region (raw bytes and pool, valid UTF-8) of the buffer, shared: what an
    /// element that uses this one's namespaces keeps of it.
    pub(crate) fn text_region(&self) -> Bytes {
        self.buf.slice(..self.layout.nodes_off as usize)
    }

    /// The text region, borrowed.
    #[inline]
    pub(crate) fn text_bytes(&self) -> &[u8] {
        &self.buf[..self.layout.nodes_off as usize]
    }

    /// The offset in [`buffer`](Self::buffer) of a span's first byte, for a span of the raw
    /// bytes or of the pool; `None` for a well-known namespace (which needs no buffer) or a
    /// span of another buffer.
    pub(crate) fn absolute(&self, start: u32) -> Option<u32> {
        match start & HEADER {
            0 => Some(start),
            POOL => Some((start & !POOL) + self.layout.raw_len),
            _ => None,
        }
    }

    /// A view of the element itself, from which its subtree can be walked.
    #[inline]
    pub fn root(&self) -> ElementRef<'_> {
        ElementRef { el: self, idx: 0 }
    }

    /// The exact bytes that arrived for this element, from its `<` to the end of its end tag.
    /// Prefixes in them may be bound by the stream header: forward them unchanged only into a
    /// stream with the same bindings.
    pub fn raw(&self) -> &[u8] {
        &self.buf[..self.layout.raw_len as usize]
    }

    /// The local name.
    pub fn name(&self) -> &str {
        self.root().name()
    }

    /// The same element with the unprefixed attribute `name` of the root set to `value`
    /// (added, or replacing the one received): how a server stamps `from` on a client's
    /// stanza. One allocation; the tree is not parsed again. [`raw`](Self::raw) still gives
    /// the bytes as received, so forward the result with
    /// [`write_element`](super::write_element).
    pub fn with_attr(&self, name: &str, value: &str) -> Element {
        self.with_root_attr(None, name, value)
    }

    /// The same element with `xml:lang` on the root set to `lang` (added, or replacing the
    /// one received), as [`with_attr`](Self::with_attr) sets an unprefixed attribute: how a
    /// server gives a client's stanza the language of the client's stream (RFC 6120 section
    /// 4.7.4).
    pub fn with_lang(&self, lang: &str) -> Element {
        self.with_root_attr(Some(XML_NS), "lang", lang)
    }

    /// The same element with the unprefixed attribute `name` set to `value` and, when
    /// `lang` is given, `xml:lang` set to it, in one copy: how a server stamps `from` on a
    /// client's stanza and gives it the language of the client's stream (RFC 6120 sections
    /// 8.1.2.1 and 4.7.4).
    pub fn with_attr_and_lang(&self, name: &str, value: &str, lang: Option<&str>) -> Element {
        self.with_attr_and_lang_indexed(None, name, value, lang)
    }

    /// [`with_attr_and_lang`](Self::with_attr_and_lang), with the root's attributes already
    /// found by [`root_index`](Self::root_index) when the caller has them.
    pub(crate) fn with_attr_and_lang_indexed(
        &self,
        index: Option<RootIndex>,
        name: &str,
        value: &str,
        lang: Option<&str>,
    ) -> Element {
        match lang {
            Some(lang) => {
                self.with_root_attrs(&[(None, name, value), (Some(XML_NS), "lang", lang)], index)
            }
            None => self.with_root_attrs(&[(None, name, value)], index),
        }
    }

    /// [`with_attr_and_lang_indexed`](Self::with_attr_and_lang_indexed) for a name that a
    /// [`RootIndex`] notes, with the index of the new element, updated rather than found
    /// again.
    #[cfg_attr(not(feature = "jid"), allow(dead_code))]
    pub(crate) fn with_known_and_lang(
        &self,
        index: RootIndex,
        which: Known,
        value: &str,
        lang: Option<&str>,
    ) -> (Element, RootIndex) {
        let name = match which {
            Known::To => "to",
            Known::From => "from",
            Known::Id => "id",
            Known::Type => "type",
            Known::Lang => {
                let el = self.with_root_attrs(&[(Some(XML_NS), "lang", value)], Some(index));
                let index = el.root_index();
                return (el, index);
            }
        };
        let (el, placed) = match lang {
            Some(lang) => self.with_root_attrs_placed(
                &[(None, name, value), (Some(XML_NS), "lang", lang)],
                Some(index),
            ),
            None => self.with_root_attrs_placed(&[(None, name, value)], Some(index)),
        };
        let mut index = index.placed(which, placed[0]);
        if lang.is_some() {
            index = index.placed(Known::Lang, placed[1]);
        }
        (el, index)
    }

    fn with_root_attr(&self, ns: Option<&str>, local: &str, value: &str) -> Element {
        self.with_root_attrs(&[(ns, local, value)], None)
    }

    /// Finds the root attributes that [`RootIndex`] notes, in one pass.
    #[cfg_attr(not(feature = "jid"), allow(dead_code))]
    pub(crate) fn root_index(&self) -> RootIndex {
        let mut index = [ABSENT; 5];
        let root = self.node(0);
        let (first, count) = (root[5] as usize, root[6] as usize);
        let record = ATTR_WORDS * 4;
        let base = self.layout.attrs_off as usize + first * record;
        let records = self
            .buf
            .get(base..base + count * record)
            .unwrap_or_default();
        let word = |r: &[u8], k: usize| {
            u32::from_le_bytes([r[4 * k], r[4 * k + 1], r[4 * k + 2], r[4 * k + 3]])
        };
        for (i, r) in records.chunks_exact(record).enumerate() {
            // Lengths first: the unprefixed names looked for are 2 or 4 bytes (and have no
            // namespace), `xml:lang` 8. The parser binds the `xml` prefix to XML_NS only,
            // and no other prefix to it, so the qualified name `xml:lang` is that attribute.
            let (name_len, ns_len) = (word(r, 2), word(r, 4));
            let which = match (name_len, ns_len) {
                (2 | 4, 0) => match self.span_bytes(word(r, 1), name_len) {
                    b"to" => Known::To,
                    b"id" => Known::Id,
                    b"from" => Known::From,
                    b"type" => Known::Type,
                    _ => continue,
                },
                (8, 1..) if self.span_bytes(word(r, 1), name_len) == b"xml:lang" => Known::Lang,
                _ => continue,
            };
            index[which as usize] = u8::try_from(i).map_or(FAR, |i| i.min(FAR));
        }
        RootIndex(index)
    }

    /// The value of the root attribute `which`, read through `index` (which must be this
    /// element's [`root_index`](Self::root_index)).
    #[cfg_attr(not(feature = "jid"), allow(dead_code))]
    #[inline]
    pub(crate) fn known_attr(&self, index: RootIndex, which: Known) -> Option<Cow<'_, str>> {
        match index.get(which) {
            Ok(None) => None,
            Ok(Some(i)) => {
                // The value alone: no `Attr` with its name and namespace is needed.
                let a = self.attr_rec(self.node(0)[5] + i);
                let raw = self.str_at(a[5], a[6]);
                Some(if a[0] & FLAG_DECODE != 0 {
                    Cow::Owned(decode(raw, true))
                } else {
                    Cow::Borrowed(raw)
                })
            }
            Err(()) => match which {
                Known::To => self.attr("to"),
                Known::From => self.attr("from"),
                Known::Id => self.attr("id"),
                Known::Type => self.attr("type"),
                Known::Lang => self.root().attr_ns(XML_NS, "lang"),
            },
        }
    }

    /// Sets attributes of the root, each `(ns, local, value)`: `ns` is `None` for no
    /// namespace, else one of [`KNOWN_NS`] with a reserved prefix, which is only ever
    /// [`XML_NS`]. The names must differ. One allocation; the tree is not parsed again.
    fn with_root_attrs(
        &self,
        set: &[(Option<&str>, &str, &str)],
        index: Option<RootIndex>,
    ) -> Element {
        self.with_root_attrs_placed(set, index).0
    }

    /// [`with_root_attrs`](Self::with_root_attrs), which also says where each attribute of
    /// `set` is among the new root's attributes, so that a [`RootIndex`] follows the copy
    /// without another scan.
    fn with_root_attrs_placed(
        &self,
        set: &[(Option<&str>, &str, &str)],
        index: Option<RootIndex>,
    ) -> (Element, [u32; MAX_ROOT_ATTRS]) {
        let l = self.layout;
        let (raw_len, nodes_off, attrs_off) = (
            l.raw_len as usize,
            l.nodes_off as usize,
            l.attrs_off as usize,
        );
        let root = self.node(0);
        let (first, count) = (root[5], root[6]);
        let record = ATTR_WORDS * 4;
        let pool_len = nodes_off - raw_len;
        // Per attribute: the record it replaces, if any, and where its value and, for a new
        // one, its name go in the pool (which only grows at its end, so every span into the
        // raw bytes and the pool keeps its offset). Planned on the stack: a stamp is on the
        // path of every stanza a server receives, and the new element is its one allocation.
        assert!(
            set.len() <= MAX_ROOT_ATTRS,
            "at most {MAX_ROOT_ATTRS} attributes at once"
        );
        let mut plans = [(None, [0; ATTR_WORDS]); MAX_ROOT_ATTRS];
        let mut grown = 0;
        for (plan, &(ns, local, value)) in plans.iter_mut().zip(set) {
            let known = match ns {
                None => Known::unprefixed(local),
                Some(XML_NS) if local == "lang" => Some(Known::Lang),
                Some(_) => None,
            };
            let noted = index.zip(known).and_then(|(x, k)| x.get(k).ok());
            let existing = match noted {
                Some(at) => at.map(|i| first + i),
                None => (first..first + count).find(|&i| {
                    let a = self.attr_rec(i);
                    self.str_at(a[3], a[4]) == ns.unwrap_or_default()
                        && self.local_name(&a) == local
                }),
            };
            let value_at = POOL | (pool_len + grown) as u32;
            grown += value.len();
            let name_at = POOL | (pool_len + grown) as u32;
            let (ns_span, prefix_len) = match ns {
                None => ((0, 0), 0),
                Some(uri) => {
                    // The xml prefix: the only reserved one.
                    (known_ns(uri.as_bytes()).unwrap_or((0, 0)), 3)
                }
            };
            let name_len = local.len() + if prefix_len != 0 { 4 } else { 0 };
            if existing.is_none() {
                grown += name_len;
            }
            let new = [
                prefix_len << 16,
                name_at,
                name_len as u32,
                ns_span.0,
                ns_span.1,
                value_at,
                value.len() as u32,
            ];
            *plan = (existing, new);
        }
        let plan = &plans[..set.len()];
        let added = plan.iter().filter(|(e, _)| e.is_none()).count() as u32;
        let new_nodes_off = nodes_off + grown;
        let new_attrs_off = new_nodes_off + (attrs_off - nodes_off);
        let total = self.buf.len() + grown + added as usize * record;
        let mut v = Vec::with_capacity(total);
        v.extend_from_slice(&self.buf[..nodes_off]);
        for (&(ns, local, value), (existing, _)) in set.iter().zip(plan) {
            v.extend_from_slice(value.as_bytes());
            if existing.is_none() {
                if ns.is_some() {
                    v.extend_from_slice(b"xml:");
                }
                v.extend_from_slice(local.as_bytes());
            }
        }
        debug_assert_eq!(v.len(), new_nodes_off);
        // The records are copied in bulk, then the few words that change are patched. New
        // attributes go right after the root's own: the root's range grows, and every later
        // range starts that many records further.
        let after = first + count;
        let split = attrs_off + after as usize * record;
        v.extend_from_slice(&self.buf[nodes_off..split]);
        for (existing, new) in plan {
            if existing.is_none() {
                new.iter()
                    .for_each(|w| v.extend_from_slice(&w.to_le_bytes()));
            }
        }
        v.extend_from_slice(&self.buf[split..]);
        for (existing, new) in plan {
            if let Some(i) = existing {
                // Replaced in place: the name and namespace stay, the value is the new one,
                // already decoded.
                let at = new_attrs_off + *i as usize * record;
                let flags = get_word(&v, at) & !FLAG_DECODE;
                set_word(&mut v, at, flags);
                set_word(&mut v, at + 5 * 4, new[5]);
                set_word(&mut v, at + 6 * 4, new[6]);
            }
        }
        if added > 0 {
            set_word(&mut v, new_nodes_off + 6 * 4, count + added);
            for idx in 1..self.node_count() as usize {
                let base = new_nodes_off + idx * NODE_WORDS * 4;
                let first_attr = get_word(&v, base + 5 * 4);
                if get_word(&v, base) & 0xF == KIND_ELEMENT && first_attr >= after {
                    set_word(&mut v, base + 5 * 4, first_attr + added);
                }
            }
        }
        debug_assert_eq!(v.len(), total);
        let layout = Layout {
            raw_len: l.raw_len,
            nodes_off: new_nodes_off as u32,
            attrs_off: new_attrs_off as u32,
        };
        // Replaced attributes keep their place; added ones follow the root's own, in order.
        let mut placed = [0; MAX_ROOT_ATTRS];
        let mut next = count;
        for (at, (existing, _)) in placed.iter_mut().zip(plan) {
            *at = match existing {
                Some(i) => i - first,
                None => {
                    next += 1;
                    next - 1
                }
            };
        }
        let el = Element::from_parts(v.into(), layout, self.header.clone());
        (el, placed)
    }

    /// The namespace name (empty when the element is in no namespace).
    pub fn ns(&self) -> &str {
        self.root().ns()
    }

    /// Is this the element `name` in namespace `ns`?
    pub fn is(&self, name: &str, ns: &str) -> bool {
        self.root().is(name, ns)
    }

    /// The value of the attribute `name` that has no namespace.
    pub fn attr(&self, name: &str) -> Option<Cow<'_, str>> {
        self.root().attr(name)
    }

    /// The child elements.
    pub fn children(&self) -> Children<'_> {
        self.root().children()
    }

    /// The first child element `name` in namespace `ns`.
    pub fn get_child(&self, name: &str, ns: &str) -> Option<ElementRef<'_>> {
        self.root().get_child(name, ns)
    }

    /// The character data directly inside the element, decoded and concatenated.
    pub fn text(&self) -> Cow<'_, str> {
        self.root().text()
    }

    #[inline]
    fn node(&self, idx: u32) -> [u32; NODE_WORDS] {
        let base = self.layout.nodes_off as usize + idx as usize * NODE_WORDS * 4;
        words(&self.buf[base..base + NODE_WORDS * 4])
    }

    #[inline]
    fn attr_rec(&self, idx: u32) -> [u32; ATTR_WORDS] {
        let base = self.layout.attrs_off as usize + idx as usize * ATTR_WORDS * 4;
        words(&self.buf[base..base + ATTR_WORDS * 4])
    }

    #[inline]
    fn node_count(&self) -> u32 {
        (self.layout.attrs_off - self.layout.nodes_off) / (NODE_WORDS as u32 * 4)
    }

    /// The bytes of a span of the raw bytes, of the pool ([`POOL`]), of a well-known
    /// namespace ([`KNOWN`]) or of the header ([`HEADER`]).
    pub(crate) fn span(&self, start: u32, len: u32) -> &[u8] {
        self.str_at(start, len).as_bytes()
    }

    /// The bytes of a span, as [`span`](Self::span), for a byte comparison: a span of the
    /// raw bytes is sliced without the character-boundary checks of [`str_at`](Self::str_at).
    #[inline]
    fn span_bytes(&self, start: u32, len: u32) -> &[u8] {
        let at = match start & HEADER {
            0 => start as usize,
            POOL => (start & !POOL) as usize + self.layout.raw_len as usize,
            _ => return self.span(start, len),
        };
        self.text_bytes()
            .get(at..at + len as usize)
            .unwrap_or_default()
    }

    /// The local name of an attribute record (its words 0 to 2 are laid out as a node's).
    #[inline]
    fn local_name(&self, r: &[u32; ATTR_WORDS]) -> &str {
        let p = r[0] >> 16;
        if p == 0 {
            self.str_at(r[1], r[2])
        } else {
            self.str_at(r[1] + p + 1, r[2] - p - 1)
        }
    }

    /// The text of a span, as [`span`](Self::span); empty for a span that is not one (out
    /// of its region, or not on character boundaries), which the parser never makes.
    #[inline]
    fn str_at(&self, start: u32, len: u32) -> &str {
        let len = len as usize;
        if len == 0 {
            // No namespace, no prefix: the most common span of all.
            return "";
        }
        if start & HEADER == HEADER {
            let at = (start & !HEADER) as usize;
            return self
                .header
                .as_ref()
                .map_or("", |h| text_at(h, at, at.saturating_add(len)));
        }
        if start & (POOL | KNOWN) == KNOWN {
            let known = KNOWN_NS.get((start & !KNOWN) as usize).unwrap_or(&"");
            return known.get(..len).unwrap_or_default();
        }
        let start = if start & POOL != 0 {
            (start & !POOL) as usize + self.layout.raw_len as usize
        } else {
            start as usize
        };
        text_at(self.text_bytes(), start, start.saturating_add(len))
    }
}

fn get_word(v: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(v[at..at + 4].try_into().expect("4 bytes"))
}

fn set_word(v: &mut [u8], at: usize, w: u32) {
    v[at..at + 4].copy_from_slice(&w.to_le_bytes());
}

/// The words of a record.
#[inline]
fn words<const N: usize>(b: &[u8]) -> [u32; N] {
    // One bounds check for the record, after which each word's is provably in range: the
    // reader's hottest line when it was a check per byte.
    let b = &b[..4 * N];
    core::array::from_fn(|k| u32::from_le_bytes(b[4 * k..4 * k + 4].try_into().expect("4 bytes")))
}

/// `text[start..end]` as a `str`, or `""` when that range is outside `text` or does not
/// start and end on character boundaries. `text` must be valid UTF-8: an element's text
/// region (see [`Element`]), which the parser checked before it cut any span from it.
///
/// The one `unsafe` in the crate. Without it every accessor ran `str::from_utf8` over its
/// span again, bytes the parser had already checked: 20 % of the time of reading every
/// stanza (issue 13; `benches/README.md`, "Reading the tree", has the measurements).
#[inline]
#[allow(unsafe_code)]
fn text_at(text: &[u8], start: usize, end: usize) -> &str {
    let Some(bytes) = text.get(start..end) else {
        return "";
    };
    // A UTF-8 continuation byte is 0b10xx_xxxx: -64..-1 as an i8.
    let boundary = |i: usize| text.get(i).is_none_or(|&b| (b as i8) >= -0x40);
    if !boundary(start) || !boundary(end) {
        return "";
    }
    debug_assert!(core::str::from_utf8(bytes).is_ok());
    // SAFETY: `text` is valid UTF-8 (the invariant of `Element::from_parts`, its only
    // constructor, debug-asserted there: the parser checks every byte of a unit before its
    // scanner looks at it, and the pool holds only `str`s), and `bytes` is a sub-slice of it
    // that starts and ends on character boundaries (checked just above), so `bytes` is
    // valid UTF-8 too, as `str::get(start..end)` would have it.
    unsafe { core::str::from_utf8_unchecked(bytes) }
}

impl PartialEq for Element {
    /// Elements are equal when their trees are: names, namespaces, attribute sets and
    /// decoded character data, whatever prefixes or quoting the bytes used.
    fn eq(&self, other: &Self) -> bool {
        self.root() == other.root()
    }
}

impl Eq for Element {}

impl fmt::Debug for Element {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Element {
    /// The element serialized with explicit namespace declarations.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.root(), f)
    }
}

/// A borrowed view of one element inside an [`Element`]'s tree.
#[derive(Clone, Copy)]
pub struct ElementRef<'a> {
    el: &'a Element,
    idx: u32,
}

impl<'a> ElementRef<'a> {
    #[inline]
    fn rec(&self) -> [u32; NODE_WORDS] {
        self.el.node(self.idx)
    }

    /// The qualified name as written (`prefix:local` or `local`).
    #[inline]
    pub fn qname(&self) -> &'a str {
        let r = self.rec();
        self.el.str_at(r[1], r[2])
    }

    /// The local name.
    #[inline]
    pub fn name(&self) -> &'a str {
        let r = self.rec();
        let p = r[0] >> 16;
        if p == 0 {
            self.el.str_at(r[1], r[2])
        } else {
            self.el.str_at(r[1] + p + 1, r[2] - p - 1)
        }
    }

    /// The prefix as written, if any.
    #[inline]
    pub fn prefix(&self) -> Option<&'a str> {
        let r = self.rec();
        let p = r[0] >> 16;
        (p != 0).then(|| self.el.str_at(r[1], p))
    }

    /// The namespace name (empty when the element is in no namespace).
    #[inline]
    pub fn ns(&self) -> &'a str {
        let r = self.rec();
        self.el.str_at(r[3], r[4])
    }

    /// Is this the element `name` in namespace `ns`?
    pub fn is(&self, name: &str, ns: &str) -> bool {
        self.name() == name && self.ns() == ns
    }

    /// The attributes, namespace declarations excluded, in document order.
    #[inline]
    pub fn attrs(&self) -> Attrs<'a> {
        let r = self.rec();
        Attrs {
            el: self.el,
            next: r[5],
            end: r[5] + r[6],
        }
    }

    /// The value of the attribute `name` that has no namespace.
    pub fn attr(&self, name: &str) -> Option<Cow<'a, str>> {
        // Read from the records, building an `Attr` only for the one found: roles look up
        // `to` and `from` on every stanza.
        let r = self.rec();
        (r[5]..r[5] + r[6]).find_map(|i| {
            let a = self.el.attr_rec(i);
            // No namespace, so no prefix: the qualified name's length is the local name's.
            let candidate = a[4] == 0 && (a[0] >> 16 != 0 || a[2] as usize == name.len());
            (candidate && self.el.local_name(&a) == name).then(|| attr_of(self.el, &a).value())
        })
    }

    /// The value of the attribute `name` in namespace `ns` (for example `lang` in
    /// [`XML_NS`]).
    pub fn attr_ns(&self, ns: &str, name: &str) -> Option<Cow<'a, str>> {
        // As `attr`: from the records, lengths first (a server asks every stanza for its
        // `xml:lang`).
        let r = self.rec();
        (r[5]..r[5] + r[6]).find_map(|i| {
            let a = self.el.attr_rec(i);
            let found = a[4] as usize == ns.len()
                && self.el.local_name(&a) == name
                && self.el.str_at(a[3], a[4]) == ns;
            found.then(|| attr_of(self.el, &a).value())
        })
    }

    /// The child nodes: elements and character data, in document order.
    #[inline]
    pub fn nodes(&self) -> Nodes<'a> {
        let r = self.rec();
        Nodes {
            el: self.el,
            next: self.idx + 1,
            end: r[7].min(self.el.node_count()),
        }
    }

    /// The child elements.
    pub fn children(&self) -> Children<'a> {
        Children(self.nodes())
    }

    /// The first child element `name` in namespace `ns`.
    pub fn get_child(&self, name: &str, ns: &str) -> Option<ElementRef<'a>> {
        self.children().find(|c| c.is(name, ns))
    }

    /// Does the element have no child nodes at all?
    pub fn is_empty(&self) -> bool {
        self.nodes().next().is_none()
    }

    /// The character data directly inside the element (not inside its children), decoded
    /// and concatenated.
    pub fn text(&self) -> Cow<'a, str> {
        let mut out: Option<Cow<'a, str>> = None;
        for node in self.nodes() {
            if let Node::Text(t) = node {
                match &mut out {
                    None => out = Some(t),
                    Some(acc) => acc.to_mut().push_str(&t),
                }
            }
        }
        out.unwrap_or(Cow::Borrowed(""))
    }
}

impl PartialEq for ElementRef<'_> {
    fn eq(&self, other: &Self) -> bool {
        if !(self.name() == other.name() && self.ns() == other.ns()) {
            return false;
        }
        let (a, b) = (self.attrs(), other.attrs());
        if a.len() != b.len() || !a.clone().all(|x| b.clone().any(|y| x == y)) {
            return false;
        }
        // Adjacent text and CDATA nodes are one run of character data.
        let mut x = self.nodes().peekable();
        let mut y = other.nodes().peekable();
        loop {
            match (next_merged(&mut x), next_merged(&mut y)) {
                (None, None) => return true,
                (Some(MergedNode::Text(s)), Some(MergedNode::Text(t))) if s == t => {}
                (Some(MergedNode::Element(s)), Some(MergedNode::Element(t))) if s == t => {}
                _ => return false,
            }
        }
    }
}

enum MergedNode<'a> {
    Element(ElementRef<'a>),
    Text(Cow<'a, str>),
}

fn next_merged<'a>(it: &mut core::iter::Peekable<Nodes<'a>>) -> Option<MergedNode<'a>> {
    match it.next()? {
        Node::Element(e) => Some(MergedNode::Element(e)),
        Node::Text(mut t) => {
            while let Some(Node::Text(more)) = it.peek() {
                t.to_mut().push_str(more);
                it.next();
            }
            Some(MergedNode::Text(t))
        }
    }
}

impl fmt::Debug for ElementRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for ElementRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = bytes::BytesMut::new();
        super::writer::write_element(&mut out, *self, "");
        f.write_str(&String::from_utf8_lossy(&out))
    }
}

/// One attribute of an element. Two attributes are equal when their namespaces, local names
/// and decoded values are.
#[derive(Debug, Clone)]
pub struct Attr<'a> {
    /// The local name.
    pub name: &'a str,
    /// The prefix as written, if any.
    pub prefix: Option<&'a str>,
    /// The namespace name; empty for an unprefixed attribute.
    pub ns: &'a str,
    raw: &'a str,
    decode: bool,
}

impl<'a> Attr<'a> {
    /// The value, with references decoded and white space normalized (XML 1.0 section 3.3.3).
    #[inline]
    pub fn value(&self) -> Cow<'a, str> {
        if self.decode {
            Cow::Owned(decode(self.raw, true))
        } else {
            Cow::Borrowed(self.raw)
        }
    }
}

impl PartialEq for Attr<'_> {
    fn eq(&self, other: &Attr<'_>) -> bool {
        self.name == other.name && self.ns == other.ns && self.value() == other.value()
    }
}

impl Eq for Attr<'_> {}

/// The attribute of record `r`.
#[inline]
fn attr_of<'a>(el: &'a Element, r: &[u32; ATTR_WORDS]) -> Attr<'a> {
    let p = r[0] >> 16;
    Attr {
        name: el.local_name(r),
        prefix: (p != 0).then(|| el.str_at(r[1], p)),
        ns: el.str_at(r[3], r[4]),
        raw: el.str_at(r[5], r[6]),
        decode: r[0] & FLAG_DECODE != 0,
    }
}

/// The attributes of an element.
#[derive(Clone)]
pub struct Attrs<'a> {
    el: &'a Element,
    next: u32,
    end: u32,
}

impl<'a> Iterator for Attrs<'a> {
    type Item = Attr<'a>;

    #[inline]
    fn next(&mut self) -> Option<Attr<'a>> {
        if self.next >= self.end {
            return None;
        }
        let r = self.el.attr_rec(self.next);
        self.next += 1;
        Some(attr_of(self.el, &r))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = (self.end - self.next) as usize;
        (n, Some(n))
    }
}

impl ExactSizeIterator for Attrs<'_> {}

/// A child node.
#[derive(Debug, Clone)]
pub enum Node<'a> {
    /// A child element.
    Element(ElementRef<'a>),
    /// A run of character data (from text or a CDATA section), decoded.
    Text(Cow<'a, str>),
}

/// The child nodes of an element.
#[derive(Clone)]
pub struct Nodes<'a> {
    el: &'a Element,
    next: u32,
    end: u32,
}

impl<'a> Iterator for Nodes<'a> {
    type Item = Node<'a>;

    #[inline]
    fn next(&mut self) -> Option<Node<'a>> {
        if self.next >= self.end {
            return None;
        }
        let idx = self.next;
        let r = self.el.node(idx);
        // Never step backwards, whatever the records say: iteration always ends.
        self.next = r[7].max(idx + 1);
        let kind = r[0] & 0xF;
        if kind == KIND_ELEMENT {
            return Some(Node::Element(ElementRef { el: self.el, idx }));
        }
        let raw = self.el.str_at(r[1], r[2]);
        Some(match kind {
            KIND_TEXT if r[0] & FLAG_DECODE != 0 => Node::Text(Cow::Owned(decode(raw, false))),
            // CDATA content is literal, but line ends are normalized in it too.
            KIND_CDATA if r[0] & FLAG_DECODE != 0 => {
                Node::Text(Cow::Owned(raw.replace("\r\n", "\n").replace('\r', "\n")))
            }
            _ => Node::Text(Cow::Borrowed(raw)),
        })
    }
}

/// The child elements of an element.
#[derive(Clone)]
pub struct Children<'a>(Nodes<'a>);

impl<'a> Iterator for Children<'a> {
    type Item = ElementRef<'a>;

    fn next(&mut self) -> Option<ElementRef<'a>> {
        loop {
            if let Node::Element(e) = self.0.next()? {
                return Some(e);
            }
        }
    }
}

/// Decodes character data or an attribute value that the parser has already checked:
/// predefined entities and character references, line ends (XML 1.0 section 2.11) and, in
/// attribute values, white space normalization (section 3.3.3).
pub(crate) fn decode(raw: &str, attr: bool) -> String {
    // Byte searches: every byte looked for is ASCII, so each hit is a character boundary.
    // In text only references and CR change anything (LF and tab stay as they are).
    let special = |s: &str| {
        if attr {
            s.bytes()
                .position(|c| matches!(c, b'&' | b'\r' | b'\n' | b'\t'))
        } else {
            memchr::memchr2(b'&', b'\r', s.as_bytes())
        }
    };
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = special(rest) {
        out.push_str(&rest[..i]);
        let c = rest.as_bytes()[i];
        rest = &rest[i + 1..];
        match c {
            b'&' => {
                let Some(end) = memchr::memchr(b';', rest.as_bytes()) else {
                    out.push('&');
                    continue;
                };
                match resolve_reference(&rest[..end]) {
                    Some(ch) => out.push(ch),
                    None => out.push_str(&rest[..=end]),
                }
                rest = &rest[end + 1..];
            }
            b'\r' => {
                rest = rest.strip_prefix('\n').unwrap_or(rest);
                out.push(if attr { ' ' } else { '\n' });
            }
            _ if attr => out.push(' '),
            other => out.push(other as char),
        }
    }
    out.push_str(rest);
    out
}

/// The character a reference body (between `&` and `;`) stands for, if it is one of the five
/// predefined entities or a character reference to a legal character.
pub(crate) fn resolve_reference(body: &str) -> Option<char> {
    Some(match body {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        _ => {
            let digits = body.strip_prefix('#')?;
            let (digits, radix) = match digits.strip_prefix('x') {
                Some(hex) => (hex, 16),
                None => (digits, 10),
            };
            if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
                return None;
            }
            let v = u32::from_str_radix(digits, radix).ok()?;
            if !super::chars::is_xml_char(v) {
                return None;
            }
            char::from_u32(v)?
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `with_attr` as it was before it copied records in bulk: every record rebuilt word by
    /// word. The layout it gives is the contract.
    impl Element {
        fn with_attr_rebuilt(&self, name: &str, value: &str) -> Element {
            let l = self.layout;
            let (raw_len, nodes_off, attrs_off) = (
                l.raw_len as usize,
                l.nodes_off as usize,
                l.attrs_off as usize,
            );
            let root = self.node(0);
            let (first, count) = (root[5], root[6]);
            let existing = (first..first + count).find(|&i| {
                let a = self.attr_rec(i);
                a[3] == 0
                    && a[4] == 0
                    && a[0] >> 16 == 0
                    && self.span(a[1], a[2]) == name.as_bytes()
            });
            let pool_len = nodes_off - raw_len;
            // The pool grows by the value, and by the name when the attribute is new.
            let added = value.len() + if existing.is_none() { name.len() } else { 0 };
            let record = ATTR_WORDS * 4;
            let new_nodes_off = nodes_off + added;
            let new_attrs_off = new_nodes_off + (attrs_off - nodes_off);
            let total = self.buf.len() + added + if existing.is_none() { record } else { 0 };
            let mut v = Vec::with_capacity(total);
            v.extend_from_slice(&self.buf[..nodes_off]);
            let value_at = POOL | pool_len as u32;
            v.extend_from_slice(value.as_bytes());
            let name_at = POOL | (pool_len + value.len()) as u32;
            if existing.is_none() {
                v.extend_from_slice(name.as_bytes());
            }
            let word = |w: u32| w.to_le_bytes();
            for idx in 0..self.node_count() {
                let mut n = self.node(idx);
                if existing.is_none()
                    && n[0] & 0xF == KIND_ELEMENT
                    && idx != 0
                    && n[5] >= first + count
                {
                    n[5] += 1;
                }
                if idx == 0 && existing.is_none() {
                    n[6] += 1;
                }
                n.iter().for_each(|w| v.extend_from_slice(&word(*w)));
            }
            let n_attrs = ((self.buf.len() - attrs_off) / record) as u32;
            let new = [
                0,
                name_at,
                name.len() as u32,
                0,
                0,
                value_at,
                value.len() as u32,
            ];
            for i in 0..=n_attrs {
                // A new attribute goes right after the root's own.
                if existing.is_none() && i == first + count {
                    new.iter().for_each(|w| v.extend_from_slice(&word(*w)));
                }
                if i == n_attrs {
                    break;
                }
                let mut a = self.attr_rec(i);
                if Some(i) == existing {
                    a[0] &= !FLAG_DECODE;
                    (a[5], a[6]) = (value_at, value.len() as u32);
                }
                a.iter().for_each(|w| v.extend_from_slice(&word(*w)));
            }
            let layout = Layout {
                raw_len: l.raw_len,
                nodes_off: new_nodes_off as u32,
                attrs_off: new_attrs_off as u32,
            };
            Element::from_parts(v.into(), layout, self.header.clone())
        }
    }

    #[test]
    fn with_attr_gives_the_same_buffer_as_rebuilding_every_record() {
        let stanzas = [
            "<message to='a@b' xml:lang='en'><body a='1'>hi</body><x xmlns='u' y='2'/></message>",
            "<presence/>",
            "<iq from='spoof' id='1'/>",
            "<iq from='a&amp;b' id='1'><q xmlns='u&amp;v' a='1'><i b='2'/></q></iq>",
            "<message><delay xmlns='urn:xmpp:delay' stamp='s' from='r'/><s xmlns='urn:xmpp:sid:0' id='i' by='r'/></message>",
            "<m xmlns:p='urn:p' p:from='x' from='y'><p:c p:a='1'/>text &lt;<e/></m>",
        ];
        for xml in stanzas {
            let el = super::super::parse_element("jabber:client", xml.as_bytes()).unwrap();
            for (name, value) in [
                ("from", "juliet@example.com/balcony"),
                ("id", "\u{e9}"),
                ("to", ""),
            ] {
                let bulk = el.with_attr(name, value);
                let rebuilt = el.with_attr_rebuilt(name, value);
                assert_eq!(bulk.buf, rebuilt.buf, "{xml} {name}");
                assert_eq!(bulk.layout, rebuilt.layout, "{xml} {name}");
                assert_eq!(bulk.attr(name).as_deref(), Some(value), "{xml} {name}");
                let added = usize::from(el.attr(name).is_none());
                assert_eq!(
                    bulk.root().attrs().count(),
                    el.root().attrs().count() + added
                );
                // The subtree reads the same.
                let children =
                    |e: &Element| e.children().map(|c| c.to_string()).collect::<Vec<_>>();
                assert_eq!(children(&bulk), children(&el), "{xml} {name}");
            }
        }
    }

    #[test]
    fn decode_handles_references_line_ends_and_attribute_whitespace() {
        assert_eq!(
            decode("a &amp; b &lt;&gt;&quot;&apos;", false),
            "a & b <>\"'"
        );
        assert_eq!(decode("&#65;&#x42;&#x1F600;", false), "AB😀");
        assert_eq!(decode("l1\r\nl2\rl3\n", false), "l1\nl2\nl3\n");
        assert_eq!(decode("a\tb\r\nc\nd&#10;", true), "a b c d\n");
        assert_eq!(decode("&#13;", false), "\r");
    }

    #[test]
    fn references_to_forbidden_characters_do_not_resolve() {
        for body in [
            "#0", "#x1", "#xD800", "#xFFFE", "#x110000", "#", "#x", "nbsp", "#12a",
        ] {
            assert_eq!(resolve_reference(body), None, "{body}");
        }
        assert_eq!(resolve_reference("#x10FFFF"), Some('\u{10FFFF}'));
    }
}
