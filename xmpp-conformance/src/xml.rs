//! XML fragments in the form the runner compares them (VECTORS.md, "Matching").
//!
//! Both sides of a comparison are brought into the same token form: the XML written in a
//! vector (a `core` step or an event argument) and what the core produced (its output bytes,
//! or an [`xmpp_sansio::xml::Element`] it reported). A fragment is a flat sequence of
//! [`Item`]s: complete elements (as trees), unclosed start tags (a stream header), lone end
//! tags (`</stream:stream>`) and character data that is not white space alone.
//!
//! Names are resolved against a [`NsContext`] that the caller keeps from one step to the
//! next of the same direction, so a later fragment may use a prefix that an earlier
//! fragment's unclosed stream header declared. Attribute values and character data are
//! decoded (the five predefined entities, character references, line ends, attribute white
//! space) exactly as XML 1.0 and the core do. Namespace declarations are not attributes; the
//! default namespace declared on a tag is kept in [`Tag::default_ns`] because a stream
//! header's is compared.
//!
//! The tokenizer is hand-written rather than taken from an XML crate because it must accept
//! fragments that are not documents (lone end tags, unclosed start tags, several roots),
//! resolve names in a context carried over from earlier fragments, and decode exactly like
//! the core; the grammar it needs is small.

use core::fmt;

/// `http://etherx.jabber.org/streams`, the namespace of the stream header.
pub const STREAM_NS: &str = "http://etherx.jabber.org/streams";
/// `http://www.w3.org/XML/1998/namespace`, bound to the `xml` prefix by definition.
pub const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

/// A resolved name: namespace name (empty for none) and local name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Name {
    /// The namespace name; empty when the name is in no namespace. On the vector's side it
    /// is a placeholder pattern (a stream header may declare `xmlns='{*}'`).
    pub ns: String,
    /// The local name.
    pub local: String,
}

impl Name {
    /// A name from its parts.
    pub fn new(ns: &str, local: &str) -> Self {
        Name {
            ns: ns.to_owned(),
            local: local.to_owned(),
        }
    }
}

impl fmt::Display for Name {
    /// Clark notation: `{ns}local`, or `local` for a name in no namespace.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ns.is_empty() {
            f.write_str(&self.local)
        } else {
            write!(f, "{{{}}}{}", self.ns, self.local)
        }
    }
}

/// One attribute: resolved name and decoded value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// The resolved name (an unprefixed attribute is in no namespace).
    pub name: Name,
    /// The value after entity decoding and attribute white space normalization.
    pub value: String,
}

/// A start tag: its name, attributes (namespace declarations excluded) and the default
/// namespace that it declares itself, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    /// The resolved element name.
    pub name: Name,
    /// The attributes in document order, namespace declarations excluded.
    pub attrs: Vec<Attribute>,
    /// The value of an `xmlns='...'` declaration on this very tag.
    pub default_ns: Option<String>,
}

impl Tag {
    /// Is this `<stream:stream>` (the local name `stream` in [`STREAM_NS`])?
    pub fn is_stream_header(&self) -> bool {
        self.name.local == "stream" && self.name.ns == STREAM_NS
    }
}

/// A complete element with its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tree {
    /// The start tag.
    pub tag: Tag,
    /// The content, normalized: adjacent character data merged, runs of white space alone
    /// dropped.
    pub children: Vec<Node>,
}

impl Tree {
    /// The character data directly inside the element, concatenated.
    pub fn text(&self) -> String {
        self.children
            .iter()
            .filter_map(|n| match n {
                Node::Text(t) => Some(t.as_str()),
                Node::Element(_) => None,
            })
            .collect()
    }

    /// The child elements.
    pub fn child_elements(&self) -> impl Iterator<Item = &Tree> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    /// The tree of a [`xmpp_sansio::xml::ElementRef`] that the core reported.
    pub fn from_element(el: xmpp_sansio::xml::ElementRef<'_>) -> Tree {
        let tag = Tag {
            name: Name::new(el.ns(), el.name()),
            attrs: el
                .attrs()
                .map(|a| Attribute {
                    name: Name::new(a.ns, a.name),
                    value: a.value().into_owned(),
                })
                .collect(),
            default_ns: None,
        };
        let children = el
            .nodes()
            .map(|n| match n {
                xmpp_sansio::xml::Node::Element(e) => Node::Element(Tree::from_element(e)),
                xmpp_sansio::xml::Node::Text(t) => Node::Text(t.into_owned()),
            })
            .collect();
        Tree {
            tag,
            children: normalize(children),
        }
    }
}

