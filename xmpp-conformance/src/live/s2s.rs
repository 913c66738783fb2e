//! Live s2s runs (`live s2s-in`, vectors/README.md "Live runs"): the runner is the
//! originating server of the `s2s-in` vectors, connecting to the server under test's s2s
//! port as the site's `peer_domain`, and it is also that domain's authoritative server
//! (XEP-0220 section 2.2): the server under test checks the runner's dialback key by
//! connecting back to `peer_domain`, which must reach the runner's `--listen` address, and
//! sending `<db:verify/>` there. The runner answers as the vector's embedder decided
//! (`dialback-valid` or `dialback-invalid`): a live server does not compute the key itself,
//! it asks, so the vector's decision becomes the authoritative server's answer and the
//! vector's key is sent as written.
//!
//! `s2s-out` vectors do not run live ([`S2S_OUT_NOT_LIVE`]).

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::plan::{
    LiveStep, LiveTls, Rewrite, Site, attr, check_no_write_after_proceed, needs_core_values,
    other_role,
};
use super::transport::{Connection, Read};
use crate::vector::{StepKind, Vector};

/// Why `s2s-out` vectors do not run live.
pub const S2S_OUT_NOT_LIVE: &str = "s2s-out vectors do not run live: the server under test \
    opens an s2s stream only when it has a stanza to route, and which stanza it sends, and \
    when, is its users' doing, not the vector's embedder's";

