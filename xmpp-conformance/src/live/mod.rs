//! Live runs: the vectors against an implementation over a real connection
//! (vectors/README.md, "Live runs"). The runner plays the vector's peer: it sends the `peer`
//! steps and matches what the implementation sends against the `core` steps, with the same
//! matching as in-process runs ([`crate::matching`]). Four modes:
//!
//! | mode | the implementation under test | the runner |
//! | --- | --- | --- |
//! | `live server --connect` | a server's c2s port | connects, plays the client of `server` vectors |
//! | `live client --listen` | a client | accepts, plays the server of `client` vectors |
//! | `live component-server --connect` | a server's XEP-0114 port | connects, plays the component of `component-server` vectors |
//! | `live component --listen` | a XEP-0114 component | accepts, plays the server of `component` vectors |
//! | `live s2s-in --connect --listen` | a server's s2s port | connects, plays the originating server of `s2s-in` vectors, and listens as its domain's authoritative server ([`s2s`]) |
//! | `live s2s-out --listen --trigger` | a server's outgoing s2s | triggers a stream to its domain, accepts, plays the receiving server of `s2s-out` vectors |
//!
//! c2s runs take `--tls starttls|direct|none`: STARTTLS where a vector negotiates it, or TLS
//! from the first byte (XEP-0368, ALPN `xmpp-client`) for the vectors whose stream starts that
//! way (`direct-tls`). XEP-0114 streams have no TLS. Which vectors can run, and how a vector's names (and its handshake)
//! map onto the live implementation's, is [`plan`]'s.
//!
//! Timing replaces the in-process runner's "all output since the last step": after sending,
//! the runner reads until what arrived matches the step or a step timeout passes (then the
//! step fails with what did arrive); a `silent` step waits a fraction of it and fails on any
//! byte.

mod plan;
pub mod report;
pub mod s2s;
mod transport;

use std::time::{Duration, Instant};

pub use plan::{
    LIVE_HANDSHAKE, LIVE_STREAM_ID, LiveStep, LiveTls, Secret, Site, handshake_digest, plan,
    plan_client, plan_component, plan_component_server, tolerate_optional,
};
pub use s2s::{Authority, TRIGGER_MARKER, plan_s2s_in, plan_s2s_out};
pub use transport::{
    ALPN_XMPP_CLIENT, Connection, Read, TlsMode, direct_tls_config, server_tls_config,
};

use crate::matching::match_items;
use crate::pattern::{Captures, Pattern};
use crate::vector::{Vector, decode_hex};
use crate::xml::{NsContext, parse_fragment};

/// How to reach the live server and what to expect of it.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    /// `HOST:PORT`.
    pub connect: String,
    /// STARTTLS or not, and how to check the server's certificate.
    pub tls: TlsMode,
    /// The site file's description of the server.
    pub site: Site,
    /// How long one step may wait for the server.
    pub step_timeout: Duration,
}

/// How `live client` (and `live component`) meets the implementation under test.
#[derive(Debug, Clone)]
pub struct LiveClientOptions {
    /// The certificate the runner presents when a vector negotiates TLS; without one such
    /// vectors are skipped.
    pub tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    /// TLS from the first byte (XEP-0368): the runner accepts TLS at once with `tls`, and
    /// only the vectors whose stream starts that way (`direct-tls`) run.
    pub direct: bool,
    /// The site file's description of the client (its account, resource, policies).
    pub site: Site,
    /// How long one step may wait for the client.
    pub step_timeout: Duration,
    /// How long the runner waits for the client to connect, per vector.
    pub accept_timeout: Duration,
}

/// Runs one `client` vector: waits for the client under test to connect to `listener`,
/// then plays the server side. A vector that cannot run live is skipped before waiting.
pub fn run_client_vector(
    vector: &Vector,
    listener: &std::net::TcpListener,
    opts: &LiveClientOptions,
) -> LiveOutcome {
    let tls = match (&opts.tls, opts.direct) {
        (_, true) => LiveTls::Direct,
        (Some(_), false) => LiveTls::StartTls,
        (None, false) => LiveTls::None,
    };
    match plan_client(vector, &opts.site, tls) {
        Ok(steps) => accept_and_run(vector, &steps, listener, opts, None),
        Err(why) => LiveOutcome::Skipped(why),
    }
}

