//! Server-to-server pairs: our `S2sOut` against our `S2sIn`, wired to each other in memory
//! on a virtual clock, with SASL EXTERNAL and with dialback, including the three-party
//! verification of XEP-0220 (originating, receiving and authoritative servers, each its
//! own session, the authoritative one a separate server of the originating domain that
//! shares its secret).

use std::time::{Duration, Instant};

use xmpp_sansio::dialback::DialbackSecret;
use xmpp_sansio::error::StanzaErrorCondition;
use xmpp_sansio::s2s::{
    CloseReason, DialbackOutcome, DomainPair, S2sConfig, S2sEvent, S2sIn, S2sOut, TlsPolicy,
    VerifyRequest,
};
use xmpp_sansio::xml::parse_element;

const CAPULET: &str = "capulet.example";
const MONTAGUE: &str = "montague.example";

fn config(domain: &str, secret: &str, tls: TlsPolicy) -> S2sConfig {
    let mut c = S2sConfig::new(domain, DialbackSecret::new(secret));
    c.tls = tls;
    c
}

/// One stream: the initiating session and the receiving one, with what each reported.
struct Link {
    out: S2sOut,
    inn: S2sIn,
    /// The initiating side presents a certificate; the receiving side finds it valid.
    cert: bool,
    out_events: Vec<S2sEvent>,
    in_events: Vec<S2sEvent>,
    /// Bytes each side wrote after its closing tag (must stay empty).
    out_wrote: Vec<u8>,
    in_wrote: Vec<u8>,
}

impl Link {
    fn open(out: S2sOut, inn: S2sIn, cert: bool, now: Instant) -> Link {
        let mut link = Link {
            out,
            inn,
            cert,
            out_events: Vec::new(),
            in_events: Vec::new(),
            out_wrote: Vec::new(),
            in_wrote: Vec::new(),
        };
        link.out.open(now).unwrap();
        link.pump(now);
        link
    }

    /// Moves bytes both ways and sets up TLS when asked, until nothing moves.
    fn pump(&mut self, now: Instant) {
        loop {
            let mut moved = false;
            while let Some(b) = self.out.poll_transmit() {
                self.out_wrote.extend_from_slice(&b);
                let _ = self.inn.handle_input(now, &b);
                moved = true;
            }
            while let Some(b) = self.inn.poll_transmit() {
                self.in_wrote.extend_from_slice(&b);
                let _ = self.out.handle_input(now, &b);
                moved = true;
            }
            while let Some(e) = self.out.poll_event() {
                if matches!(e, S2sEvent::TlsRequested) {
                    self.out.tls_established(now, self.cert).unwrap();
                }
                self.out_events.push(e);
                moved = true;
            }
            while let Some(e) = self.inn.poll_event() {
                if matches!(e, S2sEvent::TlsRequested) {
                    self.inn.tls_established(now, self.cert).unwrap();
                }
                if matches!(e, S2sEvent::ExternalRequest { .. }) {
                    // The embedder checked the certificate: it names the originating domain.
                    self.inn.external(now, CAPULET).unwrap();
                }
                self.in_events.push(e);
                moved = true;
            }
            if !moved {
                break;
            }
        }
    }

    /// The verification requests the receiving side reported and not yet taken.
    fn take_verify_requests(&mut self) -> Vec<VerifyRequest> {
        let mut taken = Vec::new();
        self.in_events.retain(|e| match e {
            S2sEvent::DialbackVerifyRequest(r) => {
                taken.push(r.clone());
                false
            }
            _ => true,
        });
        taken
    }

    fn nothing_after_closing_tag(&self) {
        for wrote in [&self.out_wrote, &self.in_wrote] {
            let text = String::from_utf8_lossy(wrote);
            if let Some(i) = text.find("</stream:stream>") {
                assert_eq!(
                    &text[i..],
                    "</stream:stream>",
                    "written after the closing tag"
                );
            }
        }
    }
}

fn online(events: &[S2sEvent], pair: &DomainPair) -> bool {
    events
        .iter()
        .any(|e| matches!(e, S2sEvent::Online(p) if p == pair))
}

fn closed(events: &[S2sEvent]) -> Option<&CloseReason> {
    events.iter().find_map(|e| match e {
        S2sEvent::Closed(r) => Some(r),
        _ => None,
    })
}

fn message(from: &str, to: &str) -> xmpp_sansio::xml::Element {
    parse_element(
        "jabber:server",
        format!("<message from='{from}' to='{to}'><body>hi</body></message>").as_bytes(),
    )
    .unwrap()
}