/// The runner as the authoritative server of the site's `peer_domain`: where the server
/// under test connects to verify the runner's dialback keys.
pub struct Authority {
    /// Bound to the address `peer_domain` resolves to, from the server under test's side.
    pub listener: TcpListener,
    /// Offered as STARTTLS on those connections when given (a server that requires TLS on
    /// its s2s streams, as Prosody 0.12 does by default, needs it).
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority")
            .field("listener", &self.listener.local_addr().ok())
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

/// The steps of an `s2s-in` vector against a live server's s2s port: the vector's domain
/// stands for the site's `domain`, the sending domain (the `from` of the peer's header) for
/// the site's `peer_domain`; stream ids are the live server's.
pub fn plan_s2s_in(vector: &Vector, site: &Site, tls: LiveTls) -> Result<Vec<LiveStep>, String> {
    if vector.role != "s2s-in" {
        return Err(other_role(vector, "live s2s-in", "s2s-in"));
    }
    let Some(peer_domain) = &site.peer_domain else {
        return Err("the site file names no peer_domain (the runner's own domain)".into());
    };
    if tls == LiveTls::Direct {
        return Err("s2s streams here start unencrypted (STARTTLS)".into());
    }
    let mut domain = None;
    let mut stream_id = None;
    let mut tls_policy = None;
    for entry in &vector.config.entries {
        match entry.key.as_str() {
            "domain" => domain = entry.value.as_str().map(str::to_owned),
            "stream_id" => stream_id = entry.value.as_str().map(str::to_owned),
            "tls" => tls_policy = entry.value.as_str().map(str::to_owned),
            // The live server keys and verifies with its own secret; the runner answers its
            // <db:verify/> as the vector's embedder decided.
            "dialback_secret" => {}
            other => {
                return Err(format!(
                    "the vector configures {other}, which a site file does not declare"
                ));
            }
        }
    }
    let domain = domain.ok_or("the vector names no domain")?;
    let policy = tls_policy.unwrap_or_else(|| "required".into());
    if policy != site.tls {
        return Err(format!(
            "the vector configures tls = {policy:?}; the site declares {:?}",
            site.tls
        ));
    }
    // The sending domain is the one the peer's first header names; a `from` that is not a
    // domain (a vector about that mistake) is sent as written.
    let sender = vector
        .steps
        .iter()
        .find_map(|s| match &s.kind {
            StepKind::Peer(t) if t.contains("<stream:stream") => {
                attr(&t.replace('\n', " "), "from")
            }
            _ => None,
        })
        .filter(|from| !from.contains(['@', '/']));
    let mut rewrite = Rewrite::new(&domain, &Default::default(), site)?;
    if let Some(sender) = &sender {
        rewrite.add(sender, peer_domain);
    }
    check_no_write_after_proceed(vector)?;
    let mut steps = Vec::new();
    for (i, step) in vector.steps.iter().enumerate() {
        let n = i + 1;
        match &step.kind {
            StepKind::Peer(text) => {
                if let Some(why) = needs_core_values(text) {
                    return Err(why);
                }
                check_dialback_element(vector, i, text, sender.as_deref())?;
                steps.push(LiveStep::Send {
                    text: rewrite.names(text),
                    raw: false,
                });
            }
            StepKind::PeerHex(bytes) => steps.push(LiveStep::raw(bytes)),
            StepKind::Core(text) | StepKind::CoreExact(text) => steps.push(LiveStep::Expect {
                text: rewrite.expected(text, stream_id.as_deref()),
                exact: matches!(step.kind, StepKind::CoreExact(_)),
                step: n,
                map_mechanisms: false,
            }),
            StepKind::Silent => steps.push(LiveStep::Silent { step: n }),
            StepKind::Event(_) => {}
            StepKind::Action(line) => {
                let name = line.split(' ').next().unwrap_or_default();
                match name {
                    "tls-established" if line.contains("client-cert") => {
                        return Err("the runner presents no client certificate".into());
                    }
                    "tls-established" if tls == LiveTls::StartTls => steps.push(LiveStep::StartTls),
                    "tls-established" => {
                        return Err("the vector negotiates TLS; the run has --tls none".into());
                    }
                    "eof" => steps.push(LiveStep::Eof),
                    "dialback-valid" | "dialback-invalid" => steps.push(LiveStep::Authoritative {
                        valid: name == "dialback-valid",
                        step: n,
                    }),
                    "dialback-error" => {
                        return Err("the vector's embedder answers a dialback error of its \
                                    choosing; a live server chooses its own"
                            .into());
                    }
                    "tick" => {
                        return Err("the vector advances the core's clock; a live server \
                                    keeps its own time"
                            .into());
                    }
                    other => {
                        return Err(format!(
                            "the embedder action {other} cannot be asked of a live server"
                        ));
                    }
                }
            }
        }
    }
    Ok(steps)
}

/// Dialback elements the runner can send for the vector: keys only from the sending domain
/// (another would have to resolve to the runner too), and no `<db:verify/>` that expects
/// `valid` (its key is computed with the vector's secret, not the live server's).
fn check_dialback_element(
    vector: &Vector,
    at: usize,
    text: &str,
    sender: Option<&str>,
) -> Result<(), String> {
    let flat = text.replace(['\n', '\t'], " ");
    if flat.contains("<db:result") {
        if let (Some(from), Some(sender)) = (attr(&flat, "from"), sender) {
            if !from.eq_ignore_ascii_case(sender) {
                return Err(format!(
                    "the vector sends a key for a second domain, {from}, which would have \
                     to reach the runner as well"
                ));
            }
        }
    }
    if flat.contains("<db:verify") {
        let answer_valid = vector.steps[at + 1..].iter().any(|s| match &s.kind {
            StepKind::Core(t) | StepKind::CoreExact(t) => {
                t.contains("<db:verify") && t.contains("type='valid'")
            }
            _ => false,
        });
        if answer_valid {
            return Err(
                "the vector's key for <db:verify/> is computed with its own \
                        dialback secret; the live server keys with its own"
                    .into(),
            );
        }
    }
    Ok(())
}

/// The connection on which the server under test asks the runner, as authoritative
/// server, whether a key is valid: the runner is its receiving side (RFC 6120 section 4:
/// header, features with STARTTLS when it has a certificate, then dialback).
pub(super) struct VerifyStream {
    conn: Connection,
    pending: Vec<u8>,
    header_seen: bool,
    tls_up: bool,
}

static STREAM_IDS: AtomicU64 = AtomicU64::new(1);

const DIALBACK_FEATURE: &str = "<dialback xmlns='urn:xmpp:features:dialback'><errors/></dialback>";
const TLS_NS: &str = "urn:ietf:params:xml:ns:xmpp-tls";

impl VerifyStream {
    /// Waits for the server under test to connect to the authority.
    pub(super) fn accept(authority: &Authority, deadline: Instant) -> Result<Self, String> {
        let conn = Connection::accept(&authority.listener, deadline).map_err(|e| {
            format!("waiting for the server under test to ask the runner's domain: {e}")
        })?;
        Ok(VerifyStream {
            conn,
            pending: Vec::new(),
            header_seen: false,
            tls_up: false,
        })
    }