/// Runs one `component` vector: waits for the component under test to connect to
/// `listener`, then plays the server side of XEP-0114.
pub fn run_component_vector(
    vector: &Vector,
    listener: &std::net::TcpListener,
    opts: &LiveClientOptions,
) -> LiveOutcome {
    match plan_component(vector, &opts.site) {
        Ok(steps) => accept_and_run(vector, &steps, listener, opts, None),
        Err(why) => LiveOutcome::Skipped(why),
    }
}

/// Runs one `s2s-out` vector: `trigger` makes the server under test open an s2s stream to
/// the site's `peer_domain` (what it returns lives until the vector is over), the runner
/// accepts it on `listener` and plays the receiving server ([`s2s::outgoing`]).
pub fn run_s2s_out_vector<G>(
    vector: &Vector,
    listener: &std::net::TcpListener,
    opts: &LiveClientOptions,
    trigger: &mut dyn FnMut() -> Result<G, String>,
) -> LiveOutcome {
    let steps = match plan_s2s_out(vector, &opts.site, opts.tls.is_some()) {
        Ok(steps) => steps,
        Err(why) => return LiveOutcome::Skipped(why),
    };
    // A stream the server retried after the last vector is not this vector's.
    s2s::authority::drain(listener);
    let guard = match trigger() {
        Ok(g) => g,
        Err(e) => {
            return LiveOutcome::Failed {
                step: 0,
                why: format!("the trigger: {e}"),
            };
        }
    };
    let outcome = accept_and_run(vector, &steps, listener, opts, Some(TRIGGER_MARKER));
    drop(guard);
    outcome
}

fn accept_and_run(
    vector: &Vector,
    steps: &[LiveStep],
    listener: &std::net::TcpListener,
    opts: &LiveClientOptions,
    ignore_marked: Option<&'static str>,
) -> LiveOutcome {
    let mut conn = match Connection::accept(listener, Instant::now() + opts.accept_timeout) {
        Ok(c) => c,
        Err(e) => {
            return LiveOutcome::Failed {
                step: 0,
                why: format!("waiting for the implementation under test to connect: {e}"),
            };
        }
    };
    if opts.direct {
        let Some(config) = &opts.tls else {
            return LiveOutcome::Skipped("--tls direct without a certificate".into());
        };
        if let Err(e) = conn.accept_tls(&direct_tls_config(config)) {
            return LiveOutcome::Failed {
                step: 0,
                why: format!("direct TLS: {e}"),
            };
        }
    }
    let server_opts = LiveOptions {
        connect: String::new(),
        tls: TlsMode::None,
        site: opts.site.clone(),
        step_timeout: opts.step_timeout,
    };
    let mut run = Run::new(&mut conn, vector, &opts.site, opts.step_timeout);
    run.accept_tls = opts.tls.clone();
    run.ignore_marked = ignore_marked;
    let outcome = run.all(steps, &server_opts);
    run.conn.shutdown_write();
    outcome
}

/// The outcome of one vector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveOutcome {
    /// Every step held.
    Passed,
    /// A step did not.
    Failed {
        /// Its number, 1-based as the in-process runner counts (0: before the first step,
        /// or a step that sends).
        step: usize,
        /// What was expected and what arrived.
        why: String,
    },
    /// The vector cannot run live, and why.
    Skipped(String),
}

/// Runs one `server` vector against the live server.
pub fn run_server_vector(vector: &Vector, opts: &LiveOptions) -> LiveOutcome {
    let tls = match opts.tls {
        TlsMode::None => LiveTls::None,
        TlsMode::StartTls { .. } => LiveTls::StartTls,
        TlsMode::Direct { .. } => LiveTls::Direct,
    };
    match plan(vector, &opts.site, tls) {
        Ok(steps) => connect_and_run(vector, &steps, opts, None, None),
        Err(why) => LiveOutcome::Skipped(why),
    }
}