/// A node of an element's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A child element.
    Element(Tree),
    /// Character data, decoded.
    Text(String),
}

/// One item of a fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A start tag whose end tag is not in the fragment (a stream header).
    Open(Tag),
    /// An end tag whose start tag is not in the fragment (`</stream:stream>`).
    Close(Name),
    /// A complete element.
    Element(Tree),
    /// Character data outside any element of the fragment, not white space alone.
    Text(String),
}

/// An error in XML that the runner had to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlError {
    /// The byte offset in the fragment where the problem is.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for XmlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at byte {})", self.message, self.offset)
    }
}

impl std::error::Error for XmlError {}

fn err<T>(offset: usize, message: impl Into<String>) -> Result<T, XmlError> {
    Err(XmlError {
        offset,
        message: message.into(),
    })
}

/// The namespace bindings in scope: one frame per open element, carried from one fragment
/// to the next of the same direction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NsContext {
    /// For each open element: the prefixes it declares (`""` for the default namespace).
    frames: Vec<Vec<(String, String)>>,
}

impl NsContext {
    /// An empty context: no default namespace, only the `xml` prefix bound.
    pub fn new() -> Self {
        NsContext::default()
    }

    /// The namespace bound to `prefix` (`""`: the default namespace, empty when none).
    pub fn lookup(&self, prefix: &str) -> Option<&str> {
        if prefix == "xml" {
            return Some(XML_NS);
        }
        for frame in self.frames.iter().rev() {
            if let Some((_, ns)) = frame.iter().rev().find(|(p, _)| p == prefix) {
                return Some(ns);
            }
        }
        if prefix.is_empty() { Some("") } else { None }
    }

    /// How many elements are open.
    pub fn depth(&self) -> usize {
        self.frames.len()
    }

    /// Makes every bound namespace name a literal placeholder pattern (braces doubled), for
    /// a context read from bytes that are not vector text.
    pub fn escape_for_patterns(&mut self) {
        for frame in &mut self.frames {
            for (_, ns) in frame.iter_mut() {
                *ns = ns.replace('{', "{{").replace('}', "}}");
            }
        }
    }

    /// The context that the first start tag in `bytes` (a peer's stream, as fed so far)
    /// opens: the peer's stream header, after an optional XML declaration. Empty when the
    /// bytes hold no complete, readable first start tag.
    pub fn of_stream_header(bytes: &[u8]) -> NsContext {
        let s = String::from_utf8_lossy(bytes);
        let s = s.trim_start_matches(is_space);
        let s = match s.strip_prefix("<?xml") {
            Some(rest) => match rest.find("?>") {
                Some(end) => rest[end + 2..].trim_start_matches(is_space),
                None => return NsContext::new(),
            },
            None => s,
        };
        if !s.starts_with('<') || s.starts_with("</") || s.starts_with("<!") {
            return NsContext::new();
        }
        let mut quote = None;
        let end = s.char_indices().skip(1).find(|&(_, c)| match quote {
            Some(q) => {
                if c == q {
                    quote = None;
                }
                false
            }
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                false
            }
            None => c == '>',
        });
        let Some((end, _)) = end else {
            return NsContext::new();
        };
        let mut ctx = NsContext::new();
        match parse_fragment(&s[..=end], &mut ctx) {
            Ok(_) => ctx,
            Err(_) => NsContext::new(),
        }
    }
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// Is `s` white space alone (in the XML sense), or empty?
pub fn is_whitespace(s: &str) -> bool {
    s.chars().all(is_space)
}

/// Merges adjacent character data and drops runs of white space alone.
pub fn normalize(nodes: Vec<Node>) -> Vec<Node> {
    let mut out: Vec<Node> = Vec::with_capacity(nodes.len());
    for n in nodes {
        match (out.last_mut(), n) {
            (Some(Node::Text(acc)), Node::Text(t)) => acc.push_str(&t),
            (_, n) => out.push(n),
        }
    }
    out.retain(|n| !matches!(n, Node::Text(t) if is_whitespace(t)));
    out
}

