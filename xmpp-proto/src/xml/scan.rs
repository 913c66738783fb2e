//! The markup scanner: one resumable state machine over the bytes of one unit (the XML
//! declaration, the stream header's start tag, one first-level element, or the stream's end
//! tag), building the unit's element tree as tags complete.
//!
//! The unit's bytes are always contiguous (the caller buffers an unfinished unit), so a state
//! only remembers offsets into them, and resuming never rescans more than the few bytes of
//! lookahead that `<!`, `<?` and `]]>` need. The caller guarantees that every byte the scanner
//! is shown has passed [`chars::check`](super::chars::check).

use memchr::{memchr, memchr3};

use super::chars::{self, ASCII_NAME, decode_at, is_name_start, is_space};
use super::element::{
    ATTR_WORDS, Element, FLAG_DECODE, HEADER, KIND_CDATA, KIND_ELEMENT, KIND_TEXT, KNOWN, Layout,
    NODE_WORDS, POOL, XML_NS, XMLNS_NS, decode, known_ns, resolve_reference,
};
use super::error::ErrorKind;
use super::limits::{Limit, Limits};
use super::names::{self, NameIndex};
use super::parser::RootStamp;

/// A raw attribute that is a namespace declaration (`xmlns` or `xmlns:*`).
const FLAG_XMLNS: u32 = 1 << 8;

const STREAMS_NS: &[u8] = b"http://etherx.jabber.org/streams";

type Fault = (usize, ErrorKind);

/// What a complete unit was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unit {
    XmlDecl,
    Header { empty: bool },
    Element,
    Close,
}

#[derive(Debug, Clone, Copy)]
enum RefReturn {
    Text { start: u32, flags: u32 },
    Attr { quote: u8, start: u32, flags: u32 },
}

#[derive(Debug, Clone, Copy)]
enum Lex {
    /// After `<`.
    Lt,
    /// After `<!`: a comment, CDATA section or DOCTYPE, decided by lookahead.
    Bang,
    /// After `<?`: the XML declaration or a processing instruction.
    Question,
    /// Inside the XML declaration, looking for `?>`.
    XmlDecl,
    StartName {
        start: u32,
    },
    /// Inside a start tag, where white space, an attribute, `>` or `/>` may come.
    Tag,
    /// Right after an attribute value: white space, `>` or `/>` must come.
    AfterValue,
    /// After `/` in a start tag.
    EmptyEnd,
    AttrName {
        start: u32,
    },
    AttrEq,
    AttrQuote,
    AttrValue {
        quote: u8,
        start: u32,
        flags: u32,
    },
    EndName {
        start: u32,
    },
    EndTail,
    Text {
        start: u32,
        flags: u32,
    },
    Ref {
        amp: u32,
        ret: RefReturn,
    },
    CData {
        start: u32,
    },
}

/// The outcome of [`Scanner::fast_tag`].
enum Fast {
    /// The unit is complete.
    Done((usize, Unit)),
    /// The tag was read, or as much of it as the fast path reads: the state machine goes on
    /// from where it stopped.
    Continue,
    /// Not an ordinary tag, or not all here: the state machine takes it.
    Slow,
}

#[derive(Debug, Clone, Copy)]
struct RawAttr {
    /// The name's first eight bytes, zero-padded ([`name_key`]): with `name_len`, it tells
    /// the names of one tag apart without comparing their bytes, all of them when no name
    /// is longer than eight bytes (`to`, `from`, `id`, `type`, `xml:lang`, `xmlns`).
    key: u64,
    name: u32,
    name_len: u32,
    prefix_len: u32,
    value: u32,
    value_len: u32,
    flags: u32,
}

/// A namespace binding in scope: `prefix_len == 0` is the default namespace.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Binding {
    pub prefix: u32,
    pub prefix_len: u32,
    pub ns: u32,
    pub ns_len: u32,
}

/// The stream header's bindings, inherited by every first-level element.
#[derive(Debug, Clone)]
pub(crate) struct StreamContext {
    pub header: Element,
    pub bindings: Vec<Binding>,
    /// The bindings' prefixes, when there are many.
    index: NameIndex,
    /// The header's default namespace, when it is a well-known one (the usual case).
    default_known: Option<(u32, u32)>,
    /// The header's `xml:lang`, which a receiving server gives each stanza that has none
    /// (RFC 6120 section 4.7.4): read once per stream, not per stanza.
    pub lang: Option<Box<str>>,
}

impl StreamContext {
    pub fn new(header: Element, bindings: Vec<Binding>) -> Self {
        let default_known = bindings
            .iter()
            .rev()
            .find(|b| b.prefix_len == 0)
            .filter(|b| b.ns & (POOL | KNOWN) == KNOWN)
            .map(|b| (b.ns, b.ns_len));
        let mut index = NameIndex::default();
        if bindings.len() > 2 * names::LINEAR {
            for b in &bindings {
                index.push(names::hash(header.span(b.prefix, b.prefix_len)));
            }
        }
        let lang = header.root().attr_ns(XML_NS, "lang").map(Into::into);
        StreamContext {
            header,
            bindings,
            index,
            default_known,
            lang,
        }
    }

    /// The header's declarations as `(prefix, namespace)`; the default has an empty prefix.
    pub fn declarations(&self) -> impl Iterator<Item = (&str, &str)> {
        let text = |a, l| core::str::from_utf8(self.bytes(a, l)).unwrap_or_default();
        self.bindings
            .iter()
            .map(move |b| (text(b.prefix, b.prefix_len), text(b.ns, b.ns_len)))
    }

    /// The newest binding of `prefix` in the header.
    fn find(&self, prefix: &[u8]) -> Option<usize> {
        let same = |b: &Binding| self.bytes(b.prefix, b.prefix_len) == prefix;
        if self.index.len() == 0 {
            return self.bindings.iter().rposition(same);
        }
        self.index
            .candidates(names::hash(prefix))
            .find(|&i| same(&self.bindings[i]))
    }

    fn bytes(&self, start: u32, len: u32) -> &[u8] {
        self.header.span(start, len)
    }
}

#[derive(Debug, Clone, Copy)]
struct Open {
    node: u32,
    scope_mark: u32,
    /// The default namespace around this element, restored at its end tag.
    outer_default: Option<(u32, u32)>,
}

/// What the parts of a tree cost the unit's budget ([`Limits::max_tree_bytes`]): their
/// records; a namespace declaration, its binding in scope and its place in the scope's index
/// (with the slack of their vectors).
const NODE_COST: usize = NODE_WORDS * 4;
const ATTR_COST: usize = ATTR_WORDS * 4;
const DECL_COST: usize = 64;

pub(crate) struct Scanner {
    /// May the unit hold a CR (so that text must be searched for one)?
    pub cr_possible: bool,
    lex: Lex,
    pos: usize,
    tag_at: u32,
    tag_name: (u32, u32, u32),
    end_name: (u32, u32),
    prolog: bool,
    decl_allowed: bool,
    raw_attrs: Vec<RawAttr>,
    /// A one-word Bloom filter of `raw_attrs`' name keys: a new name whose bit is clear
    /// cannot repeat an earlier one, so most attributes need no comparison at all.
    attr_bloom: u64,
    /// The raw attribute names of the tag in progress, once there are many.
    attr_index: NameIndex,
    open: Vec<Open>,
    scope: Vec<Binding>,
    /// The prefixes of `scope`, once it is long.
    scope_index: NameIndex,
    /// The innermost default namespace declared inside the unit, if any.
    default_ns: Option<(u32, u32)>,
    /// Node and attribute records, already in the little-endian layout of [`Element`].
    nodes: Records<NODE_WORDS>,
    attrs: Records<ATTR_WORDS>,
    /// Namespace names that had to be decoded, or that come from the stream header.
    pool: Vec<u8>,
    /// Does the unit use a namespace of the stream header (a [`HEADER`] span)?
    uses_header: bool,
    /// What the unit's tree may still cost, in bytes ([`Limits::max_tree_bytes`]).
    budget: usize,
    max_tree: usize,
    max_depth: usize,
    max_attributes: usize,
    max_name: usize,
}

/// Does `avail` start with `pat` (`Some(true)`), diverge from it (`Some(false)`), or is it a
/// proper prefix of it (`None`, more input needed)?
fn starts(avail: &[u8], pat: &[u8]) -> Option<bool> {
    let n = avail.len().min(pat.len());
    if avail[..n] != pat[..n] {
        Some(false)
    } else if n == pat.len() {
        Some(true)
    } else {
        None
    }
}

impl Scanner {
    pub fn new(limits: &Limits) -> Self {
        Scanner {
            cr_possible: true,
            lex: Lex::Lt,
            pos: 1,
            tag_at: 0,
            tag_name: (0, 0, 0),
            end_name: (0, 0),
            prolog: true,
            decl_allowed: true,
            raw_attrs: Vec::new(),
            attr_bloom: 0,
            attr_index: NameIndex::default(),
            open: Vec::new(),
            scope: Vec::new(),
            scope_index: NameIndex::default(),
            default_ns: None,
            nodes: Records::default(),
            attrs: Records::default(),
            pool: Vec::new(),
            uses_header: false,
            budget: 0,
            max_tree: limits.max_tree_bytes,
            max_depth: limits.max_depth,
            max_attributes: limits.max_attributes,
            max_name: limits.max_name_bytes.min(u16::MAX as usize),
        }
    }

