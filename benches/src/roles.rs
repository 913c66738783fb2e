//! The client and server roles online, for the `server_throughput` bench: a [`Client`] and a
//! [`Server`] that log in to each other in memory (PLAIN without TLS), then receive stanzas
//! in reads as an embedder feeds them.
//!
//! Everything that depends on how the roles negotiate is in [`online_pair`], so that a
//! change of the role API touches one function; the feeders use only `handle_input`,
//! `poll_event` and `poll_transmit`.

use std::time::Instant;

use xmpp_sansio::client::{Client, ClientConfig, ClientEvent};
use xmpp_sansio::connection::{Connection, RoleEvent};
use xmpp_sansio::sasl::{Mechanism, UserCredential};
use xmpp_sansio::server::{Server, ServerEvent};
use xmpp_sansio::stream::TlsPolicy;
use xmpp_sansio::xml::{Element, Limits};

use crate::CLIENT_JID;
use crate::hostile::server_config;

/// A client (`romeo@montague.example`) and a server (`montague.example`, default limits)
/// logged in to each other, the client bound to [`CLIENT_JID`], every byte and event of the
/// negotiation drained: stanzas flow both ways.
pub fn online_pair(now: Instant) -> (Client, Server) {
    let mut config = ClientConfig::new("romeo@montague.example".parse().expect("a bare JID"), "pw");
    config.tls = TlsPolicy::Disabled;
    config.allow_plain_without_tls = true;
    config.mechanisms = vec![Mechanism::Plain];
    config.keepalive = None;
    let mut client = Client::new(config, 1, now);
    let mut server = Server::new(server_config(Limits::default()), 22, now);
    client.open(now).expect("open");
    let (mut client_online, mut server_online) = (false, false);
    for _ in 0..20 {
        while let Some(bytes) = client.poll_transmit() {
            server.handle_input(now, &bytes).expect("server input");
        }
        while let Some(ev) = server.poll_event() {
            match ev {
                ServerEvent::AuthRequest { .. } => server
                    .credentials(now, UserCredential::Password("pw".into()))
                    .expect("credentials"),
                ServerEvent::BindRequest { .. } => server
                    .bind(now, CLIENT_JID.parse().expect("a full JID"))
                    .expect("bind"),
                ServerEvent::Online(_) => server_online = true,
                ServerEvent::Closed(reason) => panic!("server closed: {reason:?}"),
                _ => {}
            }
        }
        while let Some(bytes) = server.poll_transmit() {
            client.handle_input(now, &bytes).expect("client input");
        }
        while let Some(ev) = client.poll_event() {
            match ev {
                ClientEvent::Online(_) => client_online = true,
                ClientEvent::Closed(reason) => panic!("client closed: {reason:?}"),
                _ => {}
            }
        }
        if client_online && server_online {
            return (client, server);
        }
    }
    panic!("the client and the server did not come online");
}

/// Feeds `input` to an online session (the server or the client role) in `chunk`-byte
/// reads, draining events and output after each read as an embedder does, handing each
/// stanza to `stanza`; returns how many stanzas came.
pub fn receive<C: Connection>(
    core: &mut C,
    now: Instant,
    input: &[u8],
    chunk: usize,
    mut stanza: impl FnMut(&Element),
) -> usize {
    let mut n = 0;
    for piece in input.chunks(chunk.max(1)) {
        if let Err(e) = core.handle_input(now, piece) {
            panic!("input refused: {e}");
        }
        while let Some(ev) = core.poll_event() {
            if let Some(reason) = ev.close_reason() {
                panic!("closed: {reason:?}");
            }
            if let Some(st) = ev.stanza() {
                n += 1;
                stanza(st.element());
            }
        }
        while core.poll_transmit().is_some() {}
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{client_stream, corpus};

    #[test]
    fn the_roles_take_every_stanza_of_their_corpus() {
        let now = Instant::now();
        let (mut client, mut server) = online_pair(now);
        let c2s = client_stream(256 * 1024);
        let stanzas = &c2s.bytes[c2s.header_len..c2s.ends[c2s.stanzas - 1]];
        let mut stamped = 0;
        let n = receive(&mut server, now, stanzas, 1500, |el| {
            stamped += usize::from(el.attr("from").as_deref() == Some(CLIENT_JID));
        });
        assert_eq!((n, stamped), (c2s.stanzas, c2s.stanzas));
        // Again on the same session: the bench feeds it once per iteration.
        assert_eq!(
            receive(&mut server, now, stanzas, 1500, |_| {}),
            c2s.stanzas
        );
        let s2c = corpus(256 * 1024);
        let stanzas = &s2c.bytes[s2c.header_len..s2c.ends[s2c.stanzas - 1]];
        assert_eq!(
            receive(&mut client, now, stanzas, 1500, |_| {}),
            s2c.stanzas
        );
    }

    #[test]
    fn the_client_stream_is_what_a_client_sends() {
        let c = client_stream(256 * 1024);
        assert_eq!(c, client_stream(256 * 1024));
        let s = std::str::from_utf8(&c.bytes).unwrap();
        let stanzas = &s[c.header_len..];
        assert!(!stanzas.contains(" from="), "the server stamps from");
        for needle in [
            "<message type='chat' to='",
            "<message type='groupchat' to='",
            "<presence><",
            "<presence to='",
            "<iq type='get' to='montague.example'",
            "<query xmlns='jabber:iq:roster'/>",
            "Парис",
        ] {
            assert!(stanzas.contains(needle), "{needle}");
        }
    }
}