/// Runs one `s2s-in` vector against a live server's s2s port: the runner is the
/// originating server, the site's `peer_domain`, and that domain's authoritative server on
/// `authority` ([`s2s`]).
pub fn run_s2s_in_vector(
    vector: &Vector,
    opts: &LiveOptions,
    authority: &Authority,
) -> LiveOutcome {
    let tls = match opts.tls {
        TlsMode::None => LiveTls::None,
        TlsMode::StartTls { .. } => LiveTls::StartTls,
        TlsMode::Direct { .. } => LiveTls::Direct,
    };
    match plan_s2s_in(vector, &opts.site, tls) {
        Ok(steps) => {
            let outcome = connect_and_run(vector, &steps, opts, None, Some(authority));
            s2s::authority::drain(&authority.listener);
            outcome
        }
        Err(why) => LiveOutcome::Skipped(why),
    }
}

/// Runs one `component-server` vector against a live server's XEP-0114 port: the runner is
/// the component, with the site's domain and secret; `opts.tls` is not used (XEP-0114
/// streams have none).
pub fn run_component_server_vector(vector: &Vector, opts: &LiveOptions) -> LiveOutcome {
    let steps = match plan_component_server(vector, &opts.site) {
        Ok(s) => s,
        Err(why) => return LiveOutcome::Skipped(why),
    };
    let plain = LiveOptions {
        tls: TlsMode::None,
        ..opts.clone()
    };
    let secret = opts.site.secret.as_ref().map(|s| s.0.clone());
    connect_and_run(vector, &steps, &plain, secret, None)
}

fn connect_and_run(
    vector: &Vector,
    steps: &[LiveStep],
    opts: &LiveOptions,
    handshake_secret: Option<String>,
    authority: Option<&Authority>,
) -> LiveOutcome {
    let mut conn = match Connection::connect(&opts.connect) {
        Ok(c) => c,
        Err(e) => {
            return LiveOutcome::Failed {
                step: 0,
                why: format!("connecting to {}: {e}", opts.connect),
            };
        }
    };
    if opts.tls.is_direct() {
        if let Err(e) = conn.start_tls(&opts.tls, &opts.site.domain) {
            return LiveOutcome::Failed {
                step: 0,
                why: format!("direct TLS: {e}"),
            };
        }
    }
    let mut run = Run::new(&mut conn, vector, &opts.site, opts.step_timeout);
    run.handshake_secret = handshake_secret;
    run.authority = authority;
    let outcome = run.all(steps, opts);
    if let Some(verifier) = run.verifier.take() {
        verifier.close((opts.step_timeout / 4).min(Duration::from_millis(500)));
    }
    // End the connection and let the server see it end before the next vector connects,
    // so that a session still bound here does not meet the next one (a resource conflict).
    run.conn.shutdown_write();
    let until = Instant::now() + (opts.step_timeout / 4).min(Duration::from_millis(500));
    let mut rest = Vec::new();
    while Instant::now() < until && run.conn.read_into(&mut rest, until) != Read::Closed {
        rest.clear();
    }
    outcome
}

struct Run<'c> {
    conn: &'c mut Connection,
    caps: Captures,
    expected_ctx: NsContext,
    actual_ctx: NsContext,
    /// Bytes received that no step has consumed yet.
    pending: Vec<u8>,
    timeout: Duration,
    mode: crate::matching::MatchMode,
    site: &'c Site,
    /// The full JID from the bind result, once the server sent it.
    bound: Option<String>,
    /// `live client`: the runner is the TLS server.
    accept_tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    /// `live component-server`: the site's secret, for the handshake computed from the
    /// stream id the live server chose.
    handshake_secret: Option<String>,
    /// `live s2s-in`: where the server under test asks the runner's domain.
    authority: Option<&'c Authority>,
    /// The connection it asked on, once it did.
    verifier: Option<s2s::authority::VerifyStream>,
    /// The ids of the stream headers the server under test sent on the stream under test.
    stream_ids: Vec<String>,
    /// `live s2s-out`: messages carrying this text are the trigger's, not the vector's.
    ignore_marked: Option<&'static str>,
}