/// A token of the fragment syntax, names not yet resolved.
#[derive(Debug)]
enum Raw<'a> {
    Start {
        at: usize,
        qname: &'a str,
        attrs: Vec<(&'a str, String)>,
        empty: bool,
    },
    End {
        at: usize,
        qname: &'a str,
    },
    Text(String),
}

/// Checks the syntax of `text` as a fragment without resolving names (prefixes may be
/// bound by a context known only when the vector runs): used to validate a vector before it
/// runs. With `one_element`, the fragment must be exactly one complete element (white space
/// around it allowed). Returns the decoded attribute values and character data, where
/// placeholders may stand.
pub fn check_syntax(text: &str, one_element: bool) -> Result<Vec<String>, XmlError> {
    let mut values = Vec::new();
    let mut open: Vec<&str> = Vec::new();
    let mut roots = 0;
    for raw in tokenize(text)? {
        match raw {
            Raw::Start {
                at,
                qname,
                attrs,
                empty,
            } => {
                if open.is_empty() {
                    roots += 1;
                    if one_element && roots > 1 {
                        return err(at, "more than one element");
                    }
                }
                values.extend(attrs.into_iter().map(|(_, v)| v));
                if !empty {
                    open.push(qname);
                }
            }
            Raw::End { at, qname } => match open.pop() {
                Some(o) if o != qname => {
                    return err(at, format!("end tag </{qname}> does not close <{o}>"));
                }
                Some(_) => {}
                None if one_element => {
                    return err(at, format!("end tag </{qname}> without its start tag"));
                }
                None => {}
            },
            Raw::Text(t) => {
                if one_element && open.is_empty() && !is_whitespace(&t) {
                    return err(0, "text outside the element");
                }
                values.push(t)
            }
        }
    }
    if one_element {
        if let Some(o) = open.last() {
            return err(text.len(), format!("<{o}> is not closed"));
        }
        if roots == 0 {
            return err(0, "no element");
        }
    }
    Ok(values)
}

/// Reads `text` as a fragment, resolving names in `ctx` and leaving in it the bindings of
/// the start tags that the fragment leaves open (and without those of the elements that its
/// lone end tags close).
pub fn parse_fragment(text: &str, ctx: &mut NsContext) -> Result<Vec<Item>, XmlError> {
    struct Open<'a> {
        qname: &'a str,
        tag: Tag,
        children: Vec<Node>,
    }
    let mut items = Vec::new();
    let mut stack: Vec<Open<'_>> = Vec::new();
    for raw in tokenize(text)? {
        match raw {
            Raw::Start {
                at,
                qname,
                attrs,
                empty,
            } => {
                let mut frame = Vec::new();
                let mut default_ns = None;
                let mut plain = Vec::new();
                for (name, value) in attrs {
                    if name == "xmlns" {
                        frame.push((String::new(), value.clone()));
                        default_ns = Some(value);
                    } else if let Some(prefix) = name.strip_prefix("xmlns:") {
                        if value.is_empty() {
                            return err(at, format!("empty declaration of prefix '{prefix}'"));
                        }
                        frame.push((prefix.to_owned(), value));
                    } else {
                        plain.push((name, value));
                    }
                }
                ctx.frames.push(frame);
                let name = resolve(ctx, qname, true, at)?;
                let mut resolved: Vec<Attribute> = Vec::with_capacity(plain.len());
                for (qn, value) in plain {
                    let name = resolve(ctx, qn, false, at)?;
                    if resolved.iter().any(|a| a.name == name) {
                        return err(at, format!("attribute {name} given twice"));
                    }
                    resolved.push(Attribute { name, value });
                }
                let tag = Tag {
                    name,
                    attrs: resolved,
                    default_ns,
                };
                if empty {
                    ctx.frames.pop();
                    let tree = Tree {
                        tag,
                        children: Vec::new(),
                    };
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(Node::Element(tree)),
                        None => items.push(Item::Element(tree)),
                    }
                } else {
                    stack.push(Open {
                        qname,
                        tag,
                        children: Vec::new(),
                    });
                }
            }
            Raw::End { at, qname } => match stack.pop() {
                Some(open) => {
                    if open.qname != qname {
                        return err(
                            at,
                            format!("end tag </{qname}> does not close <{}>", open.qname),
                        );
                    }
                    ctx.frames.pop();
                    let tree = Tree {
                        tag: open.tag,
                        children: normalize(open.children),
                    };
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(Node::Element(tree)),
                        None => items.push(Item::Element(tree)),
                    }
                }
                None => {
                    let name = resolve(ctx, qname, true, at)?;
                    ctx.frames.pop();
                    items.push(Item::Close(name));
                }
            },
            Raw::Text(t) => match stack.last_mut() {
                Some(open) => open.children.push(Node::Text(t)),
                None if is_whitespace(&t) => {}
                None => items.push(Item::Text(t)),
            },
        }
    }
    // Start tags left open: each is followed by what it holds so far.
    for open in stack {
        items.push(Item::Open(open.tag));
        for child in normalize(open.children) {
            items.push(match child {
                Node::Element(e) => Item::Element(e),
                Node::Text(t) => Item::Text(t),
            });
        }
    }
    Ok(items)
}

