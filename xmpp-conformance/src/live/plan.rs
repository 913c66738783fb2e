//! Which vectors can run against a live server, and what the runner sends and expects for
//! each (vectors/README.md, "Live runs").
//!
//! A vector runs live when everything it asserts happens on the wire and the live peer's own
//! choices are not written as literals. The rest is skipped with the reason: events and
//! embedder decisions exist only inside a core (an event step is dropped, since its effect
//! is on the wire or nowhere; a decision the live server makes by itself, such as accepting
//! a password or binding the resource asked for, is dropped too; one it cannot be made to
//! take, such as refusing a bind or sending a stanza, skips the vector), SCRAM proofs depend
//! on the live server's nonce and salt, and a vector that configures the core differently
//! from what the site declares cannot expect the same features.

use std::collections::BTreeMap;

use crate::vector::{StepKind, Vector};
use crate::xml::{Item, Name, Node, STREAM_NS, Tag, Tree, XML_NS};

/// What the site file (`--site`) says of the live server: its domain, the accounts that
/// stand for the vectors' users, and the settings that shape its features.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// The domain the vectors' `domain` stands for.
    pub domain: String,
    /// Vector user name → the live account (user name, password).
    pub users: BTreeMap<String, (String, String)>,
    /// The server's STARTTLS policy, as the vectors' `tls` key writes it.
    pub tls: String,
    /// Whether it offers PLAIN on an unencrypted stream.
    pub allow_plain_without_tls: bool,
    /// The SASL mechanisms it offers, in order, if known.
    pub mechanisms: Option<Vec<String>>,
    /// The `xml:lang` of its streams.
    pub lang: String,
    /// Stream features the deployment offers beyond what the vectors' configuration
    /// produces (`extra_features`, Clark notation `{ns}local`), such as XEP-0440's
    /// `<sasl-channel-binding/>` over TLS, SASL2 or roster versioning. Live matching ignores
    /// them in `<stream:features>` where the vector does not expect that feature
    /// ([`Site::tolerate`]).
    pub extra_features: Vec<Name>,
    /// SASL mechanisms the deployment offers beyond `mechanisms` (`extra_mechanisms`), such
    /// as the `-PLUS` variants a server offers once TLS gives it channel-binding data;
    /// ignored inside `<mechanisms/>` where the vector does not expect them.
    pub extra_mechanisms: Vec<String>,
    /// The vectors' `extensions` the server implements as the vectors expect (`sm`,
    /// `stream-limits`...): a vector that configures only these can run. `sm_resume` says
    /// that it resumes sessions (XEP-0198 section 5), which the vectors without the
    /// `sm_resume` key do not expect.
    pub extensions: Vec<String>,
    /// For `live client`: the resource the client under test asks for, which stands for
    /// the vectors' `resource`.
    pub resource: Option<String>,
    /// For the component modes: the XEP-0114 shared secret of the component whose domain is
    /// `domain`, which stands for the vectors' `secret`.
    pub secret: Option<Secret>,
    /// For `live s2s-in`: the runner's own domain, which stands for the vectors' sending
    /// domain and must lead the server under test to the runner's `--listen` address.
    pub peer_domain: Option<String>,
}

/// A shared secret, kept out of `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Default for Site {
    fn default() -> Self {
        Site {
            domain: "localhost".into(),
            users: BTreeMap::new(),
            tls: "required".into(),
            allow_plain_without_tls: false,
            mechanisms: None,
            lang: "en".into(),
            extra_features: Vec::new(),
            extra_mechanisms: Vec::new(),
            extensions: Vec::new(),
            resource: None,
            secret: None,
            peer_domain: None,
        }
    }
}

impl Site {
    /// Reads a site file:
    ///
    /// ```toml
    /// domain = "localhost"
    /// tls = "required"                 # or "optional", "disabled"
    /// allow_plain_without_tls = false
    /// mechanisms = ["SCRAM-SHA-1", "PLAIN"]
    /// lang = "en"
    /// [users.juliet]                   # the vectors' user juliet is, on this server:
    /// user = "alice"
    /// password = "secret"
    /// ```
    ///
    /// For the component modes, `domain` is the component's domain and `secret` its XEP-0114
    /// shared secret.
    pub fn parse(text: &str) -> Result<Site, String> {
        let value: toml::Table = text.parse().map_err(|e| format!("site file: {e}"))?;
        let mut site = Site::default();
        for (key, v) in &value {
            let text = || {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| format!("site file: {key} must be a string"))
            };
            match key.as_str() {
                "domain" => site.domain = text()?,
                "tls" => site.tls = text()?,
                "lang" => site.lang = text()?,
                "allow_plain_without_tls" => {
                    site.allow_plain_without_tls = v
                        .as_bool()
                        .ok_or("site file: allow_plain_without_tls must be true or false")?;
                }
                "mechanisms" => {
                    let list = v.as_array().ok_or("site file: mechanisms must be a list")?;
                    let names = list
                        .iter()
                        .map(|m| m.as_str().map(str::to_owned))
                        .collect::<Option<Vec<_>>>()
                        .ok_or("site file: mechanisms must be strings")?;
                    site.mechanisms = Some(names);
                }
                "extra_features" => {
                    site.extra_features = strings(v, key)?
                        .iter()
                        .map(|c| {
                            parse_clark(c)
                                .ok_or(format!("site file: {key}: {c:?} is not {{ns}}local"))
                        })
                        .collect::<Result<_, _>>()?;
                }
                "extra_mechanisms" => site.extra_mechanisms = strings(v, key)?,
                "extensions" => site.extensions = strings(v, key)?,
                "resource" => site.resource = Some(text()?),
                "secret" => site.secret = Some(Secret(text()?)),
                "peer_domain" => site.peer_domain = Some(text()?),
                "users" => {
                    let table = v.as_table().ok_or("site file: users must be a table")?;
                    for (name, account) in table {
                        let field = |f: &str| {
                            account
                                .get(f)
                                .and_then(|x| x.as_str())
                                .map(str::to_owned)
                                .ok_or_else(|| format!("site file: users.{name}.{f} missing"))
                        };
                        site.users
                            .insert(name.clone(), (field("user")?, field("password")?));
                    }
                }
                other => return Err(format!("site file: unknown key {other:?}")),
            }
        }
        Ok(site)
    }
}