    /// Takes new limits, for the units that begin from now on.
    pub fn set_limits(&mut self, limits: &Limits) {
        self.max_tree = limits.max_tree_bytes;
        self.max_depth = limits.max_depth;
        self.max_attributes = limits.max_attributes;
        self.max_name = limits.max_name_bytes.min(u16::MAX as usize);
    }

    /// Starts a unit whose first byte, `<`, the caller has seen.
    pub fn begin(&mut self, prolog: bool, decl_allowed: bool) {
        self.lex = Lex::Lt;
        self.pos = 1;
        self.tag_at = 0;
        self.prolog = prolog;
        self.decl_allowed = decl_allowed;
        self.raw_attrs.clear();
        self.attr_bloom = 0;
        self.attr_index.truncate(0);
        self.open.clear();
        self.scope.clear();
        self.scope_index.truncate(0);
        self.default_ns = None;
        self.nodes.clear();
        self.attrs.clear();
        self.pool.clear();
        self.uses_header = false;
        self.budget = self.max_tree;
    }

    /// Charges `cost` bytes of tree to the unit, or fails at `at` when its budget is spent.
    #[inline(always)]
    fn spend(&mut self, cost: usize, at: usize) -> Result<(), Fault> {
        match self.budget.checked_sub(cost) {
            Some(left) => {
                self.budget = left;
                Ok(())
            }
            None => Err((at, ErrorKind::LimitExceeded(Limit::TreeBytes))),
        }
    }

    /// Scans on from where the last call stopped. `s` is the unit so far (only ever longer
    /// than last time). `Ok(Some)` gives the unit's length and kind once it is complete.
    /// Would [`scan`](Self::scan) read anything of `len` bytes of the unit, or has it read
    /// them all already?
    #[inline(always)]
    pub fn has_unread(&self, len: usize) -> bool {
        self.pos < len
    }

    pub fn scan(
        &mut self,
        s: &[u8],
        ctx: Option<&StreamContext>,
    ) -> Result<Option<(usize, Unit)>, Fault> {
        let mut pos = self.pos;
        let result = self.run(s, &mut pos, ctx);
        self.pos = pos;
        result
    }