fn resolve(ctx: &NsContext, qname: &str, element: bool, at: usize) -> Result<Name, XmlError> {
    match qname.split_once(':') {
        Some((prefix, local)) => match ctx.lookup(prefix) {
            Some(ns) => Ok(Name::new(ns, local)),
            None => err(
                at,
                format!("prefix '{prefix}' of '{qname}' is not declared"),
            ),
        },
        None if element => Ok(Name::new(ctx.lookup("").unwrap_or(""), qname)),
        None => Ok(Name::new("", qname)),
    }
}

fn tokenize(s: &str) -> Result<Vec<Raw<'_>>, XmlError> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut text = String::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'<' {
            let end = s[i..].find('<').map_or(s.len(), |n| i + n);
            decode_into(&mut text, &s[i..end], false, i)?;
            i = end;
            continue;
        }
        let rest = &s[i..];
        if let Some(body) = rest.strip_prefix("<?") {
            let Some(end) = body.find("?>") else {
                return err(i, "unterminated '<?'");
            };
            let target = body[..end].split(is_space).next().unwrap_or("");
            if target != "xml" {
                return err(i, format!("processing instruction <?{target}"));
            }
            i += 2 + end + 2;
        } else if let Some(body) = rest.strip_prefix("<!--") {
            let Some(end) = body.find("-->") else {
                return err(i, "unterminated comment");
            };
            i += 4 + end + 3;
        } else if let Some(body) = rest.strip_prefix("<![CDATA[") {
            let Some(end) = body.find("]]>") else {
                return err(i, "unterminated CDATA section");
            };
            text.push_str(&normalize_line_ends(&body[..end]));
            i += 9 + end + 3;
        } else if rest.starts_with("<!") {
            return err(i, "markup declarations (<!...>) are not allowed");
        } else if let Some(body) = rest.strip_prefix("</") {
            flush(&mut out, &mut text);
            let at = i;
            let (qname, n) = read_name(body, i + 2)?;
            let after = &body[n..];
            let trimmed = after.trim_start_matches(is_space);
            if !trimmed.starts_with('>') {
                return err(i + 2 + n, format!("expected '>' to end </{qname}"));
            }
            i += 2 + n + (after.len() - trimmed.len()) + 1;
            out.push(Raw::End { at, qname });
        } else {
            flush(&mut out, &mut text);
            let at = i;
            let (qname, n) = read_name(&rest[1..], i + 1)?;
            let mut j = i + 1 + n;
            let mut attrs: Vec<(&str, String)> = Vec::new();
            let empty;
            loop {
                let before = j;
                while j < b.len() && is_space(b[j] as char) {
                    j += 1;
                }
                if s[j..].starts_with("/>") {
                    empty = true;
                    j += 2;
                    break;
                }
                if s[j..].starts_with('>') {
                    empty = false;
                    j += 1;
                    break;
                }
                if j >= b.len() {
                    return err(at, format!("unterminated start tag <{qname}"));
                }
                if j == before {
                    return err(j, format!("expected white space, '>' or '/>' in <{qname}"));
                }
                let (name, n) = read_name(&s[j..], j)?;
                j += n;
                while j < b.len() && is_space(b[j] as char) {
                    j += 1;
                }
                if b.get(j) != Some(&b'=') {
                    return err(j, format!("expected '=' after attribute {name}"));
                }
                j += 1;
                while j < b.len() && is_space(b[j] as char) {
                    j += 1;
                }
                let quote = match b.get(j) {
                    Some(&q @ (b'\'' | b'"')) => q as char,
                    _ => return err(j, format!("expected a quoted value for attribute {name}")),
                };
                let Some(len) = s[j + 1..].find(quote) else {
                    return err(j, format!("unterminated value of attribute {name}"));
                };
                let raw = &s[j + 1..j + 1 + len];
                if let Some(lt) = raw.find('<') {
                    return err(j + 1 + lt, format!("'<' in the value of attribute {name}"));
                }
                if attrs.iter().any(|(n, _)| *n == name) {
                    return err(j, format!("attribute {name} given twice"));
                }
                let mut value = String::new();
                decode_into(&mut value, raw, true, j + 1)?;
                attrs.push((name, value));
                j += 1 + len + 1;
            }
            i = j;
            out.push(Raw::Start {
                at,
                qname,
                attrs,
                empty,
            });
        }
    }
    flush(&mut out, &mut text);
    Ok(out)
}

