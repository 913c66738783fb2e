//! Role behaviour that the vocabulary of vectors does not reach: embedder helpers and misuse.

use std::time::{Duration, Instant};

use xmpp_sansio::client::{Client, ClientConfig, ClientError, ClientEvent};
use xmpp_sansio::error::StanzaErrorCondition;
use xmpp_sansio::sasl::UserCredential;
use xmpp_sansio::server::{Server, ServerConfig, ServerError, ServerEvent};
use xmpp_sansio::stream::{CloseReason, TlsPolicy};

fn drain(server: &mut Server) -> Vec<ServerEvent> {
    std::iter::from_fn(|| server.poll_event()).collect()
}

const C2S_HEADER: &[u8] = b"<stream:stream xmlns='jabber:client' \
    xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>";

/// A server side whose client (juliet, PLAIN without TLS) has authenticated and restarted
/// the stream: the next step is binding.
fn authenticated_server(now: Instant) -> Server {
    authenticated_server_with(now, |_| ())
}

/// [`authenticated_server`] with `configure` applied to its configuration.
fn authenticated_server_with(now: Instant, configure: impl FnOnce(&mut ServerConfig)) -> Server {
    let mut config = ServerConfig::new("example.com", b"secret".to_vec());
    config.tls = TlsPolicy::Disabled;
    config.allow_plain_without_tls = true;
    config.mechanisms = vec![xmpp_sansio::sasl::Mechanism::Plain];
    configure(&mut config);
    let mut s = Server::new(config, 0, now);
    s.handle_input(now, C2S_HEADER).unwrap();
    // \0juliet\0pw
    s.handle_input(
        now,
        b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGp1bGlldABwdw==</auth>",
    )
    .unwrap();
    assert!(matches!(
        drain(&mut s).last(),
        Some(ServerEvent::AuthRequest { .. })
    ));
    s.credentials(now, UserCredential::Password("pw".into()))
        .unwrap();
    s.handle_input(now, C2S_HEADER).unwrap();
    drain(&mut s);
    while s.poll_transmit().is_some() {}
    s
}

fn online_server(now: Instant) -> Server {
    online_server_with(now, |_| ())
}

fn online_server_with(now: Instant, configure: impl FnOnce(&mut ServerConfig)) -> Server {
    let mut s = authenticated_server_with(now, configure);
    s.handle_input(
        now,
        b"<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>",
    )
    .unwrap();
    assert!(matches!(
        drain(&mut s).last(),
        Some(ServerEvent::BindRequest { resource: None, .. })
    ));
    let resource = s.make_resource();
    assert_eq!(resource.len(), 16);
    s.bind(
        now,
        format!("juliet@example.com/{resource}").parse().unwrap(),
    )
    .unwrap();
    assert!(matches!(drain(&mut s).last(), Some(ServerEvent::Online(_))));
    while s.poll_transmit().is_some() {}
    s
}

#[test]
fn an_unanswerable_iq_gets_service_unavailable_and_an_error_gets_nothing() {
    let now = Instant::now();
    let mut s = online_server(now);
    s.handle_input(now, b"<iq type='get' id='q1' to='example.com'><query xmlns='urn:x'/></iq><message type='error' id='m'/>").unwrap();
    let events = drain(&mut s);
    let ServerEvent::Stanza(iq) = &events[0] else {
        panic!("{events:?}")
    };
    assert!(
        s.reply_error(now, iq, StanzaErrorCondition::ServiceUnavailable)
            .unwrap()
    );
    let out = s.poll_transmit().unwrap();
    let out = std::str::from_utf8(&out).unwrap();
    assert!(out.starts_with("<iq"), "{out}");
    assert!(
        out.contains("type='error'")
            && out.contains("id='q1'")
            && out.contains("<service-unavailable"),
        "{out}"
    );
    let ServerEvent::Stanza(msg) = &events[1] else {
        panic!()
    };
    assert!(
        !s.reply_error(now, msg, StanzaErrorCondition::ServiceUnavailable)
            .unwrap()
    );
    assert!(s.poll_transmit().is_none());
}

#[test]
fn server_misuse_is_a_typed_error_not_a_panic() {
    let now = Instant::now();
    let mut s = Server::new(ServerConfig::new("example.com", vec![]), 0, now);
    assert_eq!(
        s.bind(now, "a@example.com/r".parse().unwrap()),
        Err(ServerError::NoBindRequest)
    );
    assert_eq!(
        s.tls_established(now, vec![]),
        Err(ServerError::NoTlsRequested)
    );
    assert_eq!(
        s.credentials(now, UserCredential::Unknown),
        Err(ServerError::NoAuthRequest)
    );
}