    fn run(
        &mut self,
        s: &[u8],
        pos: &mut usize,
        ctx: Option<&StreamContext>,
    ) -> Result<Option<(usize, Unit)>, Fault> {
        loop {
            if *pos >= s.len() {
                return Ok(None);
            }
            match self.lex {
                Lex::Text { start, flags } => {
                    // Markup often follows markup at once: no search for that.
                    if s[*pos] == b'<' && start as usize == *pos {
                        self.tag_at = *pos as u32;
                        self.lex = Lex::Lt;
                        *pos += 1;
                        continue;
                    }
                    let Some(k) = memchr3(b'<', b'&', b']', &s[*pos..]) else {
                        *pos = s.len();
                        return Ok(None);
                    };
                    let j = *pos + k;
                    match s[j] {
                        b'<' => {
                            self.push_text(s, start, j, flags)?;
                            self.tag_at = j as u32;
                            self.lex = Lex::Lt;
                            *pos = j + 1;
                        }
                        b'&' => {
                            self.lex = Lex::Ref {
                                amp: j as u32,
                                ret: RefReturn::Text { start, flags },
                            };
                            *pos = j + 1;
                        }
                        _ => match starts(&s[j..], b"]]>") {
                            Some(true) => return Err((j, ErrorKind::CdataEndInText)),
                            Some(false) => *pos = j + 1,
                            None => {
                                *pos = j;
                                return Ok(None);
                            }
                        },
                    }
                }
                Lex::AttrValue {
                    quote,
                    start,
                    flags,
                } => {
                    // Tabs and line ends are normalized to spaces (XML 1.0 3.3.3): whether the
                    // value holds one is gathered as it is searched, piece by piece.
                    let (found, ws) = find_value_end(&s[*pos..], quote);
                    let flags = flags | if ws { FLAG_DECODE } else { 0 };
                    let Some(k) = found else {
                        self.lex = Lex::AttrValue {
                            quote,
                            start,
                            flags,
                        };
                        *pos = s.len();
                        return Ok(None);
                    };
                    let j = *pos + k;
                    match s[j] {
                        b'&' => {
                            let ret = RefReturn::Attr {
                                quote,
                                start,
                                flags,
                            };
                            self.lex = Lex::Ref { amp: j as u32, ret };
                        }
                        b'<' => return Err((j, ErrorKind::LtInAttributeValue)),
                        _ => {
                            // The value belongs to the attribute whose name was read last
                            // (AttrName pushed it before AttrEq and AttrQuote).
                            if let Some(a) = self.raw_attrs.last_mut() {
                                a.value = start;
                                a.value_len = j as u32 - start;
                                a.flags |= flags;
                            }
                            // What follows is read by `tag_rest` when it is ordinary.
                            self.lex = Lex::AfterValue;
                        }
                    }
                    *pos = j + 1;
                }
                Lex::Lt => {
                    // Tags that follow one another directly are read here in turn, without
                    // trips through the dispatcher.
                    loop {
                        match self.fast_tag(s, pos) {
                            Fast::Done(done) => return Ok(Some(done)),
                            Fast::Continue => {}
                            Fast::Slow => break,
                        }
                        // A start tag's name was read: its rest at once.
                        if matches!(self.lex, Lex::Tag) && *pos < s.len() {
                            if let Fast::Done(done) = self.tag_rest(s, pos, ctx)? {
                                return Ok(Some(done));
                            }
                        }
                        match self.lex {
                            Lex::Text { start, .. }
                                if start as usize == *pos
                                    && *pos + 1 < s.len()
                                    && s[*pos] == b'<' =>
                            {
                                self.tag_at = *pos as u32;
                                self.lex = Lex::Lt;
                                *pos += 1;
                            }
                            _ => break,
                        }
                    }
                    if !matches!(self.lex, Lex::Lt) {
                        continue;
                    }
                    let b = s[*pos];
                    let at = self.tag_at as usize;
                    match b {
                        b'/' => {
                            if self.prolog && self.open.is_empty() {
                                return Err((at, ErrorKind::EndTagBeforeHeader));
                            }
                            self.lex = Lex::EndName {
                                start: *pos as u32 + 1,
                            };
                            *pos += 1;
                        }
                        b'!' => {
                            self.lex = Lex::Bang;
                            *pos += 1;
                        }
                        b'?' => {
                            self.lex = Lex::Question;
                            *pos += 1;
                        }
                        _ if b < 0x80 && !ASCII_NAME[b as usize] => {
                            return Err((*pos, ErrorKind::UnexpectedByte(b)));
                        }
                        _ => {
                            let depth = self.open.len() + usize::from(!self.prolog);
                            if depth > self.max_depth {
                                return Err((at, ErrorKind::LimitExceeded(Limit::Depth)));
                            }
                            self.lex = Lex::StartName { start: *pos as u32 };
                        }
                    }
                }
                Lex::Bang => {
                    let at = self.tag_at as usize;
                    let avail = &s[at..];
                    let cands: [(&[u8], Option<ErrorKind>); 3] = [
                        (b"<!--", Some(ErrorKind::Comment)),
                        (b"<!DOCTYPE", Some(ErrorKind::Doctype)),
                        (b"<![CDATA[", None),
                    ];
                    let mut pending = false;
                    for (pat, err) in cands {
                        match starts(avail, pat) {
                            Some(true) => {
                                if let Some(e) = err {
                                    return Err((at, e));
                                }
                                if self.open.is_empty() {
                                    return Err((at, ErrorKind::TextAtStreamLevel));
                                }
                                *pos = at + pat.len();
                                self.lex = Lex::CData { start: *pos as u32 };
                                pending = false;
                                break;
                            }
                            Some(false) => {}
                            None => pending = true,
                        }
                    }
                    if pending {
                        return Ok(None);
                    }
                    if let Lex::Bang = self.lex {
                        return Err((at + 2, ErrorKind::UnexpectedByte(s[at + 2])));
                    }
                }
                Lex::Question => {
                    let at = self.tag_at as usize;
                    if !(self.decl_allowed && at == 0) {
                        return Err((at, ErrorKind::ProcessingInstruction));
                    }
                    match starts(&s[at..], b"<?xml") {
                        Some(true) => {}
                        Some(false) => return Err((at, ErrorKind::ProcessingInstruction)),
                        None => return Ok(None),
                    }
                    let Some(&next) = s.get(at + 5) else {
                        return Ok(None);
                    };
                    if !(is_space(next) || next == b'?') {
                        return Err((at, ErrorKind::ProcessingInstruction));
                    }
                    self.lex = Lex::XmlDecl;
                    *pos = at + 5;
                }
                Lex::XmlDecl => {
                    let Some(k) = memchr::memmem::find(&s[*pos..], b"?>") else {
                        *pos = (s.len() - 1).max(*pos);
                        return Ok(None);
                    };
                    let end = *pos + k + 2;
                    check_xml_decl(&s[..end])?;
                    return Ok(Some((end, Unit::XmlDecl)));
                }
                Lex::StartName { start } => {
                    let Some(end) = self.scan_name(s, pos, start)? else {
                        return Ok(None);
                    };
                    let prefix_len = qname(s, start as usize, end)?;
                    self.tag_name = (start, end as u32 - start, prefix_len);
                    self.lex = Lex::Tag;
                }
                Lex::Tag | Lex::AfterValue => {
                    let at = *pos;
                    if let Fast::Done(done) = self.tag_rest(s, pos, ctx)? {
                        return Ok(Some(done));
                    }
                    // Only a byte that the fast path leaves is read here, one at a time.
                    if *pos != at || !matches!(self.lex, Lex::Tag | Lex::AfterValue) {
                        continue;
                    }
                    let b = s[*pos];
                    if is_space(b) {
                        self.lex = Lex::Tag;
                        *pos = self.after_space(s, *pos + 1)?;
                        continue;
                    }
                    match b {
                        b'>' => {
                            *pos += 1;
                            if let Some(done) = self.finish_start_tag(s, *pos, false, ctx)? {
                                return Ok(Some(done));
                            }
                        }
                        b'/' => {
                            *pos += 1;
                            self.lex = Lex::EmptyEnd;
                        }
                        _ if matches!(self.lex, Lex::Tag) && is_name_start_at(s, *pos) => {
                            if self.raw_attrs.len() >= self.max_attributes {
                                return Err((*pos, ErrorKind::LimitExceeded(Limit::Attributes)));
                            }
                            self.lex = Lex::AttrName { start: *pos as u32 };
                        }
                        _ => return Err((*pos, ErrorKind::UnexpectedByte(b))),
                    }
                }
                Lex::EmptyEnd => {
                    let b = s[*pos];
                    if b != b'>' {
                        return Err((*pos, ErrorKind::UnexpectedByte(b)));
                    }
                    *pos += 1;
                    if let Some(done) = self.finish_start_tag(s, *pos, true, ctx)? {
                        return Ok(Some(done));
                    }
                }
                Lex::AttrName { start } => {
                    let Some(end) = self.scan_name(s, pos, start)? else {
                        return Ok(None);
                    };
                    let prefix_len = qname(s, start as usize, end)?;
                    let name = &s[start as usize..end];
                    let xmlns =
                        name == b"xmlns" || (prefix_len == 5 && name.starts_with(b"xmlns:"));
                    self.raw_attrs.push(RawAttr {
                        key: name_key(s, start as usize, end),
                        name: start,
                        name_len: end as u32 - start,
                        prefix_len,
                        value: 0,
                        value_len: 0,
                        flags: if xmlns { FLAG_XMLNS } else { 0 },
                    });
                    self.check_new_attr(s)?;
                    self.lex = Lex::AttrEq;
                    // The usual `name='`, without a trip through the dispatcher per byte.
                    if s[end] == b'=' {
                        if let Some(&quote @ (b'\'' | b'"')) = s.get(end + 1) {
                            *pos = end + 2;
                            let start = *pos as u32;
                            self.lex = Lex::AttrValue {
                                quote,
                                start,
                                flags: 0,
                            };
                        }
                    }
                }
                Lex::AttrEq | Lex::AttrQuote => {
                    let b = s[*pos];
                    *pos += 1;
                    match (self.lex, b) {
                        (_, b) if is_space(b) => {}
                        (Lex::AttrEq, b'=') => self.lex = Lex::AttrQuote,
                        (Lex::AttrQuote, b'\'' | b'"') => {
                            self.lex = Lex::AttrValue {
                                quote: b,
                                start: *pos as u32,
                                flags: 0,
                            };
                        }
                        _ => return Err((*pos - 1, ErrorKind::UnexpectedByte(b))),
                    }
                }
                Lex::EndName { start } => {
                    let Some(end) = self.scan_name(s, pos, start)? else {
                        return Ok(None);
                    };
                    // Compared with the start tag's name, which was checked: no qname check.
                    self.end_name = (start, end as u32 - start);
                    self.lex = Lex::EndTail;
                }
                Lex::EndTail => {
                    let b = s[*pos];
                    *pos += 1;
                    if is_space(b) {
                        continue;
                    }
                    if b != b'>' {
                        return Err((*pos - 1, ErrorKind::UnexpectedByte(b)));
                    }
                    if let Some(done) = self.finish_end_tag(s, *pos, ctx)? {
                        return Ok(Some(done));
                    }
                }
                Lex::Ref { amp, ret } => {
                    let Some(k) = s[*pos..]
                        .iter()
                        .position(|&b| !(b >= 0x80 || b == b'#' || ASCII_NAME[b as usize]))
                    else {
                        *pos = s.len();
                        if *pos - amp as usize > self.max_name + 1 {
                            return Err((amp as usize, ErrorKind::LimitExceeded(Limit::NameBytes)));
                        }
                        return Ok(None);
                    };
                    let end = *pos + k;
                    if end - amp as usize > self.max_name + 1 {
                        return Err((amp as usize, ErrorKind::LimitExceeded(Limit::NameBytes)));
                    }
                    if s[end] != b';' {
                        return Err((amp as usize, ErrorKind::MalformedReference));
                    }
                    check_reference(&s[amp as usize + 1..end]).map_err(|e| (amp as usize, e))?;
                    *pos = end + 1;
                    self.lex = match ret {
                        RefReturn::Text { start, flags } => Lex::Text {
                            start,
                            flags: flags | FLAG_DECODE,
                        },
                        RefReturn::Attr {
                            quote,
                            start,
                            flags,
                        } => Lex::AttrValue {
                            quote,
                            start,
                            flags: flags | FLAG_DECODE,
                        },
                    };
                }
                Lex::CData { start } => {
                    let Some(k) = memchr::memmem::find(&s[*pos..], b"]]>") else {
                        *pos = (s.len() - 2).max(*pos);
                        return Ok(None);
                    };
                    let end = *pos + k;
                    let cr = self.cr_possible && memchr(b'\r', &s[start as usize..end]).is_some();
                    let kind = KIND_CDATA | if cr { FLAG_DECODE } else { 0 };
                    // An empty section adds no character data.
                    if end > start as usize {
                        self.spend(NODE_COST, self.tag_at as usize)?;
                        self.push_node(kind, start, end as u32 - start);
                    }
                    *pos = end + 3;
                    self.lex = Lex::Text {
                        start: *pos as u32,
                        flags: 0,
                    };
                }
            }
        }
    }

    /// Reads an ordinary tag (ASCII names, single spaces, values without references) without
    /// the dispatcher: an end tag whole, a start tag's name here and the rest through
    /// [`tag_rest`](Self::tag_rest). A tag that starts otherwise is left untouched to the
    /// state machine (`Fast::Slow`), which then reads it and reports any fault, so both paths
    /// give the same result.
    #[inline]
    fn fast_tag(&mut self, s: &[u8], pos: &mut usize) -> Fast {
        let n = s.len();
        let mut i = *pos;
        let first = s[i];
        if first == b'/' {
            let Some(&open) = self.open.last() else {
                return Fast::Slow;
            };
            let name_at = self.nodes.word(open.node, 1) as usize;
            let len = self.nodes.word(open.node, 2) as usize;
            let end = i + 1 + len;
            if end < n && s[end] == b'>' && same_bytes(&s[i + 1..end], &s[name_at..name_at + len]) {
                // The name matches the start tag's: the element ends here.
                self.open.pop();
                *pos = end + 1;
                return match self.close_element(open, end + 1) {
                    Some(done) => Fast::Done(done),
                    None => Fast::Continue,
                };
            }
            return Fast::Slow;
        }
        let depth = self.open.len() + usize::from(!self.prolog);
        if !(first.is_ascii_alphabetic() || first == b'_') || depth > self.max_depth {
            return Fast::Slow;
        }
        let name_at = i;
        let Some((end, prefix_len)) = ascii_qname(s, i) else {
            return Fast::Slow;
        };
        i = end;
        if i >= n || s[i] >= 0x80 || i - name_at > self.max_name {
            return self.cut_name(n, pos, name_at, i, false);
        }
        self.tag_name = (name_at as u32, (i - name_at) as u32, prefix_len);
        // The rest of the tag is read by `tag_rest`, through the state machine.
        self.hand_over(pos, i, Lex::Tag)
    }