impl<'c> Run<'c> {
    fn new(conn: &'c mut Connection, vector: &Vector, site: &'c Site, timeout: Duration) -> Self {
        Run {
            conn,
            caps: Captures::new(),
            expected_ctx: NsContext::new(),
            actual_ctx: NsContext::new(),
            pending: Vec::new(),
            timeout,
            mode: vector.match_mode,
            site,
            bound: None,
            accept_tls: None,
            handshake_secret: None,
            authority: None,
            verifier: None,
            stream_ids: Vec::new(),
            ignore_marked: None,
        }
    }

    /// Every step in order, up to the first that fails.
    fn all(&mut self, steps: &[LiveStep], opts: &LiveOptions) -> LiveOutcome {
        for step in steps {
            if let Err((step, why)) = self.step(step, opts) {
                return LiveOutcome::Failed { step, why };
            }
            if let (Some(secret), Some(id)) =
                (&self.handshake_secret, self.caps.get(LIVE_STREAM_ID))
            {
                if self.caps.get(LIVE_HANDSHAKE).is_none() {
                    let digest = handshake_digest(&id, secret);
                    self.caps.insert(LIVE_HANDSHAKE, digest.as_bytes());
                }
            }
        }
        LiveOutcome::Passed
    }
}

/// The `<jid/>` of a resource binding result among `items`.
fn bound_jid(items: &[crate::xml::Item]) -> Option<String> {
    items.iter().find_map(|i| match i {
        crate::xml::Item::Element(iq) if iq.tag.name.local == "iq" => iq
            .child_elements()
            .find(|b| b.tag.name.ns == "urn:ietf:params:xml:ns:xmpp-bind")
            .and_then(|b| b.child_elements().find(|j| j.tag.name.local == "jid"))
            .map(|j| j.text()),
        _ => None,
    })
}