#[test]
fn client_misuse_is_a_typed_error_and_time_drives_timeouts() {
    let now = Instant::now();
    let mut config = ClientConfig::new("juliet@example.com".parse().unwrap(), "pw");
    config.response_timeout = Duration::from_secs(5);
    let mut c = Client::new(config, 1, now);
    assert_eq!(c.handle_input(now, b"x"), Err(ClientError::NotOpen));
    assert_eq!(c.auth(now, None), Err(ClientError::NotAwaitingAuth));
    c.open(now).unwrap();
    assert_eq!(c.open(now), Err(ClientError::AlreadyOpen));
    assert_eq!(c.poll_timeout(), Some(now + Duration::from_secs(5)));
    c.handle_timeout(now + Duration::from_secs(4));
    assert!(c.poll_event().is_none());
    c.handle_timeout(now + Duration::from_secs(5));
    assert!(matches!(
        c.poll_event(),
        Some(ClientEvent::Closed(CloseReason::TimedOut))
    ));
    assert!(c.is_closed());
    let out = c.poll_transmit().unwrap();
    assert!(
        std::str::from_utf8(&out)
            .unwrap()
            .ends_with("</stream:error></stream:stream>")
    );
}

#[test]
fn a_malformed_address_gets_jid_malformed_and_the_stream_goes_on() {
    let now = Instant::now();
    let mut s = online_server(now);
    s.handle_input(now, b"<message to='@example.com' id='m1'><body>x</body></message><message to='romeo@example.net' id='m2'/>").unwrap();
    let events = drain(&mut s);
    assert_eq!(
        events.len(),
        1,
        "only the well-addressed stanza reaches the embedder: {events:?}"
    );
    assert!(matches!(&events[0], ServerEvent::Stanza(el) if el.id().as_deref() == Some("m2")));
    let out = s.poll_transmit().unwrap();
    let out = std::str::from_utf8(&out).unwrap();
    assert!(
        out.contains("type='error'") && out.contains("id='m1'") && out.contains("<jid-malformed"),
        "{out}"
    );
    assert!(!s.is_closed());
}

#[test]
fn a_resource_that_cannot_be_a_resourcepart_is_bad_request_without_asking_the_embedder() {
    let now = Instant::now();
    let mut s = authenticated_server(now);
    let long = "r".repeat(1100);
    let bind = format!(
        "<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>{long}</resource></bind></iq>"
    );
    s.handle_input(now, bind.as_bytes()).unwrap();
    assert!(
        drain(&mut s).is_empty(),
        "no bind request for a resource that cannot be bound"
    );
    let out = s.poll_transmit().unwrap();
    let out = std::str::from_utf8(&out).unwrap();
    assert!(
        out.contains("type='error'") && out.contains("<bad-request"),
        "{out}"
    );
    // The client may try again.
    s.handle_input(now, b"<iq type='set' id='c'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>ok</resource></bind></iq>").unwrap();
    assert!(
        matches!(drain(&mut s).last(), Some(ServerEvent::BindRequest { resource: Some(r), .. }) if r == "ok")
    );
}

#[test]
fn a_client_answers_an_unhandled_iq_with_service_unavailable_and_never_an_error() {
    let now = Instant::now();
    let (mut c, id) = client_awaiting_bind(now);
    let result = format!(
        "<iq type='result' id='{id}'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>juliet@example.com/r</jid></bind></iq>"
    );
    c.handle_input(now, result.as_bytes()).unwrap();
    c.handle_input(now, b"<iq type='get' id='p1' from='example.com'><ping xmlns='urn:xmpp:ping'/></iq><iq type='error' id='e1'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>").unwrap();
    let stanzas: Vec<_> = std::iter::from_fn(|| c.poll_event())
        .filter_map(|e| match e {
            ClientEvent::Stanza(s) => Some(s),
            _ => None,
        })
        .collect();
    assert_eq!(stanzas.len(), 2);
    assert!(
        c.reply_error(now, &stanzas[0], StanzaErrorCondition::ServiceUnavailable)
            .unwrap()
    );
    assert!(
        !c.reply_error(now, &stanzas[1], StanzaErrorCondition::ServiceUnavailable)
            .unwrap()
    );
    let out = c.poll_transmit().unwrap();
    let out = std::str::from_utf8(&out).unwrap();
    assert!(
        out.starts_with("<iq")
            && out.contains("to='example.com'")
            && out.contains("id='p1'")
            && out.contains("<service-unavailable"),
        "{out}"
    );
}