    /// Reads the rest of a start tag from `*pos`, in state `self.lex` (`Tag` or
    /// `AfterValue`): ordinary attributes (ASCII names, single spaces, values without
    /// references) and the tag's end, without the dispatcher. At anything else, or where the
    /// input ends, it stops at the last point passed, in the state the state machine would
    /// be in there, keeping the attributes read so far; the state machine reads on from
    /// there and reports any fault at the same place, so both paths give the same result.
    /// The state machine comes back here after each byte it had to read itself: a tag cut by
    /// the end of the input, or with one unusual attribute, is read the fast way but for the
    /// bytes at the cut.
    #[inline(always)]
    fn tag_rest(
        &mut self,
        s: &[u8],
        pos: &mut usize,
        ctx: Option<&StreamContext>,
    ) -> Result<Fast, Fault> {
        let n = s.len();
        let mut i = *pos;
        // May an attribute start at `i` (after white space, or right after the name, where
        // no name byte can follow)?
        let mut may_attr = matches!(self.lex, Lex::Tag);
        let empty = loop {
            let Some(&b) = s.get(i) else {
                return Ok(self.stop(pos, i, may_attr));
            };
            match b {
                b'>' => {
                    i += 1;
                    break false;
                }
                b'/' if s.get(i + 1) == Some(&b'>') => {
                    i += 2;
                    break true;
                }
                b' ' => {
                    i += 1;
                    while i < n && s[i] == b' ' {
                        i += 1;
                    }
                    may_attr = true;
                    continue;
                }
                _ => {}
            }
            if !(may_attr && (b.is_ascii_alphabetic() || b == b'_'))
                || self.raw_attrs.len() >= self.max_attributes
            {
                return Ok(self.stop(pos, i, may_attr));
            }
            let attr_at = i;
            let Some((end, attr_prefix)) = ascii_qname(s, i) else {
                return Ok(self.stop(pos, attr_at, true));
            };
            i = end;
            if i + 2 > n || s[i] != b'=' || i - attr_at > self.max_name {
                return Ok(self.cut_name(n, pos, attr_at, i, true));
            }
            let quote = s[i + 1];
            if quote != b'\'' && quote != b'"' {
                return Ok(self.stop(pos, attr_at, true));
            }
            let value_at = i + 2;
            let name = &s[attr_at..i];
            let xmlns = name == b"xmlns" || (attr_prefix == 5 && name.starts_with(b"xmlns:"));
            let mut raw = RawAttr {
                key: name_key(s, attr_at, i),
                name: attr_at as u32,
                name_len: (i - attr_at) as u32,
                prefix_len: attr_prefix,
                value: value_at as u32,
                value_len: 0,
                flags: if xmlns { FLAG_XMLNS } else { 0 },
            };
            let (found, ws) = find_value_end(&s[value_at..], quote);
            let Some(k) = found.filter(|&k| s[value_at + k] == quote) else {
                // The value goes on in the next input, or holds a reference or `<`: the
                // state machine reads on from there, the attribute pushed and checked as it
                // does (a duplicate is reported at its name, before anything in its value).
                self.raw_attrs.push(raw);
                self.check_new_attr(s)?;
                let start = value_at as u32;
                let flags = if ws { FLAG_DECODE } else { 0 };
                self.lex = Lex::AttrValue {
                    quote,
                    start,
                    flags,
                };
                *pos = found.map_or(n, |k| value_at + k);
                return Ok(Fast::Continue);
            };
            raw.value_len = k as u32;
            raw.flags |= if ws { FLAG_DECODE } else { 0 };
            self.raw_attrs.push(raw);
            // Both paths report a duplicate at its name, before the bytes after the value.
            self.check_new_attr(s)?;
            i = value_at + k + 1;
            may_attr = false;
        };
        *pos = i;
        Ok(match self.finish_start_tag(s, i, empty, ctx)? {
            Some(done) => Fast::Done(done),
            None => Fast::Continue,
        })
    }

    /// Leaves a start tag whose element name (`attr` false) or attribute name starts at
    /// `start` and whose fast reading stopped at `end` to the state machine: when the name
    /// runs to the end of the input `s`, inside that name, as if the state machine had read
    /// its bytes itself (so that a long name cut into many pieces is read once); otherwise
    /// at its start (the state machine reads it again and reports any fault).
    #[cold]
    #[inline(never)]
    fn cut_name(
        &mut self,
        n: usize,
        pos: &mut usize,
        start: usize,
        end: usize,
        attr: bool,
    ) -> Fast {
        if end == n && end - start <= self.max_name {
            let start = start as u32;
            let lex = if attr {
                Lex::AttrName { start }
            } else {
                Lex::StartName { start }
            };
            return self.hand_over(pos, n, lex);
        }
        if attr {
            self.stop(pos, start, true)
        } else {
            Fast::Slow
        }
    }

    /// Leaves the rest of a start tag to the state machine at `at`.
    fn stop(&mut self, pos: &mut usize, at: usize, may_attr: bool) -> Fast {
        self.lex = if may_attr { Lex::Tag } else { Lex::AfterValue };
        *pos = at;
        Fast::Continue
    }

    fn hand_over(&mut self, pos: &mut usize, at: usize, lex: Lex) -> Fast {
        self.lex = lex;
        *pos = at;
        Fast::Continue
    }

    /// In a start tag after white space at `i - 1`: skips more of it and, when an attribute
    /// name starts there, enters it. Returns the new position.
    #[inline]
    fn after_space(&mut self, s: &[u8], mut i: usize) -> Result<usize, Fault> {
        while i < s.len() && is_space(s[i]) {
            i += 1;
        }
        if let Some(&b) = s.get(i) {
            if b.is_ascii_alphabetic() || b == b'_' {
                if self.raw_attrs.len() >= self.max_attributes {
                    return Err((i, ErrorKind::LimitExceeded(Limit::Attributes)));
                }
                self.lex = Lex::AttrName { start: i as u32 };
            }
        }
        Ok(i)
    }

    /// Scans a name on from `pos`; `Ok(None)` when the input ends inside it.
    fn scan_name(&self, s: &[u8], pos: &mut usize, start: u32) -> Result<Option<usize>, Fault> {
        let mut i = *pos;
        let n = s.len();
        loop {
            while i < n && NAME_BYTE[s[i] as usize] {
                i += 1;
            }
            if i < n && s[i] >= 0x80 {
                let (c, len) = decode_at(s, i);
                if chars::is_name_char(c) {
                    i += len;
                    continue;
                }
            }
            break;
        }
        // Checked once the available bytes are scanned: the unit limit bounds that scan, and
        // the verdict does not depend on where the input was cut.
        if i - start as usize > self.max_name {
            return Err((start as usize, ErrorKind::LimitExceeded(Limit::NameBytes)));
        }
        *pos = i;
        Ok((i < n).then_some(i))
    }

    fn push_node(&mut self, kind: u32, start: u32, len: u32) {
        let idx = self.nodes.len() as u32;
        self.nodes.push([kind, start, len, 0, 0, 0, 0, idx + 1]);
    }

    fn push_text(&mut self, s: &[u8], start: u32, end: usize, flags: u32) -> Result<(), Fault> {
        if end > start as usize {
            self.spend(NODE_COST, start as usize)?;
            let cr = self.cr_possible && memchr(b'\r', &s[start as usize..end]).is_some();
            let kind = KIND_TEXT | flags | if cr { FLAG_DECODE } else { 0 };
            self.push_node(kind, start, end as u32 - start);
        }
        Ok(())
    }

    fn ns_bytes<'s>(&'s self, s: &'s [u8], ns: u32, len: u32) -> &'s [u8] {
        ns_span(&self.pool, None, s, ns, len)
    }

    /// Copies a namespace name into the pool (unless it is a well-known one), charging it to
    /// the unit's budget.
    fn pool_ns(&mut self, uri: &[u8], at: usize) -> Result<(u32, u32), Fault> {
        if let Some(known) = known_ns(uri) {
            return Ok(known);
        }
        self.spend(uri.len(), at)?;
        let pool_at = self.pool.len() as u32;
        grow(&mut self.pool, uri.len(), self.budget);
        self.pool.extend_from_slice(uri);
        Ok((pool_at | POOL, uri.len() as u32))
    }

    /// Resolves a prefix (`None`: the default namespace) in the unit's scope, then in the
    /// stream header's.
    #[inline]
    fn resolve(
        &mut self,
        s: &[u8],
        prefix: Option<&[u8]>,
        ctx: Option<&StreamContext>,
    ) -> Option<(u32, u32)> {
        let Some(want) = prefix else {
            // The common case, kept free of byte comparisons.
            if let Some(ns) = self.default_ns {
                return Some(ns);
            }
            if let Some(known) = ctx.and_then(|c| c.default_known) {
                return Some(known);
            }
            return Some(self.resolve_in_header(b"", ctx).unwrap_or((0, 0)));
        };
        if want == b"xml" {
            return known_ns(XML_NS.as_bytes());
        }
        if let Some(i) = self.find_in_scope(s, want) {
            let b = &self.scope[i];
            return Some((b.ns, b.ns_len));
        }
        self.resolve_in_header(want, ctx)
    }

