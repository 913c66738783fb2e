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
    },
    /// Nothing arrives for a while.
    Silent {
        /// The step's number.
        step: usize,
    },
    /// STARTTLS: the TLS handshake, on the runner's side.
    StartTls,
    /// End our half of the connection.
    Eof,
}

/// The steps to run, or why the vector cannot run live.
pub fn plan(vector: &Vector, site: &Site, tls_available: bool) -> Result<Vec<LiveStep>, String> {
    if vector.role != "server" {
        return Err(format!(
            "a {} vector: only server vectors run live",
            vector.role
        ));
    }
    let mut domain = "localhost".to_owned();
    let mut users: BTreeMap<String, String> = BTreeMap::new();
    let mut stream_id = None;
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
            "mechanisms" => {
                let want: Option<Vec<&str>> = v
                    .as_array()
                    .map(|a| a.iter().filter_map(|m| m.as_str()).collect());
                let have: Option<Vec<&str>> = site
                    .mechanisms
                    .as_ref()
                    .map(|m| m.iter().map(String::as_str).collect());
                declared(
                    &|| want.is_some() && want == have,
                    format!("{:?}", site.mechanisms),
                )?
            }
            other => {
                return Err(format!(
                    "the vector configures {other}, which a site file does not declare"
                ));
            }
        }
    }
    if vector.config.get("tls").is_none() && site.tls != "required" {
        return Err(format!(
            "the vector expects STARTTLS required (the default); the site declares {}",
            site.tls
        ));
    }
    let rewrite = Rewrite::new(&domain, &users, site)?;
    let mut steps = Vec::new();
    for (i, step) in vector.steps.iter().enumerate() {
        let n = i + 1;
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
            StepKind::PeerHex(bytes) => steps.push(LiveStep::Send {
                text: bytes.iter().map(|b| format!("{b:02x}")).collect(),
                raw: true,
            }),
            StepKind::Core(text) => steps.push(LiveStep::Expect {
                text: rewrite.expected(text, stream_id.as_deref()),
                exact: false,
                step: n,
            }),
            StepKind::CoreExact(text) => steps.push(LiveStep::Expect {
                text: rewrite.expected(text, stream_id.as_deref()),
                exact: true,
                step: n,
            }),
            StepKind::Silent => steps.push(LiveStep::Silent { step: n }),
            // What the core reports to its embedder is not on the wire.
            StepKind::Event(_) => {}
            StepKind::Action(line) => {
                let name = line.split(' ').next().unwrap_or_default();
                match name {
                    "tls-established" if tls_available => {
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
                        return Err(format!(
                            "the embedder's {other:?} cannot be asked of a live server"
                        ));
                    }
                }
            }
        }
    }
    Ok(steps)
}

/// Peer bytes that only a core of ours can answer the same way: SCRAM messages carry proofs
/// computed from the server's nonce and salt, which a live server chooses.
fn needs_core_values(peer: &str) -> Option<String> {
    let sasl = peer.contains("urn:ietf:params:xml:ns:xmpp-sasl") || peer.contains("<response");
    let scram = peer.contains("SCRAM-") || (sasl && peer.contains("<response"));
    scram.then(|| "SCRAM proofs depend on the live server's nonce and salt".to_owned())
}

/// The vector's names for things, rewritten to the site's.
struct Rewrite {
    /// `(from, to)` pairs, longest first: bare JIDs of users, user names in PLAIN, the domain.
    pairs: Vec<(String, String)>,
    /// Vector user → (live user, live password), for PLAIN.
    plain: BTreeMap<String, (String, String)>,
}

impl Rewrite {
    fn new(domain: &str, users: &BTreeMap<String, String>, site: &Site) -> Result<Rewrite, String> {
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
            let _ = password;
            plain.insert(user.clone(), (live_user.clone(), live_password.clone()));
        }
        pairs.push((domain.to_owned(), site.domain.clone()));
        pairs.sort_by_key(|(from, _)| std::cmp::Reverse(from.len()));
        Ok(Rewrite { pairs, plain })
    }

    fn names(&self, text: &str) -> String {
        // One pass over the pairs, longest first, never rewriting what a pair produced.
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        'scan: while !rest.is_empty() {
            for (from, to) in &self.pairs {
                if let Some(after) = rest.strip_prefix(from.as_str()) {
                    out.push_str(to);
                    rest = after;
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
        let [_, authcid, _] = parts[..] else {
            return Ok(text);
        };
        let authcid = String::from_utf8_lossy(authcid).into_owned();
        let Some((user, password)) = self.plain.get(&authcid) else {
            // A user the vector does not configure: sent as written (an unknown account).
            return Ok(text);
        };
        let mut msg = vec![0u8];
        msg.extend_from_slice(user.as_bytes());
        msg.push(0);
        msg.extend_from_slice(password.as_bytes());
        Ok(format!(
            "{}{}{}",
            &text[..from],
            base64_encode(&msg),
            &text[from + len..]
        ))
    }

    /// A `core`/`core_exact` step: names rewritten; the first stream id, which the vector
    /// fixes in its configuration and a live server chooses, matched as any value.
    fn expected(&self, text: &str, stream_id: Option<&str>) -> String {
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
}