impl Run<'_> {
    fn step(&mut self, step: &LiveStep, opts: &LiveOptions) -> Result<(), (usize, String)> {
        match step {
            LiveStep::Send { text, raw } => {
                let bytes = if *raw {
                    decode_hex(text).map_err(|e| (0, e))?
                } else {
                    Pattern::parse(text)
                        .and_then(|p| p.substitute(&self.caps))
                        .map_err(|e| (0, e.0))?
                };
                self.conn
                    .write_all(&bytes)
                    .map_err(|e| (0, format!("sending: {e}")))
            }
            LiveStep::StartTls => match &self.accept_tls {
                Some(config) => self.conn.accept_tls(config),
                None => self.conn.start_tls(&opts.tls, &opts.site.domain),
            }
            .map_err(|e| (0, format!("TLS: {e}"))),
            LiveStep::Eof => {
                self.conn.shutdown_write();
                Ok(())
            }
            LiveStep::Authoritative { valid, step } => {
                let Some(authority) = self.authority else {
                    return Err((*step, "no authoritative listener in this run".into()));
                };
                let deadline = Instant::now() + self.timeout;
                loop {
                    let verifier = match &mut self.verifier {
                        Some(v) => v,
                        None => self.verifier.insert(
                            s2s::authority::VerifyStream::accept(authority, deadline)
                                .map_err(|e| (*step, e))?,
                        ),
                    };
                    let answered = verifier
                        .answer(*valid, authority, self.site, deadline, &self.stream_ids)
                        .map_err(|e| (*step, e))?;
                    if answered {
                        return Ok(());
                    }
                    // Left over from an earlier vector: not this one's to answer.
                    if let Some(stale) = self.verifier.take() {
                        stale.close(Duration::ZERO);
                    }
                }
            }
            LiveStep::Silent { step } => {
                let until = Instant::now() + self.timeout / 4;
                while Instant::now() < until {
                    self.serve_verifier();
                    let read = self.conn.read_into(&mut self.pending, until);
                    self.drop_marked();
                    if read == Read::Closed {
                        break;
                    }
                }
                if self.pending.is_empty() {
                    Ok(())
                } else {
                    Err((
                        *step,
                        format!(
                            "expected nothing, got {:?}",
                            String::from_utf8_lossy(&self.pending)
                        ),
                    ))
                }
            }
            LiveStep::Expect {
                text,
                exact,
                step,
                map_mechanisms,
            } => self
                .expect(text, *exact, *map_mechanisms)
                .map_err(|w| (*step, w)),
        }
    }

    /// `live s2s-in`: keeps the verification stream going while the runner waits on the
    /// stream under test, and drops it once the server under test has ended it.
    /// Takes the trigger's message out of what arrived (`live s2s-out`).
    fn drop_marked(&mut self) {
        let Some(marker) = self.ignore_marked else {
            return;
        };
        if let Some(rest) =
            s2s::without_marked_messages(&String::from_utf8_lossy(&self.pending), marker)
        {
            self.pending = rest.into_bytes();
        }
    }

    fn serve_verifier(&mut self) {
        if self
            .verifier
            .as_mut()
            .is_some_and(s2s::authority::VerifyStream::poll_end)
        {
            self.verifier = None;
        }
    }

    /// Reads until what arrived matches `text`, or the step times out.
    fn expect(&mut self, text: &str, exact: bool, map_mechanisms: bool) -> Result<(), String> {
        let deadline = Instant::now() + self.timeout;
        let expected = if exact {
            None
        } else {
            let mut items = parse_fragment(text, &mut self.expected_ctx)
                .map_err(|e| format!("the step's XML: {e}"))?;
            if map_mechanisms {
                self.site.map_mechanisms(&mut items);
            }
            Some(items)
        };
        let mut last;
        loop {
            let mut expected = expected.clone();
            let got = String::from_utf8_lossy(&self.pending).into_owned();
            let verdict = match &mut expected {
                None => {
                    let p = Pattern::parse(text).map_err(|e| e.0)?;
                    let mut caps = self.caps.clone();
                    if p.matches(&self.pending, &mut caps) {
                        self.caps = caps;
                        Ok(())
                    } else {
                        Err(format!("expected {text}, got {got:?}"))
                    }
                }
                Some(expected) => {
                    let mut ctx = self.actual_ctx.clone();
                    match parse_fragment(&got, &mut ctx) {
                        Ok(mut actual) => {
                            self.site.tolerate(expected, &mut actual);
                            tolerate_optional(
                                expected,
                                &mut actual,
                                self.bound.as_deref(),
                                self.site,
                            );
                            let mut caps = self.caps.clone();
                            match match_items(expected, &actual, self.mode, &mut caps) {
                                Ok(()) => {
                                    self.caps = caps;
                                    self.actual_ctx = ctx;
                                    if self.bound.is_none() {
                                        self.bound = bound_jid(&actual);
                                    }
                                    Ok(())
                                }
                                Err(d) => Err(format!("expected {text}, got {got}: {d}")),
                            }
                        }
                        Err(e) if got.is_empty() => {
                            Err(format!("expected {text}, got no output ({e})"))
                        }
                        Err(e) => Err(format!("expected {text}, got {got} (not yet XML: {e})")),
                    }
                }
            };
            match verdict {
                Ok(()) => {
                    self.stream_ids.extend(s2s::header_ids(&got));
                    self.pending.clear();
                    return Ok(());
                }
                Err(why) => last = why,
            }
            if Instant::now() >= deadline {
                if map_mechanisms && text.contains("<mechanisms") {
                    if let Some(m) = &self.site.mechanisms {
                        last.push_str(&format!(
                            " (the site's mechanisms expected: {})",
                            m.join(", ")
                        ));
                    }
                }
                return Err(last);
            }
            self.serve_verifier();
            let read = self.conn.read_into(&mut self.pending, deadline);
            self.drop_marked();
            if read == Read::Closed {
                // What arrived before the end is the answer.
                let got = String::from_utf8_lossy(&self.pending).into_owned();
                if !got.is_empty() && !last.contains(&got) {
                    continue;
                }
                return Err(format!("{last} (then the server closed the connection)"));
            }
        }
    }
}