    /// The newest binding of `prefix` in the unit's scope.
    fn find_in_scope(&mut self, s: &[u8], prefix: &[u8]) -> Option<usize> {
        let same = |b: &Binding| {
            b.prefix_len as usize == prefix.len()
                && same_bytes(
                    &s[b.prefix as usize..(b.prefix + b.prefix_len) as usize],
                    prefix,
                )
        };
        if self.scope.len() <= 2 * names::LINEAR {
            return self.scope.iter().rposition(same);
        }
        // Bindings pushed since the last look-up join the index now.
        while self.scope_index.len() < self.scope.len() {
            let b = self.scope[self.scope_index.len()];
            let name = &s[b.prefix as usize..(b.prefix + b.prefix_len) as usize];
            self.scope_index.push(names::hash(name));
        }
        let scope = &self.scope;
        self.scope_index
            .candidates(names::hash(prefix))
            .find(|&i| same(&scope[i]))
    }

    fn resolve_in_header(
        &mut self,
        want: &[u8],
        ctx: Option<&StreamContext>,
    ) -> Option<(u32, u32)> {
        let ctx = ctx?;
        let b = ctx.bindings[ctx.find(want)?];
        if b.ns & (POOL | KNOWN) == KNOWN {
            return Some((b.ns, b.ns_len));
        }
        if b.ns_len == 0 {
            return Some((0, 0));
        }
        // The element points into the header's buffer (shared, not copied): see `HEADER`.
        let at = ctx.header.absolute(b.ns)?;
        self.uses_header = true;
        Some((HEADER | at, b.ns_len))
    }

    fn finish_start_tag(
        &mut self,
        s: &[u8],
        end: usize,
        empty: bool,
        ctx: Option<&StreamContext>,
    ) -> Result<Option<(usize, Unit)>, Fault> {
        let header = self.prolog && self.open.is_empty();
        let ctx = if header { None } else { ctx };
        let at = self.tag_at as usize;

        // The raw names were checked for uniqueness as they were read (`check_new_attr`).
        // The tree grows by the element, its attributes and its declarations.
        let mut any_flags = 0;
        let mut any_prefix = 0;
        let mut cost = NODE_COST;
        for a in &self.raw_attrs {
            any_flags |= a.flags;
            any_prefix |= a.prefix_len;
            cost += if a.flags & FLAG_XMLNS != 0 {
                DECL_COST
            } else {
                ATTR_COST
            };
        }
        self.spend(cost, at)?;
        if self.attr_index.len() > 0 {
            self.attr_index.truncate(0);
        }

        // Namespace declarations (Namespaces in XML 1.0, section 3).
        let scope_mark = self.scope.len() as u32;
        let outer_default = self.default_ns;
        if any_flags & FLAG_XMLNS != 0 {
            self.declare(s)?;
        }

        // The element's own name.
        let (name, name_len, prefix_len) = self.tag_name;
        let prefix = (prefix_len > 0).then(|| &s[name as usize..(name + prefix_len) as usize]);
        if prefix == Some(b"xmlns") {
            return Err((name as usize, ErrorKind::ReservedNamespace));
        }
        let Some((ns, ns_len)) = self.resolve(s, prefix, ctx) else {
            let kind = if header {
                ErrorKind::UnboundStreamPrefix
            } else {
                ErrorKind::UnboundPrefix
            };
            return Err((name as usize, kind));
        };
        if header {
            let local = &s[(name + if prefix_len > 0 { prefix_len + 1 } else { 0 }) as usize
                ..(name + name_len) as usize];
            if local != b"stream" || self.ns_bytes(s, ns, ns_len) != STREAMS_NS {
                return Err((at, ErrorKind::NotAStreamHeader));
            }
        }

        // Attributes, then uniqueness of their expanded names.
        let first_attr = self.attrs.len();
        if any_prefix != 0 {
            self.push_prefixed_attrs(s, ctx)?;
        } else {
            // No prefixes: no namespaces to resolve, and the raw names were unique.
            for a in &self.raw_attrs {
                if a.flags & FLAG_XMLNS == 0 {
                    self.attrs.push([
                        a.flags & FLAG_DECODE,
                        a.name,
                        a.name_len,
                        0,
                        0,
                        a.value,
                        a.value_len,
                    ]);
                }
            }
        }
        self.raw_attrs.clear();
        self.attr_bloom = 0;
        // The index held this tag's names (raw, then expanded); the next tag's duplicate
        // check builds its own from its first attribute on.
        if self.attr_index.len() > 0 {
            self.attr_index.truncate(0);
        }

        let idx = self.nodes.len() as u32;
        let attr_count = (self.attrs.len() - first_attr) as u32;
        self.nodes.push([
            KIND_ELEMENT | (prefix_len << 16),
            name,
            name_len,
            ns,
            ns_len,
            first_attr as u32,
            attr_count,
            idx + 1,
        ]);
        if header {
            // The header's bindings stay in `scope` for the caller to keep.
            return Ok(Some((end, Unit::Header { empty })));
        }
        if empty {
            self.close_scope(scope_mark, outer_default);
            if self.open.is_empty() {
                return Ok(Some((end, Unit::Element)));
            }
        } else {
            self.open.push(Open {
                node: idx,
                scope_mark,
                outer_default,
            });
        }
        self.lex = Lex::Text {
            start: end as u32,
            flags: 0,
        };
        Ok(None)
    }

    /// Brings the namespace declarations among the tag's raw attributes into scope
    /// (Namespaces in XML 1.0, section 3).
    #[inline]
    fn declare(&mut self, s: &[u8]) -> Result<(), Fault> {
        let text = |a: u32, l: u32| &s[a as usize..(a + l) as usize];
        for i in 0..self.raw_attrs.len() {
            let a = self.raw_attrs[i];
            if a.flags & FLAG_XMLNS == 0 {
                continue;
            }
            let (prefix, prefix_len) = if a.prefix_len == 0 {
                (0, 0)
            } else {
                (a.name + 6, a.name_len - 6)
            };
            let raw_value = text(a.value, a.value_len);
            let (ns, ns_len) = if a.flags & FLAG_DECODE != 0 {
                let v = decode(core::str::from_utf8(raw_value).unwrap_or_default(), true);
                if v.is_empty() {
                    (0, 0)
                } else {
                    self.pool_ns(v.as_bytes(), a.name as usize)?
                }
            } else {
                (a.value, a.value_len)
            };
            let value = self.ns_bytes(s, ns, ns_len);
            let prefix_name = text(prefix, prefix_len);
            let misuse = match prefix_name {
                b"xml" => value != XML_NS.as_bytes(),
                b"xmlns" => true,
                _ => {
                    value == XML_NS.as_bytes()
                        || value == XMLNS_NS.as_bytes()
                        || (prefix_len > 0 && value.is_empty())
                }
            };
            if misuse {
                return Err((a.name as usize, ErrorKind::ReservedNamespace));
            }
            self.scope.push(Binding {
                prefix,
                prefix_len,
                ns,
                ns_len,
            });
            if prefix_len == 0 {
                self.default_ns = Some((ns, ns_len));
            }
        }
        Ok(())
    }

    /// Pushes the records of the tag's attributes when some are prefixed: their namespaces
    /// resolved, and their expanded names checked for uniqueness (Namespaces in XML 1.0,
    /// section 6.3).
    #[inline(never)]
    fn push_prefixed_attrs(&mut self, s: &[u8], ctx: Option<&StreamContext>) -> Result<(), Fault> {
        let first_attr = self.attrs.len();
        for i in 0..self.raw_attrs.len() {
            let a = self.raw_attrs[i];
            if a.flags & FLAG_XMLNS != 0 {
                continue;
            }
            let (ans, ans_len) = if a.prefix_len == 0 {
                (0, 0)
            } else {
                let qn = &s[a.name as usize..(a.name + a.name_len) as usize];
                // An attribute's unbound prefix is not namespace-well-formed, on the header
                // too: `not-well-formed` (RFC 6120 section 11.3, and 4.9.3.13's own example);
                // `bad-namespace-prefix` is for the stream's prefix (4.9.3.2).
                let found = match self.resolve(s, Some(&qn[..a.prefix_len as usize]), ctx) {
                    Some(r) => r,
                    None => return Err((a.name as usize, ErrorKind::UnboundPrefix)),
                };
                if self.expanded_name_taken(
                    s,
                    ctx.map(|c| &c.header.buffer()[..]),
                    first_attr,
                    &qn[a.prefix_len as usize + 1..],
                    found,
                ) {
                    return Err((a.name as usize, ErrorKind::DuplicateAttribute));
                }
                found
            };
            self.attrs.push([
                (a.flags & FLAG_DECODE) | (a.prefix_len << 16),
                a.name,
                a.name_len,
                ans,
                ans_len,
                a.value,
                a.value_len,
            ]);
        }
        Ok(())
    }

    /// Leaves an element: its declarations go out of scope.
    #[inline]
    fn close_scope(&mut self, mark: u32, outer_default: Option<(u32, u32)>) {
        self.scope.truncate(mark as usize);
        if self.scope_index.len() > mark as usize {
            self.scope_index.truncate(mark as usize);
        }
        self.default_ns = outer_default;
    }