    /// Reads until the server's next `<db:verify/>` (negotiating on the way) and answers it
    /// `valid` or `invalid`, for the pair and stream id it names (XEP-0220 section 2.2.2).
    /// False, unanswered, when it asks about a stream other than `stream_ids` (the ids of
    /// the stream under test): a verification left over from an earlier vector.
    pub(super) fn answer(
        &mut self,
        valid: bool,
        authority: &Authority,
        site: &Site,
        deadline: Instant,
        stream_ids: &[String],
    ) -> Result<bool, String> {
        loop {
            let text = String::from_utf8_lossy(&self.pending).into_owned();
            if !self.header_seen {
                if let Some(end) = header_end(&text) {
                    self.header_seen = true;
                    let header = &text[..end];
                    let their_from = attr(header, "from").unwrap_or_else(|| site.domain.clone());
                    let ours = site.peer_domain.clone().unwrap_or_default();
                    let id = STREAM_IDS.fetch_add(1, Ordering::Relaxed);
                    let mut reply = format!(
                        "<?xml version='1.0'?><stream:stream xmlns='jabber:server' \
                         xmlns:stream='http://etherx.jabber.org/streams' \
                         xmlns:db='jabber:server:dialback' from='{ours}' to='{their_from}' \
                         id='live-authority-{id}' version='1.0'>"
                    );
                    if header.contains("version='1.0'") || header.contains("version=\"1.0\"") {
                        reply.push_str("<stream:features>");
                        if authority.tls.is_some() && !self.tls_up {
                            reply.push_str(&format!("<starttls xmlns='{TLS_NS}'/>"));
                        }
                        reply.push_str(DIALBACK_FEATURE);
                        reply.push_str("</stream:features>");
                    }
                    self.write(&reply)?;
                    self.pending.drain(..end);
                    continue;
                }
            } else if let Some(end) = element_end(&text, "<starttls", "</starttls>") {
                let Some(config) = &authority.tls else {
                    return Err("the server under test asked for STARTTLS, not offered".into());
                };
                self.write(&format!("<proceed xmlns='{TLS_NS}'/>"))?;
                self.pending.drain(..end);
                self.conn.accept_tls(config)?;
                self.tls_up = true;
                self.header_seen = false;
                self.pending.clear();
                continue;
            } else if let Some((start, end)) = element(&text, "<db:verify", "</db:verify>") {
                let tag = &text[start..end];
                let (from, to, id) = (attr(tag, "from"), attr(tag, "to"), attr(tag, "id"));
                let (Some(from), Some(to), Some(id)) = (from, to, id) else {
                    return Err(format!("a <db:verify/> without from, to and id: {tag}"));
                };
                if !stream_ids.contains(&id) {
                    return Ok(false);
                }
                let kind = if valid { "valid" } else { "invalid" };
                self.write(&format!(
                    "<db:verify from='{to}' to='{from}' id='{id}' type='{kind}'/>"
                ))?;
                self.pending.drain(..end);
                return Ok(true);
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "no <db:verify/> from the server under test; it sent {text:?}"
                ));
            }
            if self.conn.read_into(&mut self.pending, deadline) == Read::Closed {
                return Err(format!(
                    "the server under test closed its connection to the runner's domain \
                     before asking; it sent {:?}",
                    String::from_utf8_lossy(&self.pending)
                ));
            }
        }
    }

    /// Reads what the server under test sent since (waiting at most a millisecond) and, once
    /// it ends the stream, ends ours too (RFC 6120 section 4.4): a server that closes its
    /// verification stream waits for that before it answers on the stream under test.
    /// True when the stream is over.
    pub(super) fn poll_end(&mut self) -> bool {
        let read = self
            .conn
            .read_into(&mut self.pending, Instant::now() + Duration::from_millis(1));
        let ended = read == Read::Closed
            || String::from_utf8_lossy(&self.pending).contains("</stream:stream>");
        if ended {
            let _ = self.conn.write_all(b"</stream:stream>");
            self.conn.shutdown_write();
        }
        ended
    }

    fn write(&mut self, text: &str) -> Result<(), String> {
        self.conn
            .write_all(text.as_bytes())
            .map_err(|e| format!("answering the server under test: {e}"))
    }

    /// Ends the stream, so that the server under test does not reuse it for the next
    /// vector.
    pub(super) fn close(mut self, linger: Duration) {
        let _ = self.conn.write_all(b"</stream:stream>");
        self.conn.shutdown_write();
        let until = Instant::now() + linger;
        let mut rest = Vec::new();
        while Instant::now() < until && self.conn.read_into(&mut rest, until) != Read::Closed {
            rest.clear();
        }
    }
}