#[test]
fn external_after_starttls_authorizes_the_pair_and_stanzas_flow() {
    let now = Instant::now();
    let pair = DomainPair::new(CAPULET, MONTAGUE);
    let out = S2sOut::new(config(CAPULET, "c", TlsPolicy::Required), pair.clone(), now).unwrap();
    let inn = S2sIn::new(config(MONTAGUE, "m", TlsPolicy::Required), 7, now);
    let mut link = Link::open(out, inn, true, now);
    assert!(online(&link.out_events, &pair), "{:?}", link.out_events);
    assert!(online(&link.in_events, &pair), "{:?}", link.in_events);
    assert!(
        link.out_events
            .iter()
            .any(|e| matches!(e, S2sEvent::Authenticated(d) if d == CAPULET))
    );
    // No dialback ran: the certificate was enough.
    assert!(link.take_verify_requests().is_empty());

    link.out
        .send(
            now,
            &message("juliet@capulet.example/balcony", "romeo@montague.example"),
        )
        .unwrap();
    link.pump(now);
    assert!(
        link.in_events
            .iter()
            .any(|e| matches!(e, S2sEvent::Stanza(s) if s.element().attr("to").as_deref() == Some("romeo@montague.example")))
    );
    // A stanza of a pair not authorized is refused before it is written.
    assert!(
        link.out
            .send(now, &message("juliet@capulet.example", "x@verona.example"))
            .is_err()
    );

    link.out.close(now);
    link.pump(now);
    assert_eq!(closed(&link.out_events), Some(&CloseReason::LocalClose));
    assert_eq!(closed(&link.in_events), Some(&CloseReason::PeerClose));
    link.nothing_after_closing_tag();
}

/// XEP-0220's three parties: capulet's originating server opens a stream to montague;
/// montague asks capulet's authoritative server (another server of capulet.example, with
/// the same secret) over a stream for verification only, and authorizes the pair on the
/// answer.
fn three_party(origin_secret: &str, tls: TlsPolicy) -> (Link, Link) {
    let now = Instant::now();
    let pair = DomainPair::new(CAPULET, MONTAGUE);
    let capulet = config(CAPULET, "s3cr3tf0rd14lb4ck", tls);
    let montague = config(MONTAGUE, "d14lb4ck43v3r", tls);
    let origin = S2sOut::new(config(CAPULET, origin_secret, tls), pair.clone(), now).unwrap();
    let receiving = S2sIn::new(montague.clone(), 1, now);
    let mut main = Link::open(origin, receiving, false, now);
    let requests = main.take_verify_requests();
    assert_eq!(requests.len(), 1, "{:?}", main.in_events);
    let request = requests[0].clone();
    assert_eq!(request.pair, pair);

    // Montague's embedder verifies the key with the authoritative server.
    let verifier =
        S2sOut::for_verification(montague, DomainPair::new(MONTAGUE, CAPULET), now).unwrap();
    let authoritative = S2sIn::new(capulet, 2, now);
    let mut check = Link::open(verifier, authoritative, false, now);
    check.out.verify(now, request.clone()).unwrap();
    check.pump(now);
    let outcome = check
        .out_events
        .iter()
        .find_map(|e| match e {
            S2sEvent::VerifyResult {
                pair,
                stream_id,
                outcome,
            } => {
                assert_eq!((pair, stream_id), (&request.pair, &request.stream_id));
                Some(outcome.clone())
            }
            _ => None,
        })
        .expect("the authoritative server answers");
    // A verification stream asks for nothing itself.
    assert!(check.take_verify_requests().is_empty());
    check.out.close(now);
    check.pump(now);
    assert_eq!(closed(&check.out_events), Some(&CloseReason::LocalClose));

    main.inn
        .dialback_answer(now, &request.pair, outcome)
        .unwrap();
    main.pump(now);
    (main, check)
}

#[test]
fn dialback_three_party_with_the_right_key_authorizes_the_pair() {
    for tls in [TlsPolicy::Required, TlsPolicy::Disabled] {
        let (mut main, check) = three_party("s3cr3tf0rd14lb4ck", tls);
        let pair = DomainPair::new(CAPULET, MONTAGUE);
        assert!(
            online(&main.out_events, &pair),
            "{tls:?}: {:?}",
            main.out_events
        );
        assert!(online(&main.in_events, &pair));
        assert_eq!(main.out.authorized(), std::slice::from_ref(&pair));
        assert_eq!(main.inn.authorized(), &[pair]);
        let now = Instant::now();
        main.out
            .send(
                now,
                &message("juliet@capulet.example", "romeo@montague.example"),
            )
            .unwrap();
        main.pump(now);
        assert!(
            main.in_events
                .iter()
                .any(|e| matches!(e, S2sEvent::Stanza(_)))
        );
        main.nothing_after_closing_tag();
        check.nothing_after_closing_tag();
    }
}