    /// Does an attribute of the tag, from record `first` on, already have the expanded name
    /// `local` in namespace `ns` (Namespaces in XML 1.0, section 6.3)?
    fn expanded_name_taken(
        &mut self,
        s: &[u8],
        header: Option<&[u8]>,
        first: usize,
        local: &[u8],
        ns: (u32, u32),
    ) -> bool {
        let pool = &self.pool;
        let uri = ns_span(pool, header, s, ns.0, ns.1);
        // The namespace and local name of attribute record `b`, if it is prefixed.
        let expanded = |b: [u32; ATTR_WORDS]| {
            let prefix = b[0] >> 16;
            let qn = &s[b[1] as usize..(b[1] + b[2]) as usize];
            (prefix > 0).then(|| {
                let uri = ns_span(pool, header, s, b[3], b[4]);
                (uri, &qn[prefix as usize + 1..])
            })
        };
        let same = |b| expanded(b).is_some_and(|(u, l)| same_bytes(l, local) && u == uri);
        let count = self.attrs.len() - first;
        if count <= names::LINEAR {
            return (first..self.attrs.len()).any(|k| same(self.attrs.get(k)));
        }
        // The index holds the expanded names of the attributes before this one (the
        // unprefixed ones under their local name alone: they cannot collide).
        while self.attr_index.len() < count {
            let b = self.attrs.get(first + self.attr_index.len());
            let h = match expanded(b) {
                Some((u, l)) => names::hash_parts(&[u, l]),
                None => names::hash(&s[b[1] as usize..(b[1] + b[2]) as usize]),
            };
            self.attr_index.push(h);
        }
        let attrs = &self.attrs;
        self.attr_index
            .candidates(names::hash_parts(&[uri, local]))
            .any(|k| same(attrs.get(first + k)))
    }

    /// Checks the raw name of the attribute just read against the tag's others (XML 1.0,
    /// "Unique Att Spec"), as soon as it is read: a duplicate is the first fault in byte
    /// order, before any limit a later attribute may exceed.
    #[inline]
    fn check_new_attr(&mut self, s: &[u8]) -> Result<(), Fault> {
        let Some(a) = self.raw_attrs.last() else {
            return Ok(());
        };
        // A name whose filter bit no earlier name set is new: the common case, decided
        // without a comparison. A set bit (a repeat, a shared first eight bytes, or a
        // collision among the 64 bits) sends it to the full check, which stays O(log n)
        // per name however many a hostile tag holds.
        let bit = 1 << (a.key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58);
        let seen = self.attr_bloom & bit != 0;
        self.attr_bloom |= bit;
        if !seen {
            return Ok(());
        }
        self.check_new_attr_against_others(s)
    }

    fn check_new_attr_against_others(&mut self, s: &[u8]) -> Result<(), Fault> {
        let n = self.raw_attrs.len();
        let Some(&a) = self.raw_attrs.last() else {
            return Ok(());
        };
        let text = |b: &RawAttr| &s[b.name as usize..(b.name + b.name_len) as usize];
        let name = text(&a);
        let dup = if n <= names::LINEAR {
            self.raw_attrs[..n - 1].iter().any(|b| {
                b.key == a.key && b.name_len == a.name_len && (a.name_len <= 8 || text(b) == name)
            })
        } else {
            while self.attr_index.len() < n - 1 {
                let b = self.raw_attrs[self.attr_index.len()];
                self.attr_index.push(names::hash(text(&b)));
            }
            let h = names::hash(name);
            let attrs = &self.raw_attrs;
            let found = self
                .attr_index
                .candidates(h)
                .any(|k| same_bytes(text(&attrs[k]), name));
            self.attr_index.push(h);
            found
        };
        if dup {
            return Err((a.name as usize, ErrorKind::DuplicateAttribute));
        }
        Ok(())
    }

    fn finish_end_tag(
        &mut self,
        s: &[u8],
        end: usize,
        ctx: Option<&StreamContext>,
    ) -> Result<Option<(usize, Unit)>, Fault> {
        let (start, len) = self.end_name;
        let name = &s[start as usize..(start + len) as usize];
        let at = self.tag_at as usize;
        let Some(open) = self.open.pop() else {
            // The end of the stream: it must match the header's qualified name.
            let header = ctx.map(|c| c.header.root().qname().as_bytes());
            if header != Some(name) {
                return Err((at, ErrorKind::MismatchedEndTag));
            }
            return Ok(Some((end, Unit::Close)));
        };
        let (start_name, start_len) =
            (self.nodes.word(open.node, 1), self.nodes.word(open.node, 2));
        if !same_bytes(
            &s[start_name as usize..(start_name + start_len) as usize],
            name,
        ) {
            return Err((at, ErrorKind::MismatchedEndTag));
        }
        Ok(self.close_element(open, end))
    }

    /// Ends the element `open`, popped off the open elements, whose end tag ends at `end`.
    #[inline(always)]
    fn close_element(&mut self, open: Open, end: usize) -> Option<(usize, Unit)> {
        let count = self.nodes.len() as u32;
        self.nodes.set_word(open.node, 7, count);
        self.close_scope(open.scope_mark, open.outer_default);
        if self.open.is_empty() {
            return Some((end, Unit::Element));
        }
        self.lex = Lex::Text {
            start: end as u32,
            flags: 0,
        };
        None
    }

    /// Freezes the unit's tree with its raw bytes into one allocation; `header` is the stream
    /// header in force, which the element shares if it uses one of its namespaces.
    pub fn finish(&mut self, raw: &[u8], header: Option<&Element>) -> Element {
        let raw_len = raw.len() as u32;
        let nodes_off = raw.len() + self.pool.len();
        let attrs_off = nodes_off + self.nodes.byte_len();
        let total = attrs_off + self.attrs.byte_len();
        let mut v = Vec::with_capacity(total);
        v.extend_from_slice(raw);
        v.extend_from_slice(&self.pool);
        self.nodes.copy_to(&mut v);
        self.attrs.copy_to(&mut v);
        let layout = Layout {
            raw_len,
            nodes_off: nodes_off as u32,
            attrs_off: attrs_off as u32,
        };
        let header = header.filter(|_| self.uses_header).map(|h| h.text_region());
        Element::from_parts(v.into(), layout, header)
    }

    /// Adds the attributes of `stamp` that the unit's root lacks, before [`finish`]
    /// freezes it: the values and names go to the pool, the records after the root's own.
    /// When other elements' records follow the root's (a child with attributes), the root's
    /// records are appended again with the new ones and the root pointed at that copy, so
    /// that no later record moves; the first copies stay unreferenced in the element.
    ///
    /// [`finish`]: Self::finish
    pub fn stamp_root(
        &mut self,
        raw: &[u8],
        context: Option<&StreamContext>,
        stamp: &RootStamp<'_>,
    ) {
        let header_text = context.map(|c| c.header.text_bytes());
        let root = self.nodes.get(0);
        let name = ns_span(&self.pool, header_text, raw, root[1], root[2]);
        let prefix = (root[0] >> 16) as usize;
        let local = name.get(if prefix == 0 { 0 } else { prefix + 1 }..);
        let ns = ns_span(&self.pool, header_text, raw, root[3], root[4]);
        let named = local.is_some_and(|l| stamp.names.iter().any(|n| n.as_bytes() == l));
        if !named || ns != stamp.ns.as_bytes() {
            return;
        }
        let (first, count) = (root[5], root[6]);
        let (mut has_attr, mut has_lang) = (false, !stamp.header_lang);
        for i in first..first + count {
            let a = self.attrs.get(i as usize);
            let qname = ns_span(&self.pool, header_text, raw, a[1], a[2]);
            // `xml:lang` by its qualified name: the parser binds the `xml` prefix to XML_NS
            // only, and no other prefix to it.
            if a[4] == 0 {
                has_attr |= qname == stamp.attr.0.as_bytes();
            } else {
                has_lang |= qname == b"xml:lang";
            }
        }
        let lang = context
            .and_then(|c| c.lang.as_deref())
            .filter(|_| !has_lang);
        let mut added: [Option<[u32; ATTR_WORDS]>; 2] = [None, None];
        if !has_attr {
            let (name, value) = stamp.attr;
            added[0] = Some(self.pool_attr(&[name], value, 0, (0, 0)));
        }
        if let Some(lang) = lang {
            let ns = known_ns(XML_NS.as_bytes()).unwrap_or((0, 0));
            added[1] = Some(self.pool_attr(&["xml:", "lang"], lang, 3, ns));
        }
        let n = added.iter().flatten().count() as u32;
        if n == 0 {
            return;
        }
        let total = self.attrs.len() as u32;
        if first + count != total {
            for i in first..first + count {
                let a = self.attrs.get(i as usize);
                self.attrs.push(a);
            }
            self.nodes.set_word(0, 5, total);
        }
        for rec in added.into_iter().flatten() {
            self.attrs.push(rec);
        }
        self.nodes.set_word(0, 6, count + n);
    }

    /// An attribute record whose name (the concatenation of `name`) and value are copied
    /// into the pool: not to be decoded, the value is as read.
    fn pool_attr(
        &mut self,
        name: &[&str],
        value: &str,
        prefix_len: u32,
        ns: (u32, u32),
    ) -> [u32; ATTR_WORDS] {
        let value_at = self.pool.len() as u32 | POOL;
        self.pool.extend_from_slice(value.as_bytes());
        let name_at = self.pool.len() as u32 | POOL;
        let mut name_len = 0;
        for part in name {
            self.pool.extend_from_slice(part.as_bytes());
            name_len += part.len() as u32;
        }
        [
            prefix_len << 16,
            name_at,
            name_len,
            ns.0,
            ns.1,
            value_at,
            value.len() as u32,
        ]
    }