/// Closes whatever the server under test opened to the authority that no step used (a
/// verification the vector did not expect), so that it does not meet the next vector.
pub(super) fn drain_listener(authority: &Authority) {
    while let Ok(mut conn) = Connection::accept(&authority.listener, Instant::now()) {
        conn.shutdown_write();
    }
}

/// The `id` of every stream header in `text` (what the server under test sent).
pub(super) fn header_ids(text: &str) -> impl Iterator<Item = String> + '_ {
    text.match_indices("<stream:stream").filter_map(|(at, _)| {
        let end = at + text[at..].find('>')?;
        attr(&text[at..end], "id")
    })
}

/// The end of the first stream header in `text`.
fn header_end(text: &str) -> Option<usize> {
    let at = text.find("<stream:stream")?;
    text[at..].find('>').map(|e| at + e + 1)
}

/// The end of the first element starting with `open` (`<name`) in `text`, once complete.
fn element_end(text: &str, open: &str, close: &str) -> Option<usize> {
    element(text, open, close).map(|(_, end)| end)
}

/// The span of the first complete element starting with `open` in `text`: empty
/// (`<name .../>`) or up to its end tag `close`.
fn element(text: &str, open: &str, close: &str) -> Option<(usize, usize)> {
    let start = text.find(open)?;
    let after = text[start + open.len()..].chars().next()?;
    if !(after.is_whitespace() || after == '>' || after == '/') {
        return None;
    }
    let tag_end = start + text[start..].find('>')?;
    if text[..tag_end].ends_with('/') {
        return Some((start, tag_end + 1));
    }
    let end = tag_end + text[tag_end..].find(close)? + close.len();
    Some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_are_found_once_complete() {
        assert_eq!(
            element("<db:verify from='a'", "<db:verify", "</db:verify>"),
            None
        );
        assert_eq!(
            element("x<db:verify a='1'/>y", "<db:verify", "</db:verify>"),
            Some((1, 19))
        );
        assert_eq!(
            element(
                "<db:verify a='1'>k</db:verify>",
                "<db:verify",
                "</db:verify>"
            ),
            Some((0, 30))
        );
        assert_eq!(
            element("<db:verify a='1'>k</db:ver", "<db:verify", "</db:verify>"),
            None
        );
        // Another element whose name starts the same is not it.
        assert_eq!(element("<starttlsx/>", "<starttls", "</starttls>"), None);
        assert_eq!(header_end("<?xml?><stream:stream a='b'>rest"), Some(28));
    }
}