fn flush<'a>(out: &mut Vec<Raw<'a>>, text: &mut String) {
    if !text.is_empty() {
        out.push(Raw::Text(core::mem::take(text)));
    }
}

/// Reads a qualified name at the start of `s` (whose offset in the fragment is `at`).
fn read_name(s: &str, at: usize) -> Result<(&str, usize), XmlError> {
    let n = s
        .find(|c: char| is_space(c) || matches!(c, '/' | '>' | '=' | '<' | '\'' | '"'))
        .unwrap_or(s.len());
    let name = &s[..n];
    if name.is_empty() {
        return err(at, "expected a name");
    }
    let bad_start = name.starts_with(|c: char| c.is_ascii_digit() || matches!(c, '-' | '.'));
    if bad_start
        || name.starts_with(':')
        || name.ends_with(':')
        || name.matches(':').count() > 1
        || name.contains(['&', ';', '!', '?'])
    {
        return err(at, format!("'{name}' is not a valid qualified name"));
    }
    Ok((name, n))
}

fn normalize_line_ends(s: &str) -> String {
    s.replace("\r\n", "\n").replace('\r', "\n")
}

/// Decodes references and line ends (and, in attribute values, white space) into `out`.
fn decode_into(out: &mut String, raw: &str, attr: bool, at: usize) -> Result<(), XmlError> {
    let mut rest = raw;
    let mut pos = at;
    while let Some(k) = rest.find(['&', '\r', '\n', '\t']) {
        out.push_str(&rest[..k]);
        let c = rest.as_bytes()[k];
        pos += k + 1;
        rest = &rest[k + 1..];
        match c {
            b'&' => {
                let Some(end) = rest.find(';') else {
                    return err(pos - 1, "'&' without ';' (write &amp;)");
                };
                match reference(&rest[..end]) {
                    Some(ch) => out.push(ch),
                    None => {
                        return err(pos - 1, format!("unknown reference &{};", &rest[..end]));
                    }
                }
                pos += end + 1;
                rest = &rest[end + 1..];
            }
            b'\r' => {
                if let Some(r) = rest.strip_prefix('\n') {
                    rest = r;
                    pos += 1;
                }
                out.push(if attr { ' ' } else { '\n' });
            }
            _ if attr => out.push(' '),
            other => out.push(other as char),
        }
    }
    out.push_str(rest);
    Ok(())
}

fn reference(body: &str) -> Option<char> {
    Some(match body {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        _ => {
            let digits = body.strip_prefix('#')?;
            let v = match digits.strip_prefix('x') {
                Some(hex) if !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit()) => {
                    u32::from_str_radix(hex, 16).ok()?
                }
                None if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) => {
                    digits.parse().ok()?
                }
                _ => return None,
            };
            char::from_u32(v)?
        }
    })
}

/// Serializes items for a person to read: element names unprefixed (in the stream
/// namespace with the `stream:` prefix), a namespace written where it differs from the
/// enclosing one, starting from `default_ns`.
pub fn render_items(items: &[Item], default_ns: &str) -> String {
    let mut out = String::new();
    for item in items {
        match item {
            Item::Open(tag) => {
                write_start(&mut out, tag, default_ns, false);
            }
            Item::Close(name) => {
                out.push_str("</");
                write_qname(&mut out, name);
                out.push('>');
            }
            Item::Element(tree) => write_tree(&mut out, tree, default_ns),
            Item::Text(t) => escape_text(&mut out, t),
        }
    }
    out
}

