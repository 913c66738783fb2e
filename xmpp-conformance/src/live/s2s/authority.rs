//! The runner as the authoritative server of its own domain (XEP-0220 section 2.2.2): the
//! server under test connects to it to verify the runner's dialback keys.

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::super::plan::{Site, attr};
use super::super::transport::{Connection, Read};
use super::{element, element_end, header_end};

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

/// The connection on which the server under test asks the runner, as authoritative
/// server, whether a key is valid: the runner is its receiving side (RFC 6120 section 4:
/// header, features with STARTTLS when it has a certificate, then dialback).
pub(in crate::live) struct VerifyStream {
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
    pub(in crate::live) fn accept(
        authority: &Authority,
        deadline: Instant,
    ) -> Result<Self, String> {
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
    pub(in crate::live) fn answer(
        &mut self,
        valid: bool,
        authority: &Authority,
        site: &Site,
        deadline: Instant,
        stream_ids: &[String],
    ) -> Result<bool, String> {
        loop {
            // Offsets into `text` are offsets into `pending`: only its UTF-8 prefix is read
            // (a character cut by the last read waits for the rest).
            let text = match std::str::from_utf8(&self.pending) {
                Ok(t) => t.to_owned(),
                Err(e) if e.error_len().is_none() => {
                    String::from_utf8_lossy(&self.pending[..e.valid_up_to()]).into_owned()
                }
                Err(_) => {
                    return Err(format!(
                        "the server under test sent bytes that are not UTF-8: {:?}",
                        String::from_utf8_lossy(&self.pending)
                    ));
                }
            };
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
            } else if let Some((start, end)) = element(&text, "<db:result", "</db:result>") {
                // The server under test authenticating its own domain to the runner's on
                // this stream: some (Prosody) send <db:verify/> only once that is done. The
                // runner takes the key without dialing back (a test peer trusts the server
                // under test; XEP-0220 section 1.2 names the shortcut).
                let tag = &text[start..end];
                if let (Some(from), Some(to), None) =
                    (attr(tag, "from"), attr(tag, "to"), attr(tag, "type"))
                {
                    self.write(&format!(
                        "<db:result from='{to}' to='{from}' type='valid'/>"
                    ))?;
                }
                self.pending.drain(..end);
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
    pub(in crate::live) fn poll_end(&mut self) -> bool {
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
    pub(in crate::live) fn close(mut self, linger: Duration) {
        let _ = self.conn.write_all(b"</stream:stream>");
        self.conn.shutdown_write();
        let until = Instant::now() + linger;
        let mut rest = Vec::new();
        while Instant::now() < until && self.conn.read_into(&mut rest, until) != Read::Closed {
            rest.clear();
        }
    }
}

/// Closes whatever the server under test opened to `listener` that no step used (a
/// verification the vector did not expect, a stream retried), so that it does not meet the
/// next vector.
pub(in crate::live) fn drain(listener: &TcpListener) {
    while let Ok(mut conn) = Connection::accept(listener, Instant::now()) {
        conn.shutdown_write();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A server under test that sends bytes that are not UTF-8 on its verification stream
    /// gets an error, not a panic (offsets into what arrived stay offsets into the bytes).
    #[test]
    fn bytes_that_are_not_utf8_are_an_error() {
        let authority = Authority {
            listener: TcpListener::bind("127.0.0.1:0").expect("bind"),
            tls: None,
        };
        let addr = authority.listener.local_addr().expect("address");
        let peer = std::thread::spawn(move || {
            let mut sock = std::net::TcpStream::connect(addr).expect("connect");
            let bytes = b"<stream:stream from='a' to='b' version='1.0'>\xff\xfe\
                          <db:verify from='a' to='b' id='i'>k</db:verify>";
            sock.write_all(bytes).expect("write");
            std::thread::sleep(Duration::from_millis(300));
        });
        let site = Site::default();
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut stream = VerifyStream::accept(&authority, deadline).expect("accepted");
        let got = stream.answer(true, &authority, &site, deadline, &["i".to_owned()]);
        match got {
            Err(why) => assert!(why.contains("not UTF-8"), "{why}"),
            Ok(answered) => panic!("expected an error, got {answered}"),
        }
        peer.join().expect("the peer");
    }
}