/// RFC 6120 section 4.4: after our closing tag nothing is written, on any path.
#[test]
fn after_the_servers_closing_tag_nothing_is_written_on_any_path() {
    let now = Instant::now();
    let mut s = online_server(now);
    s.close(now);
    assert_eq!(s.poll_transmit().as_deref(), Some(&b"</stream:stream>"[..]));
    // A stanza still arrives and is reported; one that would earn a stanza error gets none.
    s.handle_input(
        now,
        b"<message to='romeo@example.net' id='m1'/><message to='@example.com' id='m2'/>",
    )
    .unwrap();
    let events = drain(&mut s);
    assert!(
        matches!(&events[..], [ServerEvent::Stanza(el)] if el.id().as_deref() == Some("m1")),
        "{events:?}"
    );
    assert_eq!(
        s.poll_transmit(),
        None,
        "no jid-malformed reply after the close"
    );
    assert!(!s.is_closed());
    // A stream error the embedder raises now cannot be sent: the stream is over at once.
    s.close_with(
        now,
        xmpp_sansio::error::StreamError::new(
            xmpp_sansio::error::StreamErrorCondition::SystemShutdown,
        ),
    );
    assert_eq!(s.poll_transmit(), None);
    assert!(matches!(
        &drain(&mut s)[..],
        [ServerEvent::Closed(CloseReason::LocalStreamError(_))]
    ));
    assert!(s.is_closed());
}

#[test]
fn after_the_clients_closing_tag_a_timeout_writes_nothing() {
    let now = Instant::now();
    let mut config = ClientConfig::new("juliet@example.com".parse().unwrap(), "pw");
    config.response_timeout = Duration::from_secs(5);
    let mut c = Client::new(config, 1, now);
    c.open(now).unwrap();
    c.handle_input(
        now,
        b"<stream:stream xmlns='jabber:client' \
        xmlns:stream='http://etherx.jabber.org/streams' from='example.com' id='s' version='1.0'>",
    )
    .unwrap();
    c.close(now);
    c.close(now);
    let out = c.poll_transmit().unwrap();
    assert!(out.ends_with(b"'></stream:stream>"), "{out:?}");
    assert!(matches!(c.poll_event(), Some(ClientEvent::StreamOpened)));
    assert_eq!(c.poll_timeout(), Some(now + Duration::from_secs(5)));
    c.handle_timeout(now + Duration::from_secs(5));
    assert_eq!(c.poll_transmit(), None);
    assert!(matches!(
        c.poll_event(),
        Some(ClientEvent::Closed(CloseReason::TimedOut))
    ));
    assert!(c.poll_event().is_none());
}

/// A server at the point where juliet's PLAIN `<auth/>` asking to act as `authzid` waits for
/// the embedder's answer.
fn plain_auth_request(now: Instant, authzid: &str) -> Server {
    let mut config = ServerConfig::new("example.com", b"secret".to_vec());
    config.tls = TlsPolicy::Disabled;
    config.allow_plain_without_tls = true;
    config.mechanisms = vec![xmpp_sansio::sasl::Mechanism::Plain];
    let mut s = Server::new(config, 0, now);
    s.handle_input(now, C2S_HEADER).unwrap();
    let message = xmpp_sansio::sasl::encode_payload(format!("{authzid}\0juliet\0pw").as_bytes());
    let auth = format!(
        "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{message}</auth>"
    );
    s.handle_input(now, auth.as_bytes()).unwrap();
    assert!(matches!(
        drain(&mut s).last(),
        Some(ServerEvent::AuthRequest { authzid: Some(a), .. }) if a == authzid
    ));
    while s.poll_transmit().is_some() {}
    s
}