#[test]
fn dialback_three_party_with_a_forged_key_is_invalid_and_closes() {
    // The originating server does not know capulet's secret: a spoofer.
    let (main, _) = three_party("not capulet's secret", TlsPolicy::Required);
    let pair = DomainPair::new(CAPULET, MONTAGUE);
    assert!(!online(&main.out_events, &pair));
    assert!(main.out_events.iter().any(|e| matches!(
        e,
        S2sEvent::DialbackRefused {
            outcome: DialbackOutcome::Invalid,
            ..
        }
    )));
    // The receiving server closed the stream (XEP-0220 section 2.2.1), the spoofer answered.
    assert_eq!(closed(&main.in_events), Some(&CloseReason::LocalClose));
    assert_eq!(closed(&main.out_events), Some(&CloseReason::PeerClose));
    main.nothing_after_closing_tag();
}

#[test]
fn external_refused_falls_back_to_dialback_and_a_second_pair_is_multiplexed() {
    let now = Instant::now();
    let pair = DomainPair::new(CAPULET, MONTAGUE);
    let rooms = DomainPair::new("rooms.capulet.example", MONTAGUE);
    let mut capulet = config(CAPULET, "s3cr3tf0rd14lb4ck", TlsPolicy::Required);
    capulet.domains.push(rooms.from.clone());
    let out = S2sOut::new(capulet, pair.clone(), now).unwrap();
    let inn = S2sIn::new(config(MONTAGUE, "m", TlsPolicy::Required), 3, now);
    let mut link = Link {
        out,
        inn,
        cert: true,
        out_events: Vec::new(),
        in_events: Vec::new(),
        out_wrote: Vec::new(),
        in_wrote: Vec::new(),
    };
    link.out.open(now).unwrap();
    // Pump by hand to refuse the certificate.
    for _ in 0..20 {
        while let Some(b) = link.out.poll_transmit() {
            let _ = link.inn.handle_input(now, &b);
        }
        while let Some(b) = link.inn.poll_transmit() {
            let _ = link.out.handle_input(now, &b);
        }
        while let Some(e) = link.out.poll_event() {
            if matches!(e, S2sEvent::TlsRequested) {
                link.out.tls_established(now, true).unwrap();
            }
            link.out_events.push(e);
        }
        while let Some(e) = link.inn.poll_event() {
            match &e {
                S2sEvent::TlsRequested => link.inn.tls_established(now, true).unwrap(),
                S2sEvent::ExternalRequest { .. } => link.inn.refuse_external(now).unwrap(),
                _ => {}
            }
            link.in_events.push(e);
        }
    }
    // The receiving server's embedder checks the key its own way (here: it knows the
    // secret, as an authoritative server of capulet would).
    let capulet_secret = DialbackSecret::new("s3cr3tf0rd14lb4ck");
    let check = |r: &VerifyRequest| {
        if capulet_secret.verify(&r.pair.to, &r.pair.from, &r.stream_id, &r.key) {
            DialbackOutcome::Valid
        } else {
            DialbackOutcome::Invalid
        }
    };
    let requests = link.take_verify_requests();
    assert_eq!(requests.len(), 1, "{:?}", link.in_events);
    link.inn
        .dialback_answer(now, &requests[0].pair, check(&requests[0]))
        .unwrap();
    link.pump(now);
    assert!(online(&link.out_events, &pair), "{:?}", link.out_events);

    link.out.authorize(now, rooms.clone()).unwrap();
    link.pump(now);
    let requests = link.take_verify_requests();
    assert_eq!(
        requests.iter().map(|r| &r.pair).collect::<Vec<_>>(),
        [&rooms]
    );
    // Until it is answered, the new sender is not authorized.
    assert!(
        link.out
            .send(
                now,
                &message("nurse@rooms.capulet.example", "romeo@montague.example")
            )
            .is_err()
    );
    link.inn
        .dialback_answer(now, &rooms, check(&requests[0]))
        .unwrap();
    link.pump(now);
    assert!(online(&link.out_events, &rooms));
    assert_eq!(link.inn.authorized(), &[pair, rooms]);
    link.out
        .send(
            now,
            &message("nurse@rooms.capulet.example", "romeo@montague.example"),
        )
        .unwrap();
    link.pump(now);
    assert!(
        link.in_events
            .iter()
            .any(|e| matches!(e, S2sEvent::Stanza(_)))
    );
}