fn strings(v: &toml::Value, key: &str) -> Result<Vec<String>, String> {
    v.as_array()
        .and_then(|a| {
            a.iter()
                .map(|m| m.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
        })
        .ok_or_else(|| format!("site file: {key} must be a list of strings"))
}

/// `{ns}local`.
fn parse_clark(text: &str) -> Option<Name> {
    let rest = text.strip_prefix('{')?;
    let (ns, local) = rest.split_once('}')?;
    (!ns.is_empty() && !local.is_empty()).then(|| Name::new(ns, local))
}

impl Site {
    /// What the live server sent, with the features the site declares as its own additions
    /// taken out where the vector does not expect them, so that the rest is matched as in
    /// process. Only `<stream:features>` is touched: a declared feature (`extra_features`)
    /// that the vector's features do not name is dropped, a declared mechanism
    /// (`extra_mechanisms`) that the vector's `<mechanisms/>` does not list is dropped from
    /// it, and the remaining features are put in the vector's order (RFC 6120 section 4.3.2
    /// gives features no order; the order of mechanisms, the server's preference, is kept).
    /// Anything the site does not declare still fails the step.
    pub fn tolerate(&self, expected: &[Item], actual: &mut [Item]) {
        self.tolerate_features(expected, actual);
    }
}

/// RFC-sanctioned variation a live run accepts where the vector's core writes one form
/// (vectors/README.md, "Live runs", lists them):
/// - the optional `<text/>` of a SASL `<failure/>` (RFC 6120 section 6.5), a stream error
///   (4.9.2) and a stanza error (8.3.2), when the vector expects none;
/// - the original payload in an error stanza (8.3.1: "MAY include the original XML"):
///   children of an actual `type='error'` stanza other than `<error/>` that the expected
///   one does not have;
/// - the `to` of a stanza the server generated, which "MAY include a 'to' address, which
///   MUST be the full JID of the client" (8.1.1.1): a `to` equal to the bound full JID is
///   dropped from both sides;
/// - a `from` of the server's domain or the account's bare JID on an `iq` the vector
///   expects without one (8.1.2.1, rules 2 and 3);
/// - an `xml:lang` on a stanza equal to the stream's (`lang`), which it inherits anyway
///   (8.1.5), when the vector expects none;
/// - the same `xml:lang` on a stream header, when the vector's header has none: the
///   default language of a stream is the receiving entity's to state (4.7.4), and
///   XEP-0114 neither asks for it nor forbids it (Prosody's component port states it).
pub fn tolerate_optional(
    expected: &mut [Item],
    actual: &mut [Item],
    bound: Option<&str>,
    site: &Site,
) {
    let is_header = |n: &Name| n.ns == STREAM_NS && n.local == "stream";
    let expected_header = expected.iter().find_map(|i| match i {
        Item::Open(t) if is_header(&t.name) => Some(t),
        Item::Element(t) if is_header(&t.tag.name) => Some(&t.tag),
        _ => None,
    });
    if let Some(e) = expected_header
        && !e
            .attrs
            .iter()
            .any(|x| x.name.ns == XML_NS && x.name.local == "lang")
    {
        for item in actual.iter_mut() {
            let tag = match item {
                Item::Open(t) if is_header(&t.name) => t,
                Item::Element(t) if is_header(&t.tag.name) => &mut t.tag,
                _ => continue,
            };
            tag.attrs.retain(|x| {
                !(x.name.ns == XML_NS && x.name.local == "lang" && x.value == site.lang)
            });
        }
    }
    let expected_stanzas: Vec<Tree> = expected
        .iter()
        .filter_map(|i| match i {
            Item::Element(t) => Some(t.clone()),
            _ => None,
        })
        .collect();
    for (k, item) in actual.iter_mut().enumerate() {
        let Item::Element(a) = item else { continue };
        if !matches!(a.tag.name.local.as_str(), "message" | "presence" | "iq") {
            continue;
        }
        let Some(e) = expected_stanzas
            .get(k.min(expected_stanzas.len().saturating_sub(1)))
            .filter(|e| e.tag.name == a.tag.name)
        else {
            continue;
        };
        let has = |t: &Tree, ns: &str, local: &str| {
            t.tag
                .attrs
                .iter()
                .any(|x| x.name.ns == ns && x.name.local == local)
        };
        let value = |t: &Tree, local: &str| {
            t.tag
                .attrs
                .iter()
                .find(|x| x.name.ns.is_empty() && x.name.local == local)
                .map(|x| x.value.clone())
        };
        if !has(e, XML_NS, "lang") {
            a.tag.attrs.retain(|x| {
                !(x.name.ns == XML_NS && x.name.local == "lang" && x.value == site.lang)
            });
        }
        if a.tag.name.local == "iq" && !has(e, "", "from") {
            let account = bound.map(|b| b.split('/').next().unwrap_or_default().to_owned());
            a.tag.attrs.retain(|x| {
                !(x.name.ns.is_empty()
                    && x.name.local == "from"
                    && (x.value == site.domain || Some(&x.value) == account.as_ref()))
            });
        }
        if value(a, "type").as_deref() == Some("error")
            && value(e, "type").as_deref() == Some("error")
        {
            let wanted: Vec<Name> = e.child_elements().map(|c| c.tag.name.clone()).collect();
            a.children.retain(|c| match c {
                Node::Element(c) => c.tag.name.local == "error" || wanted.contains(&c.tag.name),
                Node::Text(_) => true,
            });
        }
    }
    let expects_text = expected.iter().any(|i| match i {
        Item::Element(t) => has_text_child(t),
        _ => false,
    });
    if !expects_text {
        for item in actual.iter_mut() {
            if let Item::Element(t) = item {
                drop_error_text(t);
            }
        }
    }
    let Some(bound) = bound else { return };
    for item in expected.iter_mut().chain(actual.iter_mut()) {
        let Item::Element(t) = item else { continue };
        if matches!(t.tag.name.local.as_str(), "message" | "presence" | "iq") {
            t.tag
                .attrs
                .retain(|a| !(a.name.ns.is_empty() && a.name.local == "to" && a.value == bound));
        }
    }
}

const TEXT_NAMESPACES: [&str; 3] = [
    SASL_NS,
    "urn:ietf:params:xml:ns:xmpp-streams",
    "urn:ietf:params:xml:ns:xmpp-stanzas",
];

fn has_text_child(t: &Tree) -> bool {
    t.child_elements().any(|c| {
        (c.tag.name.local == "text" && TEXT_NAMESPACES.contains(&c.tag.name.ns.as_str()))
            || has_text_child(c)
    })
}

fn drop_error_text(t: &mut Tree) {
    t.children.retain(|c| match c {
        Node::Element(c) => {
            !(c.tag.name.local == "text" && TEXT_NAMESPACES.contains(&c.tag.name.ns.as_str()))
        }
        Node::Text(_) => true,
    });
    for c in &mut t.children {
        if let Node::Element(c) = c {
            drop_error_text(c);
        }
    }
}

impl Site {
    /// Puts the site's `mechanisms` into the vector's `<mechanisms/>` (see [`plan`]: the
    /// mechanisms a server offers are the deployment's choice).
    pub fn map_mechanisms(&self, expected: &mut [Item]) {
        let Some(mechs) = &self.mechanisms else {
            return;
        };
        for item in expected {
            let Item::Element(features) = item else {
                continue;
            };
            if !is_features(features) {
                continue;
            }
            for n in &mut features.children {
                let Node::Element(m) = n else { continue };
                if m.tag.name != Name::new(SASL_NS, "mechanisms") {
                    continue;
                }
                let template = m.child_elements().next().map(|c| c.tag.clone());
                let tag = template.unwrap_or(Tag {
                    name: Name::new(SASL_NS, "mechanism"),
                    attrs: Vec::new(),
                    default_ns: None,
                });
                m.children = mechs
                    .iter()
                    .map(|name| {
                        Node::Element(Tree {
                            tag: tag.clone(),
                            children: vec![Node::Text(name.clone())],
                        })
                    })
                    .collect();
            }
        }
    }

    fn tolerate_features(&self, expected: &[Item], actual: &mut [Item]) {
        let Some(exp) = expected.iter().find_map(|i| match i {
            Item::Element(t) if is_features(t) => Some(t),
            _ => None,
        }) else {
            return;
        };
        let expected_names: Vec<&Name> = exp.child_elements().map(|c| &c.tag.name).collect();
        let expected_mechs: Vec<String> = exp
            .child_elements()
            .filter(|c| c.tag.name == Name::new(SASL_NS, "mechanisms"))
            .flat_map(|m| m.child_elements().map(Tree::text))
            .collect();
        for item in actual.iter_mut() {
            let Item::Element(features) = item else {
                continue;
            };
            if !is_features(features) {
                continue;
            }
            features.children.retain(|n| match n {
                Node::Element(c) => {
                    !self.extra_features.contains(&c.tag.name)
                        || expected_names.contains(&&c.tag.name)
                }
                Node::Text(_) => true,
            });
            for n in &mut features.children {
                let Node::Element(c) = n else { continue };
                // RFC 6120 section 4.3.2 recommends an empty <required/> as the way a
                // feature says it is mandatory-to-negotiate, and resource binding is
                // (section 7.4): a server may flag it where the vector's core does not.
                // STARTTLS keeps its <required/> exact: there it is the TLS policy.
                let expects_required = exp
                    .child_elements()
                    .filter(|e| e.tag.name == c.tag.name)
                    .any(|e| e.child_elements().any(|r| r.tag.name.local == "required"));
                if c.tag.name != Name::new(TLS_NS, "starttls") && !expects_required {
                    c.children.retain(|r| match r {
                        Node::Element(r) => {
                            !(r.tag.name == Name::new(&c.tag.name.ns, "required")
                                && r.children.is_empty())
                        }
                        Node::Text(_) => true,
                    });
                }
                if c.tag.name == Name::new(SASL_NS, "mechanisms") {
                    c.children.retain(|m| match m {
                        Node::Element(m) => {
                            let name = m.text();
                            !self.extra_mechanisms.contains(&name) || expected_mechs.contains(&name)
                        }
                        Node::Text(_) => true,
                    });
                    // The order is the server's preference (RFC 6120 section 6.4.1), a
                    // deployment's choice; Prosody's even changes from one start to the
                    // next. Compared in the vector's order; others keep theirs, after them.
                    c.children.sort_by_key(|m| match m {
                        Node::Element(m) => expected_mechs
                            .iter()
                            .position(|e| *e == m.text())
                            .unwrap_or(usize::MAX),
                        Node::Text(_) => usize::MAX,
                    });
                }
            }
            // The vector's order; features it does not name keep theirs, after them.
            features.children.sort_by_key(|n| match n {
                Node::Element(c) => expected_names
                    .iter()
                    .position(|e| **e == c.tag.name)
                    .unwrap_or(usize::MAX),
                Node::Text(_) => usize::MAX,
            });
        }
    }
}

const SASL_NS: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
const TLS_NS: &str = "urn:ietf:params:xml:ns:xmpp-tls";

fn is_features(t: &Tree) -> bool {
    t.tag.name == Name::new(STREAM_NS, "features")
}

/// One step of a live run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveStep {
    /// Send these bytes (placeholders substituted when sent).
    Send {
        /// The step's text, names rewritten; for `peer_hex`, its bytes as hex.
        text: String,
        /// `peer_hex`.
        raw: bool,
    },
    /// What the server sends next must match this XML (`core`), or these bytes
    /// (`core_exact`).
    Expect {
        /// The step's text, names rewritten.
        text: String,
        /// `core_exact`.
        exact: bool,
        /// The step's number.
        step: usize,
        /// Expect the site's `mechanisms` in `<mechanisms/>`, not the vector's.
        map_mechanisms: bool,
    },
    /// Nothing arrives for a while.
    Silent {
        /// The step's number.
        step: usize,
    },
    /// STARTTLS: the TLS handshake, on the runner's side.
    StartTls,
    /// `live s2s-in`: as the authoritative server of its own domain, answer the server
    /// under test's next `<db:verify/>` (XEP-0220 section 2.2.2).
    Authoritative {
        /// `valid` or `invalid`, as the vector's embedder decided.
        valid: bool,
        /// The step's number.
        step: usize,
    },
    /// End our half of the connection.
    Eof,
}