#[test]
fn another_identity_is_granted_only_by_an_explicit_call() {
    let now = Instant::now();
    let password = || UserCredential::Password("pw".into());
    let romeo: xmpp_sansio::jid::BareJid = "romeo@example.com".parse().unwrap();
    let outcome = |s: &mut Server| {
        let out = s.poll_transmit().unwrap();
        (String::from_utf8(out.to_vec()).unwrap(), drain(s))
    };

    // The plain answer does not grant it.
    let mut s = plain_auth_request(now, "romeo@example.com");
    s.credentials(now, password()).unwrap();
    let (out, events) = outcome(&mut s);
    assert!(out.contains("<invalid-authzid/>"), "{out}");
    assert!(events.is_empty(), "{events:?}");

    // Nor does a grant of someone else.
    let mut s = plain_auth_request(now, "romeo@example.com");
    s.credentials_acting_as(now, password(), &"nurse@example.com".parse().unwrap())
        .unwrap();
    assert!(outcome(&mut s).0.contains("<invalid-authzid/>"));

    // A grant of exactly that identity: the session is romeo's.
    let mut s = plain_auth_request(now, "romeo@example.com");
    s.credentials_acting_as(now, password(), &romeo).unwrap();
    let (out, events) = outcome(&mut s);
    assert!(out.starts_with("<success"), "{out}");
    assert!(matches!(&events[..], [ServerEvent::Authenticated(j)] if *j == romeo));

    // A grant does not help a wrong password.
    let mut s = plain_auth_request(now, "romeo@example.com");
    s.credentials_acting_as(now, UserCredential::Password("other".into()), &romeo)
        .unwrap();
    assert!(outcome(&mut s).0.contains("<not-authorized/>"));

    // The account's own bare JID, in any spelling that names it, needs no grant.
    let mut s = plain_auth_request(now, "Juliet@Example.com");
    s.credentials(now, password()).unwrap();
    let (out, events) = outcome(&mut s);
    assert!(out.starts_with("<success"), "{out}");
    assert!(
        matches!(&events[..], [ServerEvent::Authenticated(j)] if j.as_str() == "juliet@example.com")
    );

    // EXTERNAL answers do not fit a PLAIN request.
    let mut s = plain_auth_request(now, "romeo@example.com");
    assert_eq!(
        s.external(now, romeo.clone()),
        Err(ServerError::NoAuthRequest)
    );
    assert_eq!(s.refuse_external(now), Err(ServerError::NoAuthRequest));
}

/// A client (juliet, PLAIN without TLS) whose bind request is out: the result is next. Gives
/// the request's id.
fn client_awaiting_bind(now: Instant) -> (Client, String) {
    client_awaiting_bind_with(now, |_| (), "")
}