fn write_qname(out: &mut String, name: &Name) {
    if name.ns == STREAM_NS {
        out.push_str("stream:");
    }
    out.push_str(&name.local);
}

/// Writes a start tag; returns the default namespace in force inside it.
fn write_start(out: &mut String, tag: &Tag, parent_ns: &str, empty: bool) -> String {
    out.push('<');
    write_qname(out, &tag.name);
    let mut inner = parent_ns.to_owned();
    if tag.name.ns == STREAM_NS {
        out.push_str(" xmlns:stream='");
        out.push_str(STREAM_NS);
        out.push('\'');
        if let Some(d) = &tag.default_ns {
            out.push_str(" xmlns='");
            escape_attr(out, d);
            out.push('\'');
            inner = d.clone();
        }
    } else if tag.name.ns != parent_ns {
        out.push_str(" xmlns='");
        escape_attr(out, &tag.name.ns);
        out.push('\'');
        inner = tag.name.ns.clone();
    }
    let mut extra = 0;
    for a in &tag.attrs {
        out.push(' ');
        if a.name.ns == XML_NS {
            out.push_str("xml:");
        } else if !a.name.ns.is_empty() {
            extra += 1;
            out.push_str(&format!("xmlns:ns{extra}='"));
            escape_attr(out, &a.name.ns);
            out.push_str(&format!("' ns{extra}:"));
        }
        out.push_str(&a.name.local);
        out.push_str("='");
        escape_attr(out, &a.value);
        out.push('\'');
    }
    out.push_str(if empty { "/>" } else { ">" });
    inner
}

fn write_tree(out: &mut String, tree: &Tree, parent_ns: &str) {
    if tree.children.is_empty() {
        write_start(out, &tree.tag, parent_ns, true);
        return;
    }
    let inner = write_start(out, &tree.tag, parent_ns, false);
    for child in &tree.children {
        match child {
            Node::Element(e) => write_tree(out, e, &inner),
            Node::Text(t) => escape_text(out, t),
        }
    }
    out.push_str("</");
    write_qname(out, &tree.tag.name);
    out.push('>');
}

/// Renders one tree for a person to read (see [`render_items`]).
pub fn render_tree(tree: &Tree, default_ns: &str) -> String {
    let mut out = String::new();
    write_tree(&mut out, tree, default_ns);
    out
}

fn escape_text(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c if c.is_control() => out.push_str(&format!("&#x{:X};", c as u32)),
            c => out.push(c),
        }
    }
}