impl LiveStep {
    /// A `core` (or, `exact`, `core_exact`) step of number `step`, expecting `text`.
    pub(super) fn expect(text: String, exact: bool, step: usize) -> LiveStep {
        LiveStep::Expect {
            text,
            exact,
            step,
            map_mechanisms: false,
        }
    }

    /// A `peer_hex` step: its bytes, sent as they are.
    pub(super) fn raw(bytes: &[u8]) -> LiveStep {
        LiveStep::Send {
            text: bytes.iter().map(|b| format!("{b:02x}")).collect(),
            raw: true,
        }
    }
}

/// Whether the peer (the runner) writes between the core's `<proceed/>` and the TLS
/// handshake, which a live server's TLS layer would read as a TLS record: such a vector
/// (STARTTLS injection, RFC 6120 section 5.4.3.3) cannot run live.
pub(super) fn check_no_write_after_proceed(vector: &Vector) -> Result<(), String> {
    let mut after_proceed = false;
    for step in &vector.steps {
        match &step.kind {
            StepKind::Peer(_) | StepKind::PeerHex(_) if after_proceed => {
                return Err(
                    "the peer writes between <proceed/> and the TLS handshake, which \
                            a live server's TLS layer reads as a record"
                        .into(),
                );
            }
            StepKind::Core(t) | StepKind::CoreExact(t) if t.contains("<proceed") => {
                after_proceed = true
            }
            StepKind::Action(a) if a.starts_with("tls-established") => after_proceed = false,
            _ => {}
        }
    }
    Ok(())
}

/// How the run's connection is secured, as far as the plan cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiveTls {
    /// No TLS: vectors that negotiate it are skipped.
    None,
    /// STARTTLS where a vector negotiates it.
    StartTls,
    /// TLS from the first byte (XEP-0368): only `direct-tls` vectors run.
    Direct,
}

/// Why an embedder action (by its name) cannot be asked of a live implementation.
pub(super) fn action_not_live(name: &str) -> String {
    match name {
        "tick" => "the vector advances the core's clock; a live server keeps its own time".into(),
        other => format!("the embedder action {other} cannot be asked of a live server"),
    }
}

/// The reason a vector of another role is skipped by a mode that runs `role` vectors.
pub(super) fn other_role(vector: &Vector, mode: &str, role: &str) -> String {
    match vector.role.as_str() {
        r @ ("s2s-in" | "s2s-out") => format!("an {r} vector: it runs with live {r}, not {mode}"),
        other => format!("a {other} vector: {mode} runs {role} vectors"),
    }
}

/// Whether the way the vector's stream starts fits the run's TLS: under `--tls direct` only
/// a vector whose stream is TLS from the first byte (`direct-tls`, XEP-0368) runs, and such
/// a vector runs only there.
fn check_tls_start(vector: &Vector, tls: LiveTls) -> Result<(), String> {
    let action = |name: &str| {
        vector.steps.iter().find_map(|s| match &s.kind {
            StepKind::Action(a) if a.split(' ').next() == Some(name) => Some(a.clone()),
            _ => None,
        })
    };
    let direct = action("direct-tls");
    let starttls = action("tls-established").is_some();
    match (tls, direct) {
        (LiveTls::Direct, Some(a)) if a.contains("client-cert") => Err(
            "the vector's direct TLS carries a client certificate, which the runner does not \
             model"
                .into(),
        ),
        (LiveTls::Direct, Some(_)) => Ok(()),
        (LiveTls::Direct, None) if starttls => Err(
            "the vector negotiates STARTTLS; under --tls direct the stream is TLS from the \
             first byte (XEP-0368)"
                .into(),
        ),
        (LiveTls::Direct, None) => Err(
            "the vector's stream is unencrypted; under --tls direct it is TLS from the first \
             byte (XEP-0368), which changes what is offered"
                .into(),
        ),
        (_, Some(_)) => Err(
            "the vector's stream is TLS from the first byte (XEP-0368); it runs with --tls \
             direct"
                .into(),
        ),
        (_, None) => Ok(()),
    }
}