/// [`client_awaiting_bind`] with `configure` applied to its configuration, and `features`
/// offered beside binding.
fn client_awaiting_bind_with(
    now: Instant,
    configure: impl FnOnce(&mut ClientConfig),
    features: &str,
) -> (Client, String) {
    let mut config = ClientConfig::new("juliet@example.com".parse().unwrap(), "pw");
    config.tls = TlsPolicy::Disabled;
    config.allow_plain_without_tls = true;
    config.mechanisms = vec![xmpp_sansio::sasl::Mechanism::Plain];
    configure(&mut config);
    let mut c = Client::new(config, 1, now);
    c.open(now).unwrap();
    let header = b"<stream:stream xmlns='jabber:client' \
        xmlns:stream='http://etherx.jabber.org/streams' from='example.com' id='s' version='1.0'>";
    c.handle_input(now, header).unwrap();
    c.handle_input(now, b"<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>").unwrap();
    c.handle_input(now, b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
        .unwrap();
    c.handle_input(now, header).unwrap();
    let offer = format!(
        "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>{features}</stream:features>"
    );
    c.handle_input(now, offer.as_bytes()).unwrap();
    let out = c.poll_transmit().unwrap();
    let out = std::str::from_utf8(&out).unwrap();
    let id = out
        .rsplit("id='")
        .next()
        .unwrap()
        .split('\'')
        .next()
        .unwrap();
    while c.poll_event().is_some() {}
    (c, id.to_owned())
}

#[test]
fn a_client_refuses_a_bound_jid_of_another_account() {
    let now = Instant::now();
    for bound in [
        "mallory@evil.example/x",
        "romeo@example.com/balcony",
        "juliet@evil.example/balcony",
    ] {
        let (mut c, id) = client_awaiting_bind(now);
        let result = format!(
            "<iq type='result' id='{id}'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>{bound}</jid></bind></iq>"
        );
        c.handle_input(now, result.as_bytes()).unwrap();
        let events: Vec<_> = std::iter::from_fn(|| c.poll_event()).collect();
        assert!(
            matches!(
                &events[..],
                [
                    ClientEvent::Abandoned(xmpp_sansio::client::Abandoned::PeerProtocol(_)),
                    ClientEvent::Closed(_)
                ]
            ),
            "{bound}: {events:?}"
        );
        assert_eq!(c.poll_transmit().as_deref(), Some(&b"</stream:stream>"[..]));
    }
    // The account's own bare JID with a resource the server chose is the session's.
    let (mut c, id) = client_awaiting_bind(now);
    let result = format!(
        "<iq type='result' id='{id}'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>juliet@example.com/x</jid></bind></iq>"
    );
    c.handle_input(now, result.as_bytes()).unwrap();
    assert!(
        matches!(c.poll_event(), Some(ClientEvent::Online(j)) if j.as_str() == "juliet@example.com/x")
    );
}

/// Runs a client against a server core until neither has anything to say; the server
/// answers juliet's SCRAM-SHA-256 login with `credential` and binds her to
/// `juliet@example.com/r`. Gives the client's events.
fn converse(client: &mut Client, credential: UserCredential, now: Instant) -> Vec<ClientEvent> {
    let mut config = ServerConfig::new("example.com", b"secret".to_vec());
    config.tls = TlsPolicy::Disabled;
    config.mechanisms = vec![xmpp_sansio::sasl::Mechanism::ScramSha256];
    let mut server = Server::new(config, 0, now);
    let mut credential = Some(credential);
    let mut events = Vec::new();
    loop {
        let mut quiet = true;
        while let Some(bytes) = client.poll_transmit() {
            quiet = false;
            server.handle_input(now, &bytes).unwrap();
        }
        while let Some(bytes) = server.poll_transmit() {
            quiet = false;
            client.handle_input(now, &bytes).unwrap();
        }
        while let Some(ev) = server.poll_event() {
            quiet = false;
            match ev {
                ServerEvent::AuthRequest { .. } => {
                    let credential = credential.take().expect("one login");
                    server.credentials(now, credential).unwrap();
                }
                ServerEvent::BindRequest { .. } => {
                    server
                        .bind(now, "juliet@example.com/r".parse().unwrap())
                        .unwrap();
                }
                _ => {}
            }
        }
        events.extend(std::iter::from_fn(|| client.poll_event()));
        if quiet {
            return events;
        }
    }
}

/// A client for juliet over SCRAM-SHA-256 without TLS, with a password or cached keys.
fn scram_client(
    now: Instant,
    password: Option<&str>,
    keys: Option<xmpp_sansio::sasl::ScramKeys>,
) -> Client {
    let mut config = ClientConfig::new("juliet@example.com".parse().unwrap(), "");
    config.password = password.map(str::to_owned);
    config.scram_keys = keys;
    config.tls = TlsPolicy::Disabled;
    config.mechanisms = vec![xmpp_sansio::sasl::Mechanism::ScramSha256];
    let mut client = Client::new(config, 1, now);
    client.open(now).unwrap();
    client
}

/// juliet's server entry: password `pw`, salted with `salt`, `iterations` iterations.
fn stored(salt: &[u8], iterations: u32) -> UserCredential {
    UserCredential::Scram(
        xmpp_sansio::sasl::StoredScram::from_password(
            "pw",
            salt.to_vec(),
            std::num::NonZeroU32::new(iterations).unwrap(),
            xmpp_sansio::sasl::ScramHash::Sha256,
        )
        .unwrap(),
    )
}

fn went_online(events: &[ClientEvent]) -> bool {
    events
        .iter()
        .any(|e| matches!(e, ClientEvent::Online(j) if j.as_str() == "juliet@example.com/r"))
}

#[test]
fn cached_scram_keys_log_in_without_the_password() {
    let now = Instant::now();
    let mut first = scram_client(now, Some("pw"), None);
    let events = converse(&mut first, stored(b"salt-1", 4096), now);
    assert!(went_online(&events), "{events:?}");
    let keys = first
        .scram_keys()
        .expect("a SCRAM login hands its keys back")
        .clone();
    assert_eq!(
        (keys.salt.as_slice(), keys.iterations.get()),
        (&b"salt-1"[..], 4096)
    );
    assert!(format!("{keys:?}").contains("<redacted>"));

    // No password at all: the cached keys are the only way in, so the login cannot have
    // run PBKDF2 over a password.
    let mut second = scram_client(now, None, Some(keys.clone()));
    let events = converse(&mut second, stored(b"salt-1", 4096), now);
    assert!(went_online(&events), "{events:?}");
    assert_eq!(second.scram_keys(), Some(&keys));

    // The entry changed (a new salt: the password was set again): the keys do not fit, and
    // without a password the client cannot go on.
    let mut third = scram_client(now, None, Some(keys));
    let events = converse(&mut third, stored(b"salt-2", 4096), now);
    assert!(!went_online(&events), "{events:?}");
    assert!(third.is_closed());
}

#[test]
fn the_client_refuses_an_iteration_count_above_its_bound() {
    let now = Instant::now();
    // An entry with made-up keys is enough: the client refuses the server-first-message
    // before it makes a proof, so the keys never matter.
    let huge = |iterations| {
        UserCredential::Scram(xmpp_sansio::sasl::StoredScram {
            hash: xmpp_sansio::sasl::ScramHash::Sha256,
            salt: b"salt".to_vec(),
            iterations: std::num::NonZeroU32::new(iterations).unwrap(),
            stored_key: vec![0; 32],
            server_key: vec![0; 32],
        })
    };
    // The default bound is 100,000: one more is refused before any PBKDF2 runs.
    let mut c = scram_client(now, Some("pw"), None);
    let events = converse(&mut c, huge(100_001), now);
    assert!(
        matches!(
            &events[..],
            [
                ClientEvent::StreamOpened,
                ClientEvent::Abandoned(xmpp_sansio::client::Abandoned::ScramIterations {
                    count: 100_001,
                    max: 100_000
                }),
                ClientEvent::Closed(_)
            ]
        ),
        "{events:?}"
    );
    // The bound is the embedder's to set.
    let mut config = ClientConfig::new("juliet@example.com".parse().unwrap(), "pw");
    config.tls = TlsPolicy::Disabled;
    config.scram_max_iterations = 4096;
    let mut c = Client::new(config, 1, now);
    c.open(now).unwrap();
    let events = converse(&mut c, huge(4097), now);
    assert!(
        events.iter().any(|e| matches!(
            e,
            ClientEvent::Abandoned(xmpp_sansio::client::Abandoned::ScramIterations {
                count: 4097,
                max: 4096
            })
        )),
        "{events:?}"
    );
}

#[test]
fn configs_keep_secrets_out_of_debug() {
    let mut client = ClientConfig::new("juliet@example.com".parse().unwrap(), "hunter2-pw");
    client.scram_keys = Some(
        xmpp_sansio::sasl::ScramKeys::from_password(
            "hunter2-pw",
            b"salt".to_vec(),
            std::num::NonZeroU32::new(1).unwrap(),
            xmpp_sansio::sasl::ScramHash::Sha256,
        )
        .unwrap(),
    );
    let server = ServerConfig::new("example.com", b"hunter2-secret".to_vec());
    let component =
        xmpp_sansio::component::ComponentConfig::new("c.example.com".parse().unwrap(), "hunter2-c");
    let component_server = xmpp_sansio::component::ComponentServerConfig::new(
        "c.example.com".parse().unwrap(),
        "hunter2-cs",
    );
    for shown in [
        format!("{client:?}"),
        format!("{server:?}"),
        format!("{component:?}"),
        format!("{component_server:?}"),
    ] {
        assert!(!shown.contains("hunter2"), "{shown}");
        // The secret's bytes as a Debug list, too.
        assert!(!shown.contains("104, 117, 110"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }
}

const SM: &str = "urn:xmpp:sm:3";

/// The server's answer to the bind request `id` of [`client_awaiting_bind_with`].
fn bind_result(id: &str) -> String {
    format!(
        "<iq type='result' id='{id}'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>\
         <jid>juliet@example.com/r</jid></bind></iq>"
    )
}

/// An element written in a `jabber:client` stream.
fn element(xml: &str) -> xmpp_sansio::xml::Element {
    xmpp_sansio::xml::parse_element("jabber:client", xml.as_bytes()).unwrap()
}

fn written(s: &mut Server) -> String {
    let mut out = Vec::new();
    while let Some(b) = s.poll_transmit() {
        out.extend_from_slice(&b);
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn an_element_of_an_advertised_extra_feature_reaches_the_embedder() {
    let now = Instant::now();
    let sm = |c: &mut ServerConfig| c.extra_features = vec![element("<sm xmlns='urn:xmpp:sm:3'/>")];
    let mut s = online_server_with(now, sm);
    s.handle_input(
        now,
        b"<enable xmlns='urn:xmpp:sm:3' resume='true'/><r xmlns='urn:xmpp:sm:3'/>",
    )
    .unwrap();
    let events = drain(&mut s);
    assert!(
        matches!(&events[..], [ServerEvent::Nonza(a), ServerEvent::Nonza(b)]
            if a.is("enable", SM) && b.is("r", SM)),
        "{events:?}"
    );
    s.send(now, &element("<enabled xmlns='urn:xmpp:sm:3'/>"))
        .unwrap();
    assert_eq!(written(&mut s), "<enabled xmlns='urn:xmpp:sm:3'/>");
    // A namespace nobody handles still ends the stream.
    s.handle_input(now, b"<x xmlns='urn:example:other'/>")
        .unwrap();
    assert!(written(&mut s).contains("<unsupported-stanza-type"));
    assert!(matches!(
        drain(&mut s).last(),
        Some(ServerEvent::Closed(CloseReason::LocalStreamError(_)))
    ));
}

#[test]
fn the_extra_features_are_offered_after_authentication() {
    let now = Instant::now();
    let mut config = ServerConfig::new("example.com", b"secret".to_vec());
    config.tls = TlsPolicy::Disabled;
    config.allow_plain_without_tls = true;
    config.mechanisms = vec![xmpp_sansio::sasl::Mechanism::Plain];
    config.extra_features = vec![element("<sm xmlns='urn:xmpp:sm:3'/>")];
    let mut s = Server::new(config, 0, now);
    s.handle_input(now, C2S_HEADER).unwrap();
    assert!(
        !written(&mut s).contains("urn:xmpp:sm:3"),
        "not before authentication"
    );
    s.handle_input(
        now,
        b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGp1bGlldABwdw==</auth>",
    )
    .unwrap();
    s.credentials(now, UserCredential::Password("pw".into()))
        .unwrap();
    s.handle_input(now, C2S_HEADER).unwrap();
    let features = written(&mut s);
    assert!(
        features.contains("<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>")
            && features.contains("<sm xmlns='urn:xmpp:sm:3'/>"),
        "{features}"
    );
}

#[test]
fn by_default_an_unknown_first_level_element_is_unsupported_stanza_type() {
    let now = Instant::now();
    let mut s = online_server(now);
    s.handle_input(now, b"<enable xmlns='urn:xmpp:sm:3'/>")
        .unwrap();
    assert!(written(&mut s).contains("<unsupported-stanza-type"));
    assert!(s.is_closed());
}

#[test]
fn a_client_shows_the_features_it_does_not_negotiate_and_hands_over_what_it_opted_into() {
    let now = Instant::now();
    let (mut c, id) = client_awaiting_bind_with(
        now,
        |c| c.nonza_namespaces = vec![SM.into()],
        "<sm xmlns='urn:xmpp:sm:3'/><ver xmlns='urn:xmpp:features:rosterver'/>",
    );
    let others: Vec<String> = c.other_features().map(|f| f.name().to_owned()).collect();
    assert_eq!(others, ["sm", "ver"]);
    c.handle_input(now, bind_result(&id).as_bytes()).unwrap();
    c.handle_input(now, b"<enabled xmlns='urn:xmpp:sm:3'/>")
        .unwrap();
    let events: Vec<_> = std::iter::from_fn(|| c.poll_event()).collect();
    assert!(
        matches!(&events[..], [ClientEvent::Online(_), ClientEvent::Nonza(e)] if e.is("enabled", SM)),
        "{events:?}"
    );
    // Not opted into: the stream ends.
    let (mut c, id) = client_awaiting_bind_with(now, |_| (), "<sm xmlns='urn:xmpp:sm:3'/>");
    c.handle_input(now, bind_result(&id).as_bytes()).unwrap();
    c.handle_input(now, b"<enabled xmlns='urn:xmpp:sm:3'/>")
        .unwrap();
    assert!(c.is_closed());
}

/// A client online as juliet@example.com/r, its output drained.
fn online_client(now: Instant) -> Client {
    let (mut c, id) = client_awaiting_bind(now);
    let result = format!(
        "<iq type='result' id='{id}'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>juliet@example.com/r</jid></bind></iq>"
    );
    c.handle_input(now, result.as_bytes()).unwrap();
    assert!(matches!(c.poll_event(), Some(ClientEvent::Online(_))));
    while c.poll_transmit().is_some() {}
    c
}

/// RFC 6120 section 8.2.3: an embedder's iq that breaks a rule never reaches the wire, and
/// says which rule.
#[test]
fn an_iq_that_breaks_a_rule_is_refused_before_any_byte_is_written() {
    use xmpp_sansio::stanza::IqRule;
    let now = Instant::now();
    let mut c = online_client(now);
    let mut s = online_server(now);
    let cases = [
        (
            "<iq type='foo' id='a'><q xmlns='urn:x'/></iq>",
            IqRule::TypeUnknown,
        ),
        ("<iq id='a'><q xmlns='urn:x'/></iq>", IqRule::TypeMissing),
        ("<iq type='get' id='a'/>", IqRule::RequestChild),
        (
            "<iq type='set' id='a'><q xmlns='urn:x'/><r xmlns='urn:x'/></iq>",
            IqRule::RequestChild,
        ),
        (
            "<iq type='result' id='a'><q xmlns='urn:x'/><r xmlns='urn:x'/></iq>",
            IqRule::ResultChild,
        ),
        (
            "<iq type='error' id='a'><q xmlns='urn:x'/></iq>",
            IqRule::ErrorChild,
        ),
    ];
    for (xml, rule) in cases {
        let el = xmpp_sansio::xml::parse_element("jabber:client", xml.as_bytes()).unwrap();
        assert_eq!(c.send(now, &el), Err(ClientError::InvalidIq(rule)), "{xml}");
        assert_eq!(s.send(now, &el), Err(ServerError::InvalidIq(rule)), "{xml}");
    }
    // The client gives an iq without id one of its own; the server, which only forwards,
    // does not, and refuses it.
    let el =
        xmpp_sansio::xml::parse_element("jabber:client", b"<iq type='get'><q xmlns='urn:x'/></iq>")
            .unwrap();
    assert_eq!(s.send(now, &el), Err(ServerError::InvalidIq(IqRule::Id)));
    assert!(c.poll_transmit().is_none() && s.poll_transmit().is_none());
    c.send(now, &el).unwrap();
    let out = c.poll_transmit().unwrap();
    assert!(std::str::from_utf8(&out).unwrap().contains(" id='"));
    // Message and presence have no such rules.
    let el = xmpp_sansio::xml::parse_element("jabber:client", b"<message/>").unwrap();
    c.send(now, &el).unwrap();
    assert!(
        ServerError::InvalidIq(IqRule::Id)
            .to_string()
            .contains("8.2.3")
    );
}

/// RFC 6120 section 8.1.5: the client hands a stanza over as received, and says its language:
/// its own, else the server stream's.
#[test]
fn a_client_reads_a_stanzas_language_with_the_streams_as_default() {
    let now = Instant::now();
    let mut config = ClientConfig::new("juliet@example.com".parse().unwrap(), "pw");
    config.tls = TlsPolicy::Disabled;
    config.allow_plain_without_tls = true;
    config.mechanisms = vec![xmpp_sansio::sasl::Mechanism::Plain];
    let mut c = Client::new(config, 1, now);
    c.open(now).unwrap();
    assert_eq!(c.stream_lang(), None, "no header yet");
    let header = b"<stream:stream xmlns='jabber:client' xml:lang='de' \
        xmlns:stream='http://etherx.jabber.org/streams' from='example.com' id='s' version='1.0'>";
    c.handle_input(now, header).unwrap();
    c.handle_input(now, b"<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features><success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>").unwrap();
    c.handle_input(now, header).unwrap();
    c.handle_input(
        now,
        b"<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>",
    )
    .unwrap();
    let out = c.poll_transmit().unwrap();
    let out = std::str::from_utf8(&out).unwrap();
    let id = out
        .rsplit("id='")
        .next()
        .unwrap()
        .split('\'')
        .next()
        .unwrap();
    let result = format!(
        "<iq type='result' id='{id}'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>juliet@example.com/r</jid></bind></iq>\
         <message id='a'><body>Hallo</body></message><message id='b' xml:lang='cs'><body>Ahoj</body></message>"
    );
    c.handle_input(now, result.as_bytes()).unwrap();
    let stanzas: Vec<_> = std::iter::from_fn(|| c.poll_event())
        .filter_map(|e| match e {
            ClientEvent::Stanza(s) => Some(s),
            _ => None,
        })
        .collect();
    assert_eq!(c.stream_lang().as_deref(), Some("de"));
    assert_eq!(stanzas[0].lang(), None, "handed over as received");
    assert_eq!(c.stanza_lang(&stanzas[0]).as_deref(), Some("de"));
    assert_eq!(c.stanza_lang(&stanzas[1]).as_deref(), Some("cs"));
}