fn escape_attr(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() => out.push_str(&format!("&#x{:X};", c as u32)),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "<stream:stream xmlns='jabber:client' \
        xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>";

    #[test]
    fn a_header_stays_open_and_binds_later_fragments() {
        let mut ctx = NsContext::new();
        let items = parse_fragment(&format!("<?xml version='1.0'?>{HEADER}"), &mut ctx).unwrap();
        let [Item::Open(tag)] = &items[..] else {
            panic!("{items:?}")
        };
        assert!(tag.is_stream_header());
        assert_eq!(tag.default_ns.as_deref(), Some("jabber:client"));
        assert_eq!(tag.attrs.len(), 2);
        assert_eq!(ctx.depth(), 1);

        let items = parse_fragment(
            "<message to='a&amp;b'><body>x &lt; y</body></message>",
            &mut ctx,
        )
        .unwrap();
        let [Item::Element(msg)] = &items[..] else {
            panic!("{items:?}")
        };
        assert_eq!(msg.tag.name, Name::new("jabber:client", "message"));
        assert_eq!(msg.tag.attrs[0].value, "a&b");
        let body = msg.child_elements().next().unwrap();
        assert_eq!(body.text(), "x < y");

        let items = parse_fragment(" </stream:stream>", &mut ctx).unwrap();
        assert_eq!(items, [Item::Close(Name::new(STREAM_NS, "stream"))]);
        assert_eq!(ctx.depth(), 0);
    }

    #[test]
    fn whitespace_between_tags_is_dropped_and_text_merged() {
        let mut ctx = NsContext::new();
        let items =
            parse_fragment("<a>\n  <b>x<![CDATA[<y>]]>z</b>\n  <c> </c></a>", &mut ctx).unwrap();
        let [Item::Element(a)] = &items[..] else {
            panic!()
        };
        assert_eq!(a.children.len(), 2);
        let b = a.child_elements().next().unwrap();
        assert_eq!(b.children, [Node::Text("x<y>z".into())]);
        let c = a.child_elements().nth(1).unwrap();
        assert!(c.children.is_empty());
    }

    #[test]
    fn attribute_values_are_normalized_like_the_core() {
        let mut ctx = NsContext::new();
        let items = parse_fragment("<a v='x\ty\r\nz&#10;' xml:lang='en'/>", &mut ctx).unwrap();
        let [Item::Element(a)] = &items[..] else {
            panic!()
        };
        assert_eq!(a.tag.attrs[0].value, "x y z\n");
        assert_eq!(a.tag.attrs[1].name, Name::new(XML_NS, "lang"));
    }

    #[test]
    fn errors_name_the_offset() {
        let mut ctx = NsContext::new();
        let e = parse_fragment("<a><b></a>", &mut ctx).unwrap_err();
        assert_eq!(e.offset, 6);
        assert!(e.message.contains("does not close"), "{e}");
        let e = parse_fragment("<p:a/>", &mut NsContext::new()).unwrap_err();
        assert!(e.message.contains("prefix 'p'"), "{e}");
        let e = parse_fragment("<a>&nbsp;</a>", &mut NsContext::new()).unwrap_err();
        assert!(e.message.contains("&nbsp;"), "{e}");
        let e = parse_fragment("<a b='1' b='2'/>", &mut NsContext::new()).unwrap_err();
        assert!(e.message.contains("twice"), "{e}");
        assert!(parse_fragment("<a", &mut NsContext::new()).is_err());
        assert!(parse_fragment("<!DOCTYPE a>", &mut NsContext::new()).is_err());
    }

    #[test]
    fn the_header_context_is_read_from_peer_bytes() {
        let mut bytes = b"<?xml version='1.0'?> ".to_vec();
        bytes.extend_from_slice(HEADER.as_bytes());
        bytes.extend_from_slice(b"<message/>");
        let ctx = NsContext::of_stream_header(&bytes);
        assert_eq!(ctx.lookup(""), Some("jabber:client"));
        assert_eq!(ctx.lookup("stream"), Some(STREAM_NS));
        assert_eq!(NsContext::of_stream_header(b"<stream:str").depth(), 0);
    }

    #[test]
    fn arbitrary_input_never_panics() {
        const PIECES: &[&str] = &[
            "<",
            ">",
            "/",
            "a",
            "b:c",
            "='",
            "'",
            "\"",
            "&amp;",
            "&",
            ";",
            "&#x",
            "1F600",
            "<![CDATA[",
            "]]>",
            "<!--",
            "-->",
            "<?xml",
            "?>",
            " ",
            "\r\n",
            "é",
            "😀",
            "xmlns",
            "xmlns:p",
            "p:",
            "=",
            "</",
            "/>",
            "stream:stream",
            "xmlns:stream='http://etherx.jabber.org/streams'",
        ];
        let mut rng = crate::run::SplitMix64::new(7);
        for _ in 0..20_000 {
            let n = rng.below(12) as usize;
            let text: String = (0..n)
                .map(|_| PIECES[rng.below(PIECES.len() as u64) as usize])
                .collect();
            let mut ctx = NsContext::new();
            if let Ok(items) = parse_fragment(&text, &mut ctx) {
                render_items(&items, "jabber:client");
            }
            let _ = parse_fragment(&text, &mut ctx);
            let _ = check_syntax(&text, true);
            let _ = check_syntax(&text, false);
            let _ = NsContext::of_stream_header(text.as_bytes());
            for cut in 0..text.len() {
                let _ = NsContext::of_stream_header(&text.as_bytes()[..cut]);
            }
            if let Ok(p) = crate::pattern::Pattern::parse(&text) {
                let mut caps = crate::pattern::Captures::new();
                p.matches_str(&text, &mut caps);
            }
        }
    }

    #[test]
    fn rendering_writes_namespaces_where_they_change() {
        let mut ctx = NsContext::new();
        let xml = "<iq xmlns='jabber:client' type='set' xml:lang='en'>\
            <bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>r&amp;</resource></bind></iq>";
        let items = parse_fragment(xml, &mut ctx).unwrap();
        assert_eq!(
            render_items(&items, "jabber:client"),
            "<iq type='set' xml:lang='en'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>\
             <resource>r&amp;</resource></bind></iq>"
        );
    }
}