#[test]
fn a_dialback_error_leaves_the_stream_to_other_pairs() {
    let now = Instant::now();
    let pair = DomainPair::new(CAPULET, MONTAGUE);
    let out = S2sOut::new(config(CAPULET, "c", TlsPolicy::Disabled), pair.clone(), now).unwrap();
    let inn = S2sIn::new(config(MONTAGUE, "m", TlsPolicy::Disabled), 4, now);
    let mut link = Link::open(out, inn, false, now);
    let requests = link.take_verify_requests();
    let condition = StanzaErrorCondition::RemoteServerNotFound;
    link.inn
        .dialback_answer(
            now,
            &requests[0].pair,
            DialbackOutcome::Error(condition.clone()),
        )
        .unwrap();
    link.pump(now);
    assert!(link.out_events.iter().any(|e| matches!(
        e,
        S2sEvent::DialbackRefused { outcome: DialbackOutcome::Error(c), .. } if *c == condition
    )));
    assert!(closed(&link.out_events).is_none() && closed(&link.in_events).is_none());
    // Asked again, now answered valid.
    link.out.authorize(now, pair.clone()).unwrap();
    link.pump(now);
    let requests = link.take_verify_requests();
    link.inn
        .dialback_answer(now, &requests[0].pair, DialbackOutcome::Valid)
        .unwrap();
    link.pump(now);
    assert!(online(&link.out_events, &pair));
}

#[test]
fn an_unanswered_key_times_out_on_both_sides_in_turn() {
    let now = Instant::now();
    let pair = DomainPair::new(CAPULET, MONTAGUE);
    let mut c = config(CAPULET, "c", TlsPolicy::Disabled);
    c.response_timeout = Duration::from_secs(10);
    let out = S2sOut::new(c, pair, now).unwrap();
    let inn = S2sIn::new(config(MONTAGUE, "m", TlsPolicy::Disabled), 5, now);
    let mut link = Link::open(out, inn, false, now);
    assert_eq!(link.take_verify_requests().len(), 1);
    // The receiving server's embedder never answers: no deadline runs for it there.
    let deadline = link
        .out
        .poll_timeout()
        .expect("the originating server waits");
    assert_eq!(deadline, now + Duration::from_secs(10));
    link.out.handle_timeout(deadline);
    link.pump(deadline);
    assert_eq!(closed(&link.out_events), Some(&CloseReason::TimedOut));
    assert!(matches!(
        closed(&link.in_events),
        Some(CloseReason::PeerStreamError(_))
    ));
    link.nothing_after_closing_tag();
}

#[test]
fn both_sides_drive_through_the_connection_trait() {
    use xmpp_sansio::connection::{Connection, RoleEvent};

    /// One generic driver for both sides: bytes across, events collected.
    fn drain<C: Connection>(c: &mut C, wire: &mut Vec<u8>, events: &mut Vec<C::Event>) {
        while let Some(b) = c.poll_transmit() {
            wire.extend_from_slice(&b);
        }
        while let Some(e) = c.poll_event() {
            events.push(e);
        }
    }

    let now = Instant::now();
    let pair = DomainPair::new(CAPULET, MONTAGUE);
    let mut out =
        S2sOut::new(config(CAPULET, "c", TlsPolicy::Disabled), pair.clone(), now).unwrap();
    let mut inn = S2sIn::new(config(MONTAGUE, "m", TlsPolicy::Disabled), 9, now);
    out.open(now).unwrap();
    let (mut out_events, mut in_events) = (Vec::new(), Vec::new());
    for _ in 0..4 {
        let mut wire = Vec::new();
        drain(&mut out, &mut wire, &mut out_events);
        Connection::handle_input(&mut inn, now, &wire).unwrap();
        let mut wire = Vec::new();
        drain(&mut inn, &mut wire, &mut in_events);
        Connection::handle_input(&mut out, now, &wire).unwrap();
    }
    let request = in_events
        .iter()
        .find_map(|e| match e {
            S2sEvent::DialbackVerifyRequest(r) => Some(r.clone()),
            _ => None,
        })
        .expect("a key to verify");
    inn.dialback_answer(now, &request.pair, DialbackOutcome::Valid)
        .unwrap();
    let mut wire = Vec::new();
    drain(&mut inn, &mut wire, &mut in_events);
    Connection::handle_input(&mut out, now, &wire).unwrap();
    drain(&mut out, &mut Vec::new(), &mut out_events);
    assert!(online(&out_events, &pair));

    // An incoming stream sends nothing of ours: misuse, not an ended stream.
    let m = message("romeo@montague.example", "juliet@capulet.example");
    let refused = Connection::send(&mut inn, now, &m).unwrap_err();
    assert!(refused.is_misuse() && !refused.is_stream_ended());
    // After the close, a send is too late, which a driver ignores.
    Connection::close(&mut out, now);
    let late = Connection::send(&mut out, now, &message(CAPULET, MONTAGUE)).unwrap_err();
    assert!(late.is_stream_ended());
    let mut wire = Vec::new();
    drain(&mut out, &mut wire, &mut out_events);
    Connection::handle_input(&mut inn, now, &wire).unwrap();
    drain(&mut inn, &mut Vec::new(), &mut in_events);
    assert!(in_events.iter().any(|e| e.close_reason().is_some()));
}