/// The steps to run, or why the vector cannot run live.
pub fn plan(vector: &Vector, site: &Site, tls: LiveTls) -> Result<Vec<LiveStep>, String> {
    if vector.role != "server" {
        return Err(other_role(vector, "live server", "server"));
    }
    check_tls_start(vector, tls)?;
    let mut domain = "localhost".to_owned();
    let mut users: BTreeMap<String, String> = BTreeMap::new();
    let mut stream_id = None;
    let mut vector_mechs: Option<Vec<String>> = None;
    for entry in &vector.config.entries {
        let v = &entry.value;
        let declared = |want: &dyn Fn() -> bool, what: String| {
            if want() {
                Ok(())
            } else {
                Err(format!(
                    "the vector configures {}; the site declares {what}",
                    entry.key
                ))
            }
        };
        match entry.key.as_str() {
            "domain" => domain = v.as_str().unwrap_or_default().to_owned(),
            "users" => {
                for (name, account) in v.as_table().into_iter().flatten() {
                    let password = account.get("password").and_then(|p| p.as_str());
                    users.insert(name.clone(), password.unwrap_or_default().to_owned());
                }
            }
            "stream_id" => stream_id = v.as_str().map(str::to_owned),
            // Only SCRAM reads it, and SCRAM vectors are skipped.
            "server_nonce" => {}
            "tls" => declared(&|| v.as_str() == Some(&site.tls), site.tls.clone())?,
            "allow_plain_without_tls" => declared(
                &|| v.as_bool() == Some(site.allow_plain_without_tls),
                site.allow_plain_without_tls.to_string(),
            )?,
            "lang" => declared(&|| v.as_str() == Some(&site.lang), site.lang.clone())?,
            "extensions" => {
                let want = v
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|e| e.as_str());
                for ext in want {
                    if !site.extensions.iter().any(|s| s == ext) {
                        return Err(format!(
                            "the vector configures the extension {ext}; the site declares [{}]",
                            site.extensions.join(", ")
                        ));
                    }
                }
            }
            "mechanisms" => {
                vector_mechs = v.as_array().map(|a| {
                    a.iter()
                        .filter_map(|m| m.as_str().map(str::to_owned))
                        .collect()
                })
            }
            other => {
                return Err(format!(
                    "the vector configures {other}, which a site file does not declare"
                ));
            }
        }
    }
    // Over direct TLS no STARTTLS is offered, whatever the policy (XEP-0368 section 3).
    if vector.config.get("tls").is_none() && site.tls != "required" && tls != LiveTls::Direct {
        return Err(format!(
            "the vector expects STARTTLS required (the default); the site declares {}",
            site.tls
        ));
    }
    let map_mechanisms = map_mechanisms(vector, vector_mechs, site)?;
    let rewrite = Rewrite::new(&domain, &users, site)?;
    check_no_write_after_proceed(vector)?;
    let mut steps = Vec::new();
    // The resource the last `bind-request` asked for (`Some("")`: the server's choice).
    let mut requested: Option<String> = None;
    // The vector's embedder has been asked and has not answered yet.
    let mut deciding = false;
    // The last peer step pipelined stanzas or nonzas behind its first element.
    let mut pipelined = false;
    for (i, step) in vector.steps.iter().enumerate() {
        let n = i + 1;
        match &step.kind {
            StepKind::Event(e)
                if pipelined
                    && ["auth-request", "external-request", "bind-request"]
                        .iter()
                        .any(|q| e.starts_with(q)) =>
            {
                return Err(
                    "the peer pipelines elements behind a request the vector's embedder \
                     decides; a live server decides at once and answers them in the same read"
                        .into(),
                );
            }
            StepKind::Event(e)
                if ["auth-request", "external-request", "bind-request"]
                    .iter()
                    .any(|q| e.starts_with(q)) =>
            {
                deciding = true;
            }
            StepKind::Action(_) => deciding = false,
            StepKind::Peer(_) | StepKind::PeerHex(_) if deciding => {
                return Err(
                    "the peer sends while the vector's embedder has not answered a request; \
                     a live server answers at once"
                        .into(),
                );
            }
            StepKind::Peer(text) => {
                let firsts = ["<iq ", "<message", "<presence", "<enable ", "<enable/"];
                pipelined = firsts
                    .iter()
                    .map(|f| text.matches(f).count())
                    .sum::<usize>()
                    > 1;
            }
            _ => {}
        }
        match &step.kind {
            StepKind::Event(e) if e == "bind-request" || e.starts_with("bind-request ") => {
                requested = Some(e["bind-request".len()..].trim().to_owned());
            }
            StepKind::Peer(text) => {
                let resumes = text.contains("<resume ") || text.contains("resume='true'");
                if resumes
                    && vector.config.get("sm_resume").is_none()
                    && site.extensions.iter().any(|e| e == "sm_resume")
                {
                    return Err(
                        "the vector's server does not resume sessions (no sm_resume); \
                                the site's does"
                            .into(),
                    );
                }
                let configured = vector.config.get("extensions").is_some();
                for extra in &site.extra_features {
                    if !configured && text.contains(&extra.ns) {
                        return Err(format!(
                            "the peer uses {}, which the vector's server does not offer and \
                             the site's does",
                            extra.ns
                        ));
                    }
                }
            }
            StepKind::Event(e) if e.starts_with("stanza <presence") && attr(e, "to").is_none() => {
                return Err(
                    "the peer broadcasts presence, which a live server's IM layer \
                            sends back to the user's own resources (RFC 6121 section 4.2.2); \
                            the vector's core hands it to its embedder only"
                        .into(),
                );
            }
            StepKind::Event(e) if e.starts_with("stanza ") => {
                let to = attr(e, "to").unwrap_or_default();
                if !to.is_empty() && !is_local(&to, &domain) {
                    return Err(format!(
                        "the vector hands its embedder a stanza to {to}; a live server routes \
                         it to that domain, and what comes back is not in the vector"
                    ));
                }
            }
            StepKind::Action(line) if line.starts_with("bind ") => {
                let resource = line.split_once('/').map(|(_, r)| r.trim()).unwrap_or("");
                if requested.as_deref() != Some(resource) {
                    return Err(format!(
                        "the vector's embedder chooses the resource {resource:?}; a live \
                         server chooses its own"
                    ));
                }
            }
            _ => {}
        }
        match &step.kind {
            StepKind::Peer(text) => {
                if let Some(why) = needs_core_values(text) {
                    return Err(why);
                }
                steps.push(LiveStep::Send {
                    text: rewrite.peer(text)?,
                    raw: false,
                });
            }
            StepKind::PeerHex(bytes) => steps.push(LiveStep::raw(bytes)),
            StepKind::Core(text) => steps.push(LiveStep::Expect {
                text: rewrite.expected(text, stream_id.as_deref()),
                exact: false,
                step: n,
                map_mechanisms,
            }),
            StepKind::CoreExact(text) => {
                if map_mechanisms && text.contains("<mechanism>") {
                    return Err(
                        "a byte-exact step lists the vector's own mechanisms, not the site's"
                            .into(),
                    );
                }
                steps.push(LiveStep::Expect {
                    text: rewrite.expected(text, stream_id.as_deref()),
                    exact: true,
                    step: n,
                    map_mechanisms,
                })
            }
            StepKind::Silent => steps.push(LiveStep::Silent { step: n }),
            // What the core reports to its embedder is not on the wire.
            StepKind::Event(_) => {}
            StepKind::Action(line) => {
                let name = line.split(' ').next().unwrap_or_default();
                match name {
                    // The connection is TLS already (check_tls_start let only this run).
                    "direct-tls" => {}
                    "tls-established" if tls == LiveTls::StartTls => {
                        if line.contains("client-cert") {
                            return Err("the runner presents no client certificate".into());
                        }
                        steps.push(LiveStep::StartTls);
                    }
                    "tls-established" => {
                        return Err("the vector negotiates TLS; the run has --tls none".into());
                    }
                    "eof" => steps.push(LiveStep::Eof),
                    // Decisions the live server makes by itself, the same way.
                    "credentials" | "credentials-unknown" | "bind" => {}
                    other => {
                        return Err(action_not_live(other));
                    }
                }
            }
        }
    }
    Ok(steps)
}

