//! What both client examples (`client` over std::net, `tokio_client` over tokio) do with
//! their events, but for setting up TLS, which is the transport's: go online, send what the
//! flags ask, count the messages received, close.

use std::io;
use std::time::Instant;

use xmpp_sansio::client::{Client, ClientEvent};
use xmpp_sansio::error::StanzaErrorCondition;
use xmpp_sansio::jid::Jid;
use xmpp_sansio::sasl::ChannelBinding;
use xmpp_sansio::stanza::{MessageBuilder, MessageType, PresenceBuilder, StanzaKind};

use crate::drive::answered;

/// One client session as the flags ask it.
#[derive(Debug)]
pub struct Session {
    presence: bool,
    message: Option<(Jid, String)>,
    count: u64,
    /// When to give up: the stream is closed then.
    pub give_up_at: Instant,
    online: bool,
    sasl_failed: bool,
    received: u64,
}

impl Session {
    /// Sends presence if `presence`, then `message` (to, text), once online; closes after
    /// `count` messages received (at once for 0), or at `give_up_at`.
    pub fn new(
        presence: bool,
        message: Option<(Jid, String)>,
        count: u64,
        give_up_at: Instant,
    ) -> Self {
        Session {
            presence,
            message,
            count,
            give_up_at,
            online: false,
            sasl_failed: false,
            received: 0,
        }
    }

    /// TLS is up, with this channel binding.
    pub fn tls_established(&mut self, client: &mut Client, cb: Option<ChannelBinding>) {
        answered(client.tls_established(Instant::now(), cb));
    }

    /// One event (the caller has set up TLS for `TlsRequested`).
    pub fn on_event(&mut self, client: &mut Client, event: ClientEvent) {
        let now = Instant::now();
        match event {
            ClientEvent::StreamOpened | ClientEvent::Authenticated(_) | ClientEvent::Closed(_) => {}
            ClientEvent::TlsRequested => {}
            // Only for the namespaces of `nonza_namespaces`: none here.
            ClientEvent::Nonza(_) => {}
            ClientEvent::SaslFailure(failure) => {
                let condition = failure.condition.map_or("unknown", |c| c.as_str());
                println!("sasl-failure {condition}");
                self.sasl_failed = true;
                client.close(now);
            }
            ClientEvent::Online(full) => {
                println!("online {full}");
                self.online = true;
                // Built stanzas go straight into the output (no parse, no copy). The server
                // may have closed in the same read: `answered` drops a late answer.
                if self.presence {
                    answered(client.send_with(now, |w| PresenceBuilder::new().write_to(w)));
                }
                if let Some((to, text)) = &self.message {
                    let id = client.next_id();
                    answered(client.send_with(now, |w| {
                        MessageBuilder::new()
                            .to(to)
                            .id(&id)
                            .type_(MessageType::Chat)
                            .body(text)
                            .write_to(w)
                    }));
                }
                if self.count == 0 {
                    client.close(now);
                }
            }
            ClientEvent::Stanza(stanza) => {
                println!("stanza {stanza}");
                if stanza.kind() == StanzaKind::Message && !stanza.is_error() {
                    self.received += 1;
                    if self.received == self.count {
                        client.close(now);
                    }
                }
                if stanza.kind() == StanzaKind::Iq {
                    // Requests this example does not handle (pings, disco...); nothing goes
                    // out for results and errors.
                    let condition = StanzaErrorCondition::ServiceUnavailable;
                    answered(client.reply_error(now, &stanza, condition));
                }
            }
            ClientEvent::PeerStreamError(error) => {
                println!("peer-stream-error {}", error.condition.as_str())
            }
            ClientEvent::Abandoned(reason) => println!("abandoned {}", reason.as_str()),
            // Events a later version adds: nothing this example must do.
            _ => {}
        }
    }

    /// The deadline came.
    pub fn on_deadline(&mut self) {
        if !self.online {
            println!("abandoned timeout");
        }
    }

    /// The session is over, as the driver's `result` says: the exit status (0 when it went
    /// online and received `count` messages, 2 on a SASL failure, 1 otherwise).
    pub fn exit_status(&self, client: &Client, result: io::Result<()>) -> i32 {
        if let Err(e) = result {
            println!("abandoned {e}");
        }
        println!("closed");
        if self.sasl_failed {
            2
        } else if self.online && self.received >= self.count && client.is_closed() {
            0
        } else {
            1
        }
    }
}