    /// The bindings of the header just finished, in the header element's coordinates.
    pub fn take_header_bindings(&mut self) -> Vec<Binding> {
        core::mem::take(&mut self.scope)
    }

    /// Lets scratch space that one large unit grew go back, so that an idle session stays
    /// small.
    pub fn trim(&mut self) {
        // Enough for a 50-item roster without reallocating; `shrink` frees all for idle
        // sessions.
        const KEEP: usize = 48;
        self.nodes.trim(KEEP);
        self.attrs.trim(KEEP);
        if self.raw_attrs.capacity() > 4 * KEEP {
            self.raw_attrs = Vec::new();
        }
        if self.scope.capacity() > 4 * KEEP {
            self.scope = Vec::new();
        }
        // The indexes only exist for units with many names.
        self.attr_index.release();
        self.scope_index.release();
        if self.open.capacity() > 4 * KEEP {
            self.open = Vec::new();
        }
        if self.pool.capacity() > 1024 {
            self.pool = Vec::new();
        }
    }
}

/// Fixed-size records of `W` little-endian words, as [`Element`] stores them, so that
/// freezing a unit is a copy.
///
/// They are kept in chunks of [`CHUNK_RECORDS`] records rather than one vector: a large unit
/// then never holds a vector's doubling slack (up to its own size again) nor pays for
/// copying it on each doubling. The current chunk starts small (most units have a few
/// nodes) and doubles up to exactly one chunk's size; full chunks are set aside.
#[derive(Default)]
struct Records<const W: usize> {
    full: Vec<Vec<[u8; 4]>>,
    current: Vec<[u8; 4]>,
    /// How many records there are (kept, not computed: the tag reader asks often).
    count: usize,
}

/// Records per chunk: 4 KiB of node records (the slack a large tree may hold beyond its
/// budget, per kind of record). A power of two times 8, so that doubling from
/// 8 records lands on it exactly.
const CHUNK_RECORDS: usize = 128;

impl<const W: usize> Records<W> {
    #[inline(always)]
    fn len(&self) -> usize {
        self.count
    }

    /// Appends the records' bytes, in order, to `out`.
    #[inline]
    fn copy_to(&self, out: &mut Vec<u8>) {
        for chunk in &self.full {
            out.extend_from_slice(chunk.as_flattened());
        }
        out.extend_from_slice(self.current.as_flattened());
    }

    fn byte_len(&self) -> usize {
        self.len() * W * 4
    }

    fn clear(&mut self) {
        if !self.full.is_empty() {
            // Keep the first chunk's allocation rather than the last, smaller one.
            self.current = self.full.swap_remove(0);
            self.full.clear();
        }
        self.current.clear();
        self.count = 0;
    }

    #[inline(always)]
    fn push(&mut self, rec: [u32; W]) {
        // One test on the common path; growing is out of line. No chunk's capacity exceeds
        // `CHUNK_RECORDS` records (every one comes from `Vec::with_capacity`, which the
        // standard library guarantees exact), so a full chunk fails this test too.
        if self.current.capacity() - self.current.len() < W {
            self.make_room();
        }
        self.current.extend_from_slice(&rec.map(u32::to_le_bytes));
        self.count += 1;
    }

    #[cold]
    #[inline(never)]
    fn make_room(&mut self) {
        // `word` finds a record's chunk by division: a chunk must never hold more than
        // `CHUNK_RECORDS` records.
        if self.current.len() >= CHUNK_RECORDS * W {
            let next = Vec::with_capacity(CHUNK_RECORDS * W);
            self.full.push(core::mem::replace(&mut self.current, next));
        } else {
            // Doubling from 8 records, up to one chunk.
            let cap = (2 * self.current.capacity()).clamp(8 * W, CHUNK_RECORDS * W);
            let mut next = Vec::with_capacity(cap);
            next.extend_from_slice(&self.current);
            self.current = next;
        }
    }

    fn slot(&mut self, idx: u32, k: usize) -> &mut [u8; 4] {
        let idx = idx as usize;
        let (c, i) = (idx / CHUNK_RECORDS, (idx % CHUNK_RECORDS) * W + k);
        let chunk = match self.full.get_mut(c) {
            Some(chunk) => chunk,
            None => &mut self.current,
        };
        &mut chunk[i]
    }

    fn word(&self, idx: u32, k: usize) -> u32 {
        let idx = idx as usize;
        let (c, i) = (idx / CHUNK_RECORDS, (idx % CHUNK_RECORDS) * W + k);
        let chunk = self.full.get(c).unwrap_or(&self.current);
        u32::from_le_bytes(chunk[i])
    }

    fn set_word(&mut self, idx: u32, k: usize, value: u32) {
        *self.slot(idx, k) = value.to_le_bytes();
    }

    fn get(&self, idx: usize) -> [u32; W] {
        // One chunk lookup and one bounds check for the record, not one per word.
        let (c, i) = (idx / CHUNK_RECORDS, (idx % CHUNK_RECORDS) * W);
        let chunk = self.full.get(c).unwrap_or(&self.current);
        let r = &chunk[i..i + W];
        core::array::from_fn(|k| u32::from_le_bytes(r[k]))
    }

    /// Lets the space that one large unit grew go back.
    #[inline]
    fn trim(&mut self, keep: usize) {
        if !self.full.is_empty() {
            self.full = Vec::new();
        }
        if self.current.capacity() > 4 * keep * W {
            self.current = Vec::with_capacity(keep * W);
        }
        self.count = self.current.len() / W;
    }
}

/// The bytes of a span of the unit being scanned or frozen (a namespace, or a name or value
/// when stamping): a well-known namespace, a header or pool entry, or unit bytes.
fn ns_span<'s>(
    pool: &'s [u8],
    header: Option<&'s [u8]>,
    s: &'s [u8],
    ns: u32,
    len: u32,
) -> &'s [u8] {
    if ns & HEADER == HEADER {
        let at = (ns & !HEADER) as usize;
        return header
            .and_then(|h| h.get(at..at + len as usize))
            .unwrap_or(&[]);
    }
    if ns & (POOL | KNOWN) == KNOWN {
        return super::element::KNOWN_NS[(ns & !KNOWN) as usize].as_bytes();
    }
    let (base, start) = if ns & POOL != 0 {
        (pool, ns & !POOL)
    } else {
        (s, ns)
    };
    &base[start as usize..(start + len) as usize]
}

/// Makes room in `v` for `extra` more items, doubling as usual but never to more than
/// `extra + room` items beyond its length: a peer that spends a unit's whole budget makes
/// the vectors hold little more than the budget, not twice it.
#[inline]
fn grow<T>(v: &mut Vec<T>, extra: usize, room: usize) {
    let (len, cap) = (v.len(), v.capacity());
    if len + extra > cap {
        let want = (2 * cap).max(len + extra).max(64).min(len + extra + room);
        v.reserve_exact(want - len);
    }
}

/// Bytes that continue a name without decoding: the ASCII name characters.
static NAME_BYTE: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 128 {
        t[i] = ASCII_NAME[i];
        i += 1;
    }
    t
};

/// Bytes that continue an NCName without decoding: the ASCII name characters but `:`.
static NCNAME_BYTE: [bool; 256] = {
    let mut t = NAME_BYTE;
    t[b':' as usize] = false;
    t
};

/// Reads an ASCII qualified name from `s[i]`, which starts an NCName (an ASCII letter or `_`),
/// checking it as [`qname`] does in the same pass: its end (the first byte that continues no
/// name) and its prefix length. `None` when the name is not such a name whole in `s` (two
/// colons, a colon that starts no local part, or one at the end of `s`): the state machine
/// then reads it and reports any fault.
#[inline(always)]
fn ascii_qname(s: &[u8], mut i: usize) -> Option<(usize, u32)> {
    let n = s.len();
    let start = i;
    while i < n && NCNAME_BYTE[s[i] as usize] {
        i += 1;
    }
    if i == n || s[i] != b':' {
        return Some((i, 0));
    }
    let colon = i;
    i += 1;
    if !s
        .get(i)
        .is_some_and(|&b| b.is_ascii_alphabetic() || b == b'_')
    {
        return None;
    }
    while i < n && NCNAME_BYTE[s[i] as usize] {
        i += 1;
    }
    if i < n && s[i] == b':' {
        return None;
    }
    Some((i, (colon - start) as u32))
}