/// The steps of a `client` vector against a live client under test (`live client`): the
/// runner plays the server side, so the vector's `peer` steps are what it sends and its
/// `core` steps what the client must send. The client's account comes from the site's
/// `users` (the vector's `jid` user) and `resource`; its TLS policy, mechanisms and
/// language from `tls`, `mechanisms` and `lang`, as for a server.
pub fn plan_client(vector: &Vector, site: &Site, tls: LiveTls) -> Result<Vec<LiveStep>, String> {
    if vector.role != "client" {
        return Err(other_role(vector, "live client", "client"));
    }
    check_tls_start(vector, tls)?;
    let (mut jid, mut password, mut resource) = (None, String::new(), None);
    let mut vector_mechs: Option<Vec<String>> = None;
    for entry in &vector.config.entries {
        let v = &entry.value;
        let text = || v.as_str().unwrap_or_default().to_owned();
        let declared = |ok: bool, what: String| {
            if ok {
                Ok(())
            } else {
                Err(format!(
                    "the vector configures {}; the site declares {what}",
                    entry.key
                ))
            }
        };
        match entry.key.as_str() {
            "jid" => jid = Some(text()),
            "password" => password = text(),
            "resource" => resource = Some(text()),
            // Only SCRAM reads it, and SCRAM vectors are skipped.
            "client_nonce" => {}
            "tls" => declared(v.as_str() == Some(&site.tls), site.tls.clone())?,
            "allow_plain_without_tls" => declared(
                v.as_bool() == Some(site.allow_plain_without_tls),
                site.allow_plain_without_tls.to_string(),
            )?,
            "lang" => declared(v.as_str() == Some(&site.lang), site.lang.clone())?,
            "mechanisms" => {
                vector_mechs = v.as_array().map(|a| {
                    a.iter()
                        .filter_map(|m| m.as_str().map(str::to_owned))
                        .collect()
                })
            }
            other => {
                return Err(format!(
                    "the vector configures {other}, which a site file does not declare"
                ));
            }
        }
    }
    if vector.config.get("tls").is_none() && site.tls != "required" && tls != LiveTls::Direct {
        return Err(format!(
            "the vector's client requires TLS (the default); the site declares {}",
            site.tls
        ));
    }
    let jid = jid.ok_or("the vector configures no jid")?;
    let (user, domain) = jid
        .split_once('@')
        .ok_or_else(|| format!("the vector's jid {jid:?} has no localpart"))?;
    let users = BTreeMap::from([(user.to_owned(), password)]);
    let mut rewrite = Rewrite::new(domain, &users, site)?;
    if let (Some(from), Some(to)) = (&resource, &site.resource) {
        let (live_user, _) = &site.users[user];
        rewrite.pairs.push((
            format!("{jid}/{from}"),
            format!("{live_user}@{}/{to}", site.domain),
        ));
        rewrite
            .pairs
            .push((format!(">{from}</resource>"), format!(">{to}</resource>")));
        rewrite
            .pairs
            .sort_by_key(|(from, _)| std::cmp::Reverse(from.len()));
    } else if resource.is_some() {
        return Err("the vector's client asks for a resource; the site declares none".into());
    } else if let Some(theirs) = &site.resource {
        return Err(format!(
            "the vector's client lets the server choose its resource; the site's asks for {theirs}"
        ));
    }
    let prefs = vector_mechs.unwrap_or_else(|| DEFAULT_MECHANISMS.map(str::to_owned).to_vec());
    let mut steps = Vec::new();
    let mut after_proceed = false;
    for (i, step) in vector.steps.iter().enumerate() {
        let n = i + 1;
        if after_proceed && matches!(step.kind, StepKind::Peer(_) | StepKind::PeerHex(_)) {
            return Err(
                "the vector writes between <proceed/> and the TLS handshake, which a \
                        live client's TLS layer reads as a record"
                    .into(),
            );
        }
        match &step.kind {
            StepKind::Action(a) if a.starts_with("tls-established") => after_proceed = false,
            StepKind::Peer(text) if text.contains("<proceed") => after_proceed = true,
            _ => {}
        }
        match &step.kind {
            StepKind::Peer(text) => {
                let offered = offered_mechanisms(text);
                if !offered.is_empty() {
                    let site_prefs = site
                        .mechanisms
                        .as_ref()
                        .ok_or("the site declares no mechanisms for the client")?;
                    let ours = prefs.iter().find(|m| offered.contains(m));
                    let theirs = site_prefs.iter().find(|m| offered.contains(m));
                    if ours != theirs {
                        fn pick(m: Option<&String>) -> &str {
                            m.map_or("none", String::as_str)
                        }
                        return Err(format!(
                            "offered {}, the vector's client picks {}, the site's {}",
                            offered.join(" "),
                            pick(ours),
                            pick(theirs)
                        ));
                    }
                }
                steps.push(LiveStep::Send {
                    text: rewrite.names(text),
                    raw: false,
                });
            }
            StepKind::PeerHex(bytes) => steps.push(LiveStep::raw(bytes)),
            StepKind::Core(text) | StepKind::CoreExact(text) => {
                if text.contains("SCRAM-") || text.contains("<response") {
                    return Err("SCRAM messages carry the live client's own nonce".into());
                }
                steps.push(LiveStep::expect(
                    rewrite.peer(text)?,
                    matches!(step.kind, StepKind::CoreExact(_)),
                    n,
                ));
            }
            StepKind::Silent => steps.push(LiveStep::Silent { step: n }),
            StepKind::Event(_) => {}
            StepKind::Action(line) => {
                let name = line.split(' ').next().unwrap_or_default();
                match name {
                    // The client under test connects by itself; over direct TLS the runner
                    // accepted TLS at once (check_tls_start let only this run).
                    "open" | "direct-tls" => {}
                    "tls-established" if line.trim() != "tls-established" => {
                        return Err("the vector's TLS carries channel binding or a client \
                                    certificate, which the runner does not model"
                            .into());
                    }
                    "tls-established" if tls == LiveTls::StartTls => steps.push(LiveStep::StartTls),
                    "tls-established" => {
                        return Err("the vector negotiates TLS; the run has no certificate".into());
                    }
                    "eof" => steps.push(LiveStep::Eof),
                    other => {
                        return Err(format!(
                            "the embedder action {other} cannot be asked of a live client"
                        ));
                    }
                }
            }
        }
    }
    Ok(steps)
}

/// The vector's component domain and secret, and the stream id it fixes (component-server),
/// or why it configures what a site file does not declare.
fn component_config(vector: &Vector) -> Result<(String, String, Option<String>), String> {
    let (mut domain, mut secret, mut stream_id) = (None, None, None);
    for entry in &vector.config.entries {
        let text = || entry.value.as_str().map(str::to_owned);
        match entry.key.as_str() {
            "domain" => domain = text(),
            "secret" => secret = text(),
            "stream_id" => stream_id = text(),
            // XEP-0114 streams carry no xml:lang: the key changes nothing on the wire.
            "lang" => {}
            "extensions" if entry.value.as_array().is_some_and(|a| a.is_empty()) => {}
            other => {
                return Err(format!(
                    "the vector configures {other}, which a site file does not declare"
                ));
            }
        }
    }
    Ok((
        domain.ok_or("the vector configures no domain")?,
        secret.ok_or("the vector configures no secret")?,
        stream_id,
    ))
}

/// The XEP-0114 handshake value (section 2): lowercase hex SHA-1 of the stream id followed
/// by the secret.
pub fn handshake_digest(stream_id: &str, secret: &str) -> String {
    use sha1::Digest as _;
    let digest = sha1::Sha1::new()
        .chain_update(stream_id)
        .chain_update(secret)
        .finalize();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The character data of the first `<handshake>...</handshake>` in `text`.
fn handshake_value(text: &str) -> Option<&str> {
    let start = text.find("<handshake>")? + "<handshake>".len();
    let len = text[start..].find("</handshake>")?;
    Some(&text[start..start + len])
}

/// The placeholder a `live component-server` run captures the live server's stream id in.
pub const LIVE_STREAM_ID: &str = "live-stream-id";
/// The placeholder a `live component-server` run puts the recomputed handshake in, once the
/// stream id is captured.
pub const LIVE_HANDSHAKE: &str = "live-handshake";

/// `text` with `id='{live-stream-id}'` added to its stream header's start tag, when it has
/// a header without an `id`.
fn capture_header_id(text: &str) -> String {
    let Some(at) = text.find("<stream:stream") else {
        return text.to_owned();
    };
    let Some(end) = text[at..].find('>').map(|e| at + e) else {
        return text.to_owned();
    };
    if text[at..end].contains(" id=") {
        return text.to_owned();
    }
    format!("{} id='{{{LIVE_STREAM_ID}}}'{}", &text[..end], &text[end..])
}

/// The steps of a `component-server` vector against a live server's XEP-0114 port
/// (`live component-server`): the runner plays the component, sending the vector's `peer`
/// steps and expecting its `core` steps. The vector's component domain stands for the
/// site's `domain`. The live server chooses the stream id: the vector's `stream_id` is
/// captured from the server's header, and a `<handshake/>` the vector computes from that id
/// and its secret is recomputed at run time from the captured id and the site's `secret`
/// ([`LIVE_HANDSHAKE`]); any other handshake value (a wrong or empty one) is sent as
/// written, so it stays wrong.
pub fn plan_component_server(vector: &Vector, site: &Site) -> Result<Vec<LiveStep>, String> {
    if vector.role != "component-server" {
        return Err(other_role(
            vector,
            "live component-server",
            "component-server",
        ));
    }
    let (domain, secret, stream_id) = component_config(vector)?;
    if site.secret.is_none() {
        return Err("the site file gives no component secret".into());
    }
    let rewrite = Rewrite::new(&domain, &BTreeMap::new(), site)?;
    let digest = stream_id.as_deref().map(|id| handshake_digest(id, &secret));
    let mut steps = Vec::new();
    for (i, step) in vector.steps.iter().enumerate() {
        let n = i + 1;
        match &step.kind {
            StepKind::Peer(text) => {
                let mut text = rewrite.names(text);
                if let (Some(value), Some(d)) = (handshake_value(&text), &digest) {
                    if value == d {
                        text = text.replacen(
                            &format!("<handshake>{d}</handshake>"),
                            &format!("<handshake>{{{LIVE_HANDSHAKE}}}</handshake>"),
                            1,
                        );
                    }
                }
                steps.push(LiveStep::Send { text, raw: false });
            }
            StepKind::PeerHex(bytes) => steps.push(LiveStep::raw(bytes)),
            StepKind::Core(text) | StepKind::CoreExact(text) => {
                let mut text = rewrite.names(text);
                if let Some(id) = &stream_id {
                    for q in ['\'', '"'] {
                        text = text.replace(
                            &format!("id={q}{id}{q}"),
                            &format!("id={q}{{{LIVE_STREAM_ID}}}{q}"),
                        );
                    }
                }
                // A relaxed vector may leave the server's id out of its header; the
                // handshake still needs it, so the header captures it anyway.
                if digest.is_some() && !text.contains(LIVE_STREAM_ID) {
                    text = capture_header_id(&text);
                }
                steps.push(LiveStep::Expect {
                    text,
                    exact: matches!(step.kind, StepKind::CoreExact(_)),
                    step: n,
                    map_mechanisms: false,
                });
            }
            StepKind::Silent => steps.push(LiveStep::Silent { step: n }),
            StepKind::Event(e) if e.starts_with("stanza ") => {
                return Err(
                    "the vector hands the server's embedder a stanza from the component; a \
                     live server routes it, and what comes back is not in the vector"
                        .into(),
                );
            }
            StepKind::Event(_) => {}
            StepKind::Action(line) => match line.split(' ').next().unwrap_or_default() {
                "eof" => steps.push(LiveStep::Eof),
                other => {
                    return Err(action_not_live(other));
                }
            },
        }
    }
    Ok(steps)
}

/// The steps of a `component` vector for a live component under test (`live component`):
/// the runner plays the server, sending the vector's `peer` steps (its stream id as
/// written) and expecting its `core` steps. The vector's component domain stands for the
/// site's `domain`; the `<handshake/>` expected, which the vector computes from the id the
/// runner sent and the vector's secret, is recomputed from that id and the site's `secret`.
/// A handshake value that is not that digest cannot be recomputed: the vector is skipped.
pub fn plan_component(vector: &Vector, site: &Site) -> Result<Vec<LiveStep>, String> {
    if vector.role != "component" {
        return Err(other_role(vector, "live component", "component"));
    }
    let (domain, secret, _) = component_config(vector)?;
    let Some(Secret(live_secret)) = &site.secret else {
        return Err("the site file gives no component secret".into());
    };
    let rewrite = Rewrite::new(&domain, &BTreeMap::new(), site)?;
    let mut sent_id: Option<String> = None;
    let mut steps = Vec::new();
    for (i, step) in vector.steps.iter().enumerate() {
        let n = i + 1;
        match &step.kind {
            StepKind::Peer(text) => {
                if text.contains("<stream:stream") {
                    sent_id = attr(text, "id");
                }
                steps.push(LiveStep::Send {
                    text: rewrite.names(text),
                    raw: false,
                });
            }
            StepKind::PeerHex(bytes) => steps.push(LiveStep::raw(bytes)),
            StepKind::Core(text) | StepKind::CoreExact(text) => {
                let mut text = rewrite.names(text);
                if let Some(value) = handshake_value(&text).map(str::to_owned) {
                    match &sent_id {
                        Some(id) if value == handshake_digest(id, &secret) => {
                            text = text.replacen(&value, &handshake_digest(id, live_secret), 1);
                        }
                        _ => {
                            return Err(
                                "the vector's <handshake/> is not the digest of the stream id \
                                 the runner sends and the vector's secret, so it cannot be \
                                 recomputed for the site's secret"
                                    .into(),
                            );
                        }
                    }
                }
                steps.push(LiveStep::Expect {
                    text,
                    exact: matches!(step.kind, StepKind::CoreExact(_)),
                    step: n,
                    map_mechanisms: false,
                });
            }
            StepKind::Silent => steps.push(LiveStep::Silent { step: n }),
            // What the component reports to its embedder is not on the wire.
            StepKind::Event(_) => {}
            StepKind::Action(line) => match line.split(' ').next().unwrap_or_default() {
                // The component under test connects and opens its stream by itself.
                "open" => {}
                "eof" => steps.push(LiveStep::Eof),
                other => {
                    return Err(format!(
                        "the embedder action {other} cannot be asked of a live component"
                    ));
                }
            },
        }
    }
    Ok(steps)
}

/// The `<mechanism/>` texts of a `<mechanisms/>` in `text`.
fn offered_mechanisms(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let Some(start) = text.find("<mechanisms") else {
        return out;
    };
    let mut rest = &text[start..];
    if let Some(end) = rest.find("</mechanisms>") {
        rest = &rest[..end];
    }
    while let Some(i) = rest.find("<mechanism>") {
        rest = &rest[i + "<mechanism>".len()..];
        if let Some(end) = rest.find('<') {
            out.push(rest[..end].trim().to_owned());
        }
    }
    out
}

/// The mechanisms a core without a `mechanisms` key offers (`ServerConfig::default`).
const DEFAULT_MECHANISMS: [&str; 5] = [
    "SCRAM-SHA-256-PLUS",
    "SCRAM-SHA-1-PLUS",
    "SCRAM-SHA-256",
    "SCRAM-SHA-1",
    "PLAIN",
];

/// Whether the vector's `<mechanisms/>` stand for the site's: which mechanisms a server
/// offers is the deployment's choice, like its domain, so a live run expects the site's list
/// where the vector expects its own, as long as the exchange itself does not depend on the
/// difference: every mechanism the vector's peer asks for must be offered by both or by
/// neither (so `invalid-mechanism` stays `invalid-mechanism`).
fn map_mechanisms(
    vector: &Vector,
    vector_mechs: Option<Vec<String>>,
    site: &Site,
) -> Result<bool, String> {
    let configured = vector_mechs.is_some();
    let vector_mechs =
        vector_mechs.unwrap_or_else(|| DEFAULT_MECHANISMS.map(str::to_owned).to_vec());
    let Some(site_mechs) = &site.mechanisms else {
        return if configured {
            Err("the vector configures mechanisms; the site declares none".into())
        } else {
            Ok(false)
        };
    };
    for step in &vector.steps {
        let StepKind::Peer(text) = &step.kind else {
            continue;
        };
        for used in asked_mechanisms(text) {
            if vector_mechs.contains(&used) != site_mechs.contains(&used) {
                return Err(format!(
                    "the peer asks for {used}, which the vector {} and the site {}",
                    if vector_mechs.contains(&used) {
                        "offers"
                    } else {
                        "does not offer"
                    },
                    if site_mechs.contains(&used) {
                        "offers"
                    } else {
                        "does not offer"
                    },
                ));
            }
        }
    }
    Ok(&vector_mechs != site_mechs)
}

/// Is `jid` the domain or one of its accounts (RFC 7622: the domainpart after the `@`,
/// before any `/`)?
fn is_local(jid: &str, domain: &str) -> bool {
    let bare = jid.split('/').next().unwrap_or_default();
    let host = bare.rsplit('@').next().unwrap_or_default();
    host.eq_ignore_ascii_case(domain)
}

/// The value of the first attribute `name` in `text`, quoted either way.
pub(super) fn attr(text: &str, name: &str) -> Option<String> {
    for q in ['\'', '"'] {
        let key = format!(" {name}={q}");
        if let Some(i) = text.find(&key) {
            let rest = &text[i + key.len()..];
            return rest.find(q).map(|end| rest[..end].to_owned());
        }
    }
    None
}

/// The `mechanism` attribute values in `text` (`<auth/>`, `<authenticate/>`).
fn asked_mechanisms(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("mechanism=") {
        rest = &rest[i + "mechanism=".len()..];
        let Some(q) = rest.chars().next().filter(|c| *c == '\'' || *c == '"') else {
            continue;
        };
        if let Some(end) = rest[1..].find(q) {
            out.push(rest[1..1 + end].to_owned());
        }
    }
    out
}

/// Peer bytes that only a core of ours can answer the same way: SCRAM messages carry proofs
/// computed from the server's nonce and salt, which a live server chooses.
pub(super) fn needs_core_values(peer: &str) -> Option<String> {
    let sasl = peer.contains("urn:ietf:params:xml:ns:xmpp-sasl") || peer.contains("<response");
    let scram = peer.contains("SCRAM-") || (sasl && peer.contains("<response"));
    scram.then(|| "SCRAM proofs depend on the live server's nonce and salt".to_owned())
}

/// The vector's names for things, rewritten to the site's.
pub(super) struct Rewrite {
    /// `(from, to)` pairs, longest first: bare JIDs of users, user names in PLAIN, the domain.
    pairs: Vec<(String, String)>,
    /// Vector user → (its password in the vector, live user, live password), for PLAIN.
    plain: BTreeMap<String, (String, String, String)>,
}

impl Rewrite {
    pub(super) fn new(
        domain: &str,
        users: &BTreeMap<String, String>,
        site: &Site,
    ) -> Result<Rewrite, String> {
        let mut pairs = Vec::new();
        let mut plain = BTreeMap::new();
        for (user, password) in users {
            let Some((live_user, live_password)) = site.users.get(user) else {
                return Err(format!(
                    "the site file maps no account for the user {user:?}"
                ));
            };
            pairs.push((
                format!("{user}@{domain}"),
                format!("{live_user}@{}", site.domain),
            ));
            plain.insert(
                user.clone(),
                (password.clone(), live_user.clone(), live_password.clone()),
            );
        }
        pairs.push((domain.to_owned(), site.domain.clone()));
        pairs.sort_by_key(|(from, _)| std::cmp::Reverse(from.len()));
        Ok(Rewrite { pairs, plain })
    }

    /// Also rewrite `from` to `to` (a name longer than another that contains it wins).
    pub(super) fn add(&mut self, from: &str, to: &str) {
        self.pairs.push((from.to_owned(), to.to_owned()));
        self.pairs
            .sort_by_key(|(from, _)| std::cmp::Reverse(from.len()));
    }

    pub(super) fn names(&self, text: &str) -> String {
        // One pass over the pairs, longest first, never rewriting what a pair produced.
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        'scan: while !rest.is_empty() {
            for (from, to) in &self.pairs {
                // JIDs compare without regard to ASCII case (RFC 7622 sections 3.2, 3.3).
                let head = rest.get(..from.len());
                if head.is_some_and(|h| h.eq_ignore_ascii_case(from)) {
                    out.push_str(to);
                    rest = &rest[from.len()..];
                    continue 'scan;
                }
            }
            let c = rest.chars().next().unwrap_or_default();
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
        out
    }

    /// A peer step: names rewritten; a PLAIN initial response re-encoded for the live
    /// account (RFC 4616: `[authzid] NUL authcid NUL passwd`).
    fn peer(&self, text: &str) -> Result<String, String> {
        let text = self.names(text);
        let Some(start) = text
            .find("mechanism='PLAIN'>")
            .or_else(|| text.find("mechanism=\"PLAIN\">"))
        else {
            return Ok(text);
        };
        let from = start + "mechanism='PLAIN'>".len();
        let Some(len) = text[from..].find('<') else {
            return Ok(text);
        };
        let b64 = &text[from..from + len];
        let Some(decoded) = base64_decode(b64) else {
            return Ok(text);
        };
        let parts: Vec<&[u8]> = decoded.split(|&b| b == 0).collect();
        let [authzid, authcid, passwd] = parts[..] else {
            return Ok(text);
        };
        let authcid = String::from_utf8_lossy(authcid).into_owned();
        let Some((vector_password, user, password)) = self.plain.get(&authcid) else {
            // A user the vector does not configure: sent as written (an unknown account).
            return Ok(text);
        };
        // The authorization identity names the vector's users and domain too; a password
        // other than the configured one stays as written, so a wrong password stays wrong.
        let authzid = self.names(&String::from_utf8_lossy(authzid));
        let passwd = if passwd == vector_password.as_bytes() {
            password.as_bytes()
        } else {
            passwd
        };
        let mut msg = authzid.into_bytes();
        msg.push(0);
        msg.extend_from_slice(user.as_bytes());
        msg.push(0);
        msg.extend_from_slice(passwd);
        Ok(format!(
            "{}{}{}",
            &text[..from],
            base64_encode(&msg),
            &text[from + len..]
        ))
    }

    /// A `core`/`core_exact` step: names rewritten; the first stream id, which the vector
    /// fixes in its configuration and a live server chooses, matched as any value.
    pub(super) fn expected(&self, text: &str, stream_id: Option<&str>) -> String {
        let mut text = self.names(text);
        if let Some(id) = stream_id {
            for q in ['\'', '"'] {
                text = text.replace(&format!("id={q}{id}{q}"), &format!("id={q}{{*}}{q}"));
            }
        }
        text
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(B64[(n >> (18 - 6 * k) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    if text == "=" {
        return Some(Vec::new());
    }
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in text.bytes().filter(|&c| c != b'=') {
        let v = B64.iter().position(|&b| b == c)? as u32;
        bits = bits << 6 | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_handshake_is_xep_0114s_digest() {
        // XEP-0114 section 3's example: stream id 3BF96D75, secret "sesame".
        assert_eq!(
            handshake_digest("3BF96D75", "sesame"),
            "7d9ebd743a486205e137f8c168c192e3495856d2"
        );
        assert_eq!(
            handshake_value("<handshake>ab</handshake><message/>"),
            Some("ab")
        );
        assert_eq!(handshake_value("<handshake/>"), None);
    }

    #[test]
    fn the_site_secret_stays_out_of_debug_output() {
        let site = Site::parse("domain = \"echo.localhost\"\nsecret = \"hush-42\"").unwrap();
        assert_eq!(site.secret, Some(Secret("hush-42".into())));
        assert!(!format!("{site:?}").contains("hush-42"));
    }

    #[test]
    fn base64_round_trips() {
        for s in [&b""[..], b"a", b"ab", b"abc", b"\0juliet\0r0m30myr0m30"] {
            assert_eq!(base64_decode(&base64_encode(s)).as_deref(), Some(s));
        }
        assert_eq!(
            base64_encode(b"\0juliet\0r0m30myr0m30"),
            "AGp1bGlldAByMG0zMG15cjBtMzA="
        );
    }

    fn site() -> Site {
        let mut site = Site::default();
        site.users
            .insert("juliet".into(), ("alice".into(), "s3cret".into()));
        site
    }

    #[test]
    fn plain_is_re_encoded_for_the_live_account_and_names_follow() {
        let users = BTreeMap::from([("juliet".to_owned(), "r0m30myr0m30".to_owned())]);
        let r = Rewrite::new("im.example.com", &users, &site()).unwrap();
        let sent = r
            .peer(
                "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>\
                 AGp1bGlldAByMG0zMG15cjBtMzA=</auth>",
            )
            .unwrap();
        assert!(sent.contains(&base64_encode(b"\0alice\0s3cret")), "{sent}");
        assert_eq!(
            r.expected(
                "<jid>juliet@im.example.com/balcony</jid> from='im.example.com' id='s1'",
                Some("s1")
            ),
            "<jid>alice@localhost/balcony</jid> from='localhost' id='{*}'"
        );
    }

    #[test]
    fn a_peer_that_sends_while_the_embedder_decides_is_skipped() {
        let toml = r#"
title = "t"
source = "s"
role = "server"
[config]
domain = "example.com"
tls = "disabled"
allow_plain_without_tls = true
[config.users.juliet]
password = "p"
[[step]]
peer = "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGp1bGlldABw</auth>"
[[step]]
event = "auth-request PLAIN juliet"
[[step]]
peer = "<abort xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"
[[step]]
action = "credentials juliet"
"#;
        let mut site = site();
        site.tls = "disabled".into();
        site.allow_plain_without_tls = true;
        let vector = crate::vector::parse(std::path::Path::new("t.toml"), toml).unwrap();
        let why = plan(&vector, &site, LiveTls::None).unwrap_err();
        assert!(why.contains("a live server answers at once"), "{why}");
        // Answered before the peer goes on: nothing to skip for.
        let answered = toml.replace(
            "[[step]]\npeer = \"<abort xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>\"\n[[step]]\naction = \"credentials juliet\"",
            "[[step]]\naction = \"credentials juliet\"\n[[step]]\npeer = \"<abort xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>\"",
        );
        assert_ne!(answered, toml);
        let vector = crate::vector::parse(std::path::Path::new("t.toml"), &answered).unwrap();
        if let Err(why) = plan(&vector, &site, LiveTls::None) {
            assert!(!why.contains("answers at once"), "{why}");
        }
        // A request with more behind it in the same read, which the embedder decides.
        let pipelined = toml.replace(
            "<abort xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>",
            "<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>",
        );
        let pipelined = pipelined.replace(
            "AGp1bGlldABw</auth>\"",
            "AGp1bGlldABw</auth><iq type='set' id='b'><q xmlns='urn:x'/></iq><iq type='get' id='c'><q xmlns='urn:x'/></iq>\"",
        );
        let vector = crate::vector::parse(std::path::Path::new("t.toml"), &pipelined).unwrap();
        let why = plan(&vector, &site, LiveTls::None).unwrap_err();
        assert!(why.contains("pipelines"), "{why}");
    }

    #[test]
    fn scram_and_embedder_actions_are_skipped_with_a_reason() {
        assert!(
            needs_core_values(
                "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>x</auth>"
            )
            .is_some()
        );
        assert!(
            needs_core_values("<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>x</response>")
                .is_some()
        );
        assert!(needs_core_values("<message to='a@b'/>").is_none());
    }

    fn items(text: &str) -> Vec<Item> {
        crate::xml::parse_fragment(text, &mut crate::xml::NsContext::new()).unwrap()
    }

    fn matches(expected: &[Item], actual: &[Item]) -> bool {
        crate::matching::match_items(
            expected,
            actual,
            crate::matching::MatchMode::Exact,
            &mut crate::pattern::Captures::new(),
        )
        .is_ok()
    }

    const FEATURES: &str = "<stream:features xmlns:stream='http://etherx.jabber.org/streams'>\
        <mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms>\
        </stream:features>";

    #[test]
    fn declared_additions_are_ignored_and_nothing_else() {
        let mut site = site();
        site.extra_mechanisms = vec!["SCRAM-SHA-1-PLUS".into()];
        site.extra_features = vec![Name::new("urn:xmpp:sasl-cb:0", "sasl-channel-binding")];
        let expected = items(FEATURES);
        let live = "<stream:features xmlns:stream='http://etherx.jabber.org/streams'>\
            <sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'><channel-binding type='tls-exporter'/></sasl-channel-binding>\
            <mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-1-PLUS</mechanism><mechanism>PLAIN</mechanism></mechanisms>\
            </stream:features>";
        let mut actual = items(live);
        assert!(!matches(&expected, &actual), "unequal before tolerating");
        site.tolerate(&expected, &mut actual);
        assert!(matches(&expected, &actual));
        // An addition the site does not declare still fails.
        let mut other = items(&live.replace("sasl-cb:0", "other:0"));
        site.tolerate(&expected, &mut other);
        assert!(!matches(&expected, &other));
        // A declared mechanism the vector does expect is not dropped.
        let wants_plus = items(&FEATURES.replace("PLAIN", "SCRAM-SHA-1-PLUS"));
        let mut actual = items(live);
        site.tolerate(&wants_plus, &mut actual);
        assert!(!matches(&wants_plus, &actual));
    }

    #[test]
    fn the_mechanisms_order_is_the_servers_and_their_set_still_counts() {
        let site = site();
        let mechs = |list: &[&str]| {
            let m: String = list
                .iter()
                .map(|m| format!("<mechanism>{m}</mechanism>"))
                .collect();
            items(&FEATURES.replace("<mechanism>PLAIN</mechanism>", &m))
        };
        let expected = mechs(&["SCRAM-SHA-1", "PLAIN"]);
        let mut actual = mechs(&["PLAIN", "SCRAM-SHA-1"]);
        assert!(!matches(&expected, &actual), "unequal before tolerating");
        site.tolerate(&expected, &mut actual);
        assert!(matches(&expected, &actual));
        // Another set is still a difference, whatever its order.
        let mut fewer = mechs(&["PLAIN"]);
        site.tolerate(&expected, &mut fewer);
        assert!(!matches(&expected, &fewer));
        let mut other = mechs(&["PLAIN", "SCRAM-SHA-256"]);
        site.tolerate(&expected, &mut other);
        assert!(!matches(&expected, &other));
    }

    #[test]
    fn an_empty_required_is_tolerated_on_bind_but_not_on_starttls() {
        let site = site();
        let bind = "<stream:features xmlns:stream='http://etherx.jabber.org/streams'>\
            <bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>";
        let expected = items(bind);
        let mut actual = items(&bind.replace("xmpp-bind'/>", "xmpp-bind'><required/></bind>"));
        site.tolerate(&expected, &mut actual);
        assert!(matches(&expected, &actual));
        let tls = "<stream:features xmlns:stream='http://etherx.jabber.org/streams'>\
            <starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:features>";
        let expected = items(tls);
        let mut actual = items(&tls.replace("xmpp-tls'/>", "xmpp-tls'><required/></starttls>"));
        site.tolerate(&expected, &mut actual);
        assert!(!matches(&expected, &actual), "the TLS policy stays exact");
    }

    #[test]
    fn optional_forms_of_rfc_6120_are_accepted_live() {
        let site = site();
        let mut expected =
            items("<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/></failure>");
        let mut actual = items(
            "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/><text>no</text></failure>",
        );
        tolerate_optional(&mut expected, &mut actual, None, &site);
        assert!(matches(&expected, &actual));
        // Another condition is still another condition.
        let mut wrong = items(
            "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><aborted/><text>no</text></failure>",
        );
        tolerate_optional(&mut expected, &mut wrong, None, &site);
        assert!(!matches(&expected, &wrong));
        // 'to' of the bound JID, an inherited xml:lang and the server's 'from'.
        let mut expected = items("<iq xmlns='jabber:client' type='result' id='s1'/>");
        let mut actual = items(
            "<iq xmlns='jabber:client' type='result' id='s1' to='alice@localhost/r' \
             from='localhost' xml:lang='en'/>",
        );
        tolerate_optional(&mut expected, &mut actual, Some("alice@localhost/r"), &site);
        assert!(matches(&expected, &actual));
        // A 'to' of another JID is not the client's: it still fails.
        let mut expected = items("<iq xmlns='jabber:client' type='result' id='s1'/>");
        let mut actual =
            items("<iq xmlns='jabber:client' type='result' id='s1' to='bob@localhost/r'/>");
        tolerate_optional(&mut expected, &mut actual, Some("alice@localhost/r"), &site);
        assert!(!matches(&expected, &actual));
        // A header's xml:lang of the site's language, where the vector's header has none;
        // another language is still a difference.
        let header = "<stream:stream xmlns='jabber:component:accept' \
            xmlns:stream='http://etherx.jabber.org/streams' from='echo.localhost' id='{*}'>";
        let with = |lang: &str| header.replace("id=", &format!("xml:lang='{lang}' id="));
        let mut expected = items(header);
        let mut actual = items(&with("en"));
        assert!(!matches(&expected, &actual), "unequal before tolerating");
        tolerate_optional(&mut expected, &mut actual, None, &site);
        assert!(matches(&expected, &actual));
        let mut other = items(&with("fr"));
        tolerate_optional(&mut expected, &mut other, None, &site);
        assert!(!matches(&expected, &other));
    }

    #[test]
    fn the_vectors_mechanisms_stand_for_the_sites_unless_the_exchange_depends_on_them() {
        let mut site = site();
        site.mechanisms = Some(vec!["SCRAM-SHA-1".into(), "PLAIN".into()]);
        let mut expected = items(FEATURES);
        site.map_mechanisms(&mut expected);
        let live = FEATURES.replace(
            "<mechanism>PLAIN</mechanism>",
            "<mechanism>SCRAM-SHA-1</mechanism><mechanism>PLAIN</mechanism>",
        );
        assert!(matches(&expected, &items(&live)));
        assert_eq!(
            asked_mechanisms("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='X-FOO'>="),
            vec!["X-FOO".to_owned()]
        );
    }
}