/// The first quote, `&` or `<` in an attribute value (`None` when `rest` holds none), and
/// whether a tab, CR or LF comes before it (or in all of `rest`): such a value needs
/// normalizing. Values are mostly short, where eight bytes at a time beat memchr's setup.
#[inline(always)]
fn find_value_end(rest: &[u8], quote: u8) -> (Option<usize>, bool) {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let zero = |x: u64| x.wrapping_sub(LO) & !x & HI;
    let (q, amp, lt) = (LO * quote as u64, LO * b'&' as u64, LO * b'<' as u64);
    let mut controls = 0;
    let mut i = 0;
    while let Some(chunk) = rest.get(i..i + 8) {
        let w = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        // Most words of a value hold no byte below `-` (quotes, `&`, controls, space) and no
        // `<`: two tests pass them. (Without such a byte no subtraction borrows, so nothing
        // is flagged by mistake.)
        if (w.wrapping_sub(LO * b'-' as u64) & !w) & HI | zero(w ^ lt) == 0 {
            i += 8;
            continue;
        }
        // The lowest flagged byte is always a true match, whatever borrows do above it.
        let m = zero(w ^ q) | zero(w ^ amp) | zero(w ^ lt);
        // Bytes below 0x20 (the input is checked: tab, CR or LF).
        let c = w.wrapping_sub(LO * 0x20) & !w & HI;
        if m != 0 {
            let bit = m.trailing_zeros();
            let below = (1u64 << bit) - 1;
            return (Some(i + (bit / 8) as usize), controls | (c & below) != 0);
        }
        controls |= c;
        i += 8;
    }
    let tail = &rest[i..];
    let k = tail
        .iter()
        .position(|&b| b == quote || b == b'&' || b == b'<');
    let seen = &tail[..k.unwrap_or(tail.len())];
    (
        k.map(|k| k + i),
        controls != 0 || seen.iter().any(|&b| b < 0x20),
    )
}

/// The first eight bytes of the name `s[start..end]`, zero-padded (little-endian).
#[inline(always)]
fn name_key(s: &[u8], start: usize, end: usize) -> u64 {
    let take = (end - start).min(8);
    if let Some(w) = s.get(start..start + 8) {
        let w = u64::from_le_bytes(w.try_into().expect("8 bytes"));
        return if take == 8 {
            w
        } else {
            w & ((1 << (8 * take)) - 1)
        };
    }
    s[start..start + take]
        .iter()
        .rev()
        .fold(0, |k, &b| (k << 8) | u64::from(b))
}

/// Compares short byte strings (names) without calling memcmp.
#[inline(always)]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

#[inline]
fn is_name_start_at(s: &[u8], i: usize) -> bool {
    let b = s[i];
    if b < 0x80 {
        b.is_ascii_alphabetic() || b == b'_' || b == b':'
    } else {
        is_name_start(decode_at(s, i).0)
    }
}

/// Checks a qualified name (Namespaces in XML 1.0, section 4) and returns its prefix length.
#[inline(always)]
fn qname(s: &[u8], start: usize, end: usize) -> Result<u32, Fault> {
    let name = &s[start..end];
    let bad = Err((start, ErrorKind::InvalidName));
    let starts_ncname = |i: usize| match s[i] {
        b if b < 0x80 => b.is_ascii_alphabetic() || b == b'_',
        _ => is_name_start(decode_at(s, i).0),
    };
    if name.is_empty() || !starts_ncname(start) {
        return bad;
    }
    // Names are short: a plain loop beats memchr here.
    let mut colon = 0;
    for (i, &b) in name.iter().enumerate() {
        if b == b':' {
            if colon != 0 {
                return bad;
            }
            colon = i;
        }
    }
    if colon != 0 && (colon + 1 == name.len() || !starts_ncname(start + colon + 1)) {
        return bad;
    }
    Ok(colon as u32)
}

/// Checks the body of a reference (between `&` and `;`).
fn check_reference(body: &[u8]) -> Result<(), ErrorKind> {
    let Ok(body) = core::str::from_utf8(body) else {
        return Err(ErrorKind::MalformedReference);
    };
    if resolve_reference(body).is_some() {
        return Ok(());
    }
    if let Some(num) = body.strip_prefix('#') {
        let (digits, radix) = match num.strip_prefix('x') {
            Some(hex) => (hex, 16),
            None => (num, 10),
        };
        if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
            return Err(ErrorKind::MalformedReference);
        }
        let v = u32::from_str_radix(digits, radix).unwrap_or(u32::MAX);
        return Err(ErrorKind::IllegalCharRef(v));
    }
    let mut it = body.chars();
    let valid_name = it.next().is_some_and(|c| is_name_start(c) && c != ':')
        && it.all(|c| chars::is_name_char(c) && c != ':');
    Err(if valid_name {
        ErrorKind::EntityReference
    } else {
        ErrorKind::MalformedReference
    })
}

/// Checks a complete XML declaration (XML 1.0 production 23) in `decl`, which runs from
/// `<?xml` to `?>`.
fn check_xml_decl(decl: &[u8]) -> Result<(), Fault> {
    let bad = |i: usize| Err((i, ErrorKind::MalformedXmlDeclaration));
    let end = decl.len() - 2;
    let mut i = 5;
    let mut seen = 0;
    loop {
        let ws = decl[i..end].iter().take_while(|b| is_space(**b)).count();
        i += ws;
        if i == end {
            return if seen == 0 { bad(0) } else { Ok(()) };
        }
        if ws == 0 {
            return bad(i);
        }
        let name_len = decl[i..end]
            .iter()
            .take_while(|b| b.is_ascii_lowercase())
            .count();
        let name = &decl[i..i + name_len];
        i += name_len;
        i += decl[i..end].iter().take_while(|b| is_space(**b)).count();
        if decl.get(i) != Some(&b'=') {
            return bad(i);
        }
        i += 1;
        i += decl[i..end].iter().take_while(|b| is_space(**b)).count();
        let quote = decl[i];
        if quote != b'\'' && quote != b'"' {
            return bad(i);
        }
        let Some(len) = memchr(quote, &decl[i + 1..end]) else {
            return bad(i);
        };
        let value_at = i + 1;
        let value = &decl[value_at..value_at + len];
        i = value_at + len + 1;
        let order = match name {
            b"version" => 1,
            b"encoding" => 2,
            b"standalone" => 3,
            _ => return bad(i - len - 1),
        };
        if order <= seen || (seen == 0 && order != 1) {
            return bad(value_at);
        }
        seen = order;
        let ok = match order {
            1 => {
                value.len() >= 3
                    && value.starts_with(b"1.")
                    && value[2..].iter().all(u8::is_ascii_digit)
            }
            2 => {
                if !(value.first().is_some_and(u8::is_ascii_alphabetic)
                    && value
                        .iter()
                        .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(b)))
                {
                    return bad(value_at);
                }
                if !value.eq_ignore_ascii_case(b"utf-8") {
                    return Err((value_at, ErrorKind::UnsupportedEncoding));
                }
                true
            }
            _ => value == b"yes" || value == b"no",
        };
        if !ok {
            return bad(value_at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `find_value_end` as its documentation says, a byte at a time.
    fn value_end_plainly(rest: &[u8], quote: u8) -> (Option<usize>, bool) {
        let k = rest
            .iter()
            .position(|&b| b == quote || b == b'&' || b == b'<');
        let seen = &rest[..k.unwrap_or(rest.len())];
        (k, seen.iter().any(|&b| b < 0x20))
    }

    #[test]
    fn records_stay_in_whole_chunks_through_growth_clear_and_trim() {
        // `word` and `get` find a record's chunk by division, so no chunk may ever hold
        // more than CHUNK_RECORDS records, however the current one grew.
        let mut r = Records::<3>::default();
        for round in 0..4u32 {
            let n = [5, 300, 129, 1000][round as usize];
            for i in 0..n {
                r.push([round, i, !i]);
            }
            assert_eq!(r.len(), n as usize);
            assert!(r.full.iter().all(|c| c.len() == CHUNK_RECORDS * 3));
            assert!(r.current.len() <= CHUNK_RECORDS * 3);
            for i in 0..n {
                assert_eq!(r.get(i as usize), [round, i, !i]);
                assert_eq!(r.word(i, 1), i);
            }
            let mut out = Vec::new();
            r.copy_to(&mut out);
            assert_eq!(out.len(), n as usize * 12);
            if round % 2 == 0 {
                r.clear();
            } else {
                r.clear();
                r.trim(48);
            }
            assert_eq!(r.len(), 0);
        }
    }

    #[test]
    fn value_end_agrees_with_a_byte_at_a_time_search() {
        // Every byte that matters, and neighbours of the thresholds the word tests use, at
        // every position of values of every length up to three words, over a background of
        // ordinary and non-ASCII bytes.
        let special = [
            b'\'', b'"', b'&', b'<', b'\t', b'\n', b'\r', b' ', b',', b'-', b';', b'=', 0x80, 0xFF,
        ];
        for background in [b'a', b'-', b'/', 0xC3] {
            for len in 0..24 {
                for at in 0..len {
                    for &b in &special {
                        for &other in &[background, b'\t', b'&'] {
                            let mut v = vec![background; len];
                            v[at] = b;
                            if at + 3 < len {
                                v[at + 3] = other;
                            }
                            for quote in [b'\'', b'"'] {
                                assert_eq!(
                                    find_value_end(&v, quote),
                                    value_end_plainly(&v, quote),
                                    "{} quoted by {}",
                                    v.escape_ascii(),
                                    quote as char
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}
