//! Resource binding (RFC 6120 section 7), both sides.
//!
//! After SASL the receiving entity offers `<bind/>` (section 7.4); the client sends an iq
//! `set` with `<bind/>`, empty to let the server choose the resource (7.6) or with the
//! resource it wants (7.7); the server answers with the full JID (the result) or a stanza
//! error (7.6.2, 7.7.2). The bound JID is always of the authenticated account: the server
//! chooses at most the resource, never the account (7.7.2.2).

use super::{Failure, Next, Wire, iq_error, iq_id};
use crate::error::{StanzaError, StanzaErrorCondition, StreamErrorCondition};
use crate::jid::{BareJid, FullJid, Jid};
use crate::stanza::{JABBER_CLIENT, Stanza};
use crate::stream::{Abandoned, BIND_NS, ProtocolViolation};
use crate::xml::{Element, Writer};

/// The client's side: the bind request with this id is out.
#[derive(Debug)]
pub(crate) struct BindClient {
    id: String,
}

impl BindClient {
    /// Asks to bind `resource` (`None`: the server chooses), when the features offer
    /// binding; gives up when they do not (the stream would be of no use).
    pub fn begin(
        offered: bool,
        resource: Option<&str>,
        id: String,
        out: &mut impl Wire,
    ) -> Result<Self, Failure> {
        if !offered {
            return Err(Abandoned::PeerProtocol(ProtocolViolation::NoBind).into());
        }
        out.element(|w| {
            w.start("iq")
                .attr("type", "set")
                .attr("id", &id)
                .start("bind")
                .xmlns(BIND_NS);
            if let Some(resource) = resource {
                w.start("resource").text(resource).end("resource");
            }
            w.end("bind").end("iq");
        });
        Ok(BindClient { id })
    }

    /// Is `el` an iq, which may be the answer?
    pub fn takes(el: &Element) -> bool {
        el.is("iq", JABBER_CLIENT)
    }

    /// An iq: the answer when it has the request's id (others are ignored: a server sends
    /// nothing else now). `may_bind` says whether a JID is one this client may be bound to.
    pub fn on_iq(&self, el: &Element, may_bind: impl FnOnce(&FullJid) -> bool) -> Next<FullJid> {
        if el.attr("id").as_deref() != Some(self.id.as_str()) {
            return Next::Unchanged;
        }
        let jid = el
            .get_child("bind", BIND_NS)
            .and_then(|b| b.get_child("jid", BIND_NS))
            .and_then(|j| j.text().trim().parse::<Jid>().ok())
            .and_then(|j| FullJid::try_from(j).ok());
        match (el.attr("type").as_deref(), jid) {
            (Some("result"), Some(jid)) if may_bind(&jid) => Next::Done(jid),
            (Some("result"), Some(_)) => {
                Abandoned::PeerProtocol(ProtocolViolation::BoundOtherAccount).into()
            }
            // A result is no refusal: without a full JID it breaks the protocol.
            (Some("result"), None) => Abandoned::PeerProtocol(ProtocolViolation::BindResult).into(),
            _ => Abandoned::BindFailed(iq_error(el).map(Box::new)).into(),
        }
    }
}

/// The embedder is asked to bind a resource of `account` (`ServerEvent::BindRequest`).
#[derive(Debug)]
pub(crate) struct BindRequest {
    pub account: BareJid,
    pub resource: Option<String>,
}

/// The embedder's answer does not fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BindMisuse {
    /// No bind request waits for an answer.
    NotAsked,
    /// The JID is not of the authenticated account.
    WrongAccount,
}

/// The server's side, once the client authenticated as `account`.
#[derive(Debug)]
pub(crate) struct BindServer {
    account: BareJid,
    /// The request the embedder is asked about (boxed: an idle session pays one word).
    asked: Option<Box<Asked>>,
    /// Requests answered with an error so far, and how many end the stream (RFC 6120
    /// section 7.7.2.2).
    failures: u32,
    max_failures: u32,
}

/// A bind request the embedder decides.
#[derive(Debug)]
struct Asked {
    /// The request's id, for the answer.
    id: String,
    /// First-level elements that came meanwhile, in order, processed once the embedder has
    /// answered (RFC 6120 section 10.1); at most [`MAX_HELD`].
    held: Vec<Element>,
}

/// How many first-level elements may wait for the embedder's answer to a bind request.
/// A client that pipelines a few requests behind its bind (a roster get, `<enable/>`,
/// initial presence) needs a handful; more is `policy-violation`. Each is already bounded
/// by the parser's limits, so the wait holds at most this many elements' worth.
pub(crate) const MAX_HELD: usize = 16;

impl BindServer {
    /// The step for `account`; the stream is closed with `policy-violation` at the
    /// `max_failures`th error answer (RFC 6120 section 7.7.2.2).
    pub fn new(account: BareJid, max_failures: u32) -> Self {
        BindServer {
            account,
            asked: None,
            failures: 0,
            max_failures,
        }
    }

    /// Keeps `el`, which came while the embedder decides, for after its answer. `Err` past
    /// [`MAX_HELD`].
    pub fn hold(&mut self, el: Element) -> Result<(), Element> {
        let Some(asked) = self.asked.as_mut() else {
            return Err(el);
        };
        if asked.held.len() >= MAX_HELD {
            return Err(el);
        }
        asked.held.push(el);
        Ok(())
    }

    /// The elements held, in the order they came.
    pub fn take_held(&mut self) -> Vec<Element> {
        self.asked
            .as_mut()
            .map(|a| core::mem::take(&mut a.held))
            .unwrap_or_default()
    }

    /// The account the client authenticated as.
    pub fn account(&self) -> &BareJid {
        &self.account
    }

    /// The offer in the features (RFC 6120 section 7.4).
    pub fn write_feature(w: &mut Writer<'_>) {
        w.start("bind").xmlns(BIND_NS).end("bind");
    }

    /// No request waits for the embedder.
    pub fn is_idle(&self) -> bool {
        self.asked.is_none()
    }

    /// Is `el` for this step: an iq while no request waits for the embedder?
    pub fn takes(&self, el: &Element) -> bool {
        self.asked.is_none() && el.is("iq", JABBER_CLIENT)
    }

    /// An iq before binding: a bind request goes to the embedder (one whose resource
    /// cannot be a resourcepart is answered `bad-request` here, RFC 6120 7.7.2.1); any
    /// other iq may not be processed yet (`not-authorized`).
    pub fn on_iq(&mut self, el: &Element, out: &mut impl Wire) -> Next<FullJid, BindRequest> {
        let bind = match el.attr("type").as_deref() {
            Some("set") => el.get_child("bind", BIND_NS),
            _ => None,
        };
        let Some(bind) = bind else {
            return Failure::Stream(StreamErrorCondition::NotAuthorized).into();
        };
        let resource = bind
            .get_child("resource", BIND_NS)
            .map(|r| r.text().trim().to_owned())
            .filter(|r| !r.is_empty());
        if let Some(r) = &resource {
            if self.account.with_resource(r).is_err() {
                if let Ok(stanza) = Stanza::from_element(el.clone()) {
                    out.error_reply(&stanza, StanzaErrorCondition::BadRequest);
                }
                return self.count_failure().unwrap_or(Next::Unchanged);
            }
        }
        self.asked = Some(Box::new(Asked {
            id: iq_id(el),
            held: Vec::new(),
        }));
        Next::Ask(BindRequest {
            account: self.account.clone(),
            resource,
        })
    }

    /// The embedder binds `jid`: the result goes out, and the step is over.
    pub fn bind(&mut self, jid: FullJid, out: &mut impl Wire) -> Result<Next<FullJid>, BindMisuse> {
        let Some(Asked { id, .. }) = self.asked.as_deref() else {
            return Err(BindMisuse::NotAsked);
        };
        if jid.to_bare() != self.account {
            return Err(BindMisuse::WrongAccount);
        }
        out.element(|w| {
            w.start("iq").attr("type", "result").attr("id", id);
            w.start("bind")
                .xmlns(BIND_NS)
                .start("jid")
                .text(jid.as_str())
                .end("jid")
                .end("bind");
            w.end("iq");
        });
        Ok(Next::Done(jid))
    }

    /// The embedder refuses with `condition`; the client may ask again, up to the limit.
    pub fn reject(
        &mut self,
        condition: StanzaErrorCondition,
        out: &mut impl Wire,
    ) -> Result<Next<FullJid>, BindMisuse> {
        let id = self.asked.take().ok_or(BindMisuse::NotAsked)?.id;
        out.element(|w| {
            w.start("iq").attr("type", "error").attr("id", &id);
            StanzaError::new(condition).write(w);
            w.end("iq");
        });
        Ok(self.count_failure().unwrap_or(Next::AwaitPeer))
    }

    /// One more error answer; `Some` ending the stream when the client has reached the
    /// retry limit: "the server MUST close the stream with a <policy-violation/> stream
    /// error" (RFC 6120 section 7.7.2.2).
    fn count_failure<Q>(&mut self) -> Option<Next<FullJid, Q>> {
        self.failures += 1;
        (self.failures >= self.max_failures)
            .then(|| Failure::Stream(StreamErrorCondition::PolicyViolation).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::parse_element;
    use bytes::BytesMut;

    fn iq(xml: &str) -> Element {
        parse_element(JABBER_CLIENT, xml.as_bytes()).expect("an iq")
    }

    #[test]
    fn the_server_asks_with_the_account_and_binds_only_a_jid_of_it() {
        let account: BareJid = "juliet@example.com".parse().unwrap();
        let mut step = BindServer::new(account.clone(), 6);
        let mut out = BytesMut::new();
        let mallory = "mallory@example.com/r".parse().unwrap();
        assert_eq!(
            step.bind(mallory, &mut out).err(),
            Some(BindMisuse::NotAsked)
        );
        let request = iq(
            "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>\
            <resource>balcony</resource></bind></iq>",
        );
        assert!(step.takes(&request));
        let Next::Ask(asked) = step.on_iq(&request, &mut out) else {
            panic!("the embedder is asked")
        };
        assert_eq!(asked.account, account);
        assert_eq!(asked.resource.as_deref(), Some("balcony"));
        assert!(!step.takes(&request), "one request at a time");
        let mallory = "mallory@example.com/r".parse().unwrap();
        assert_eq!(
            step.bind(mallory, &mut out).err(),
            Some(BindMisuse::WrongAccount)
        );
        assert!(out.is_empty());
        let jid: FullJid = "juliet@example.com/balcony".parse().unwrap();
        assert!(matches!(step.bind(jid.clone(), &mut out), Ok(Next::Done(j)) if j == jid));
        let out = core::str::from_utf8(&out).unwrap();
        assert!(
            out.contains("id='b1'") && out.contains("<jid>juliet@example.com/balcony</jid>"),
            "{out}"
        );
    }

    #[test]
    fn what_comes_while_the_embedder_decides_waits_in_order_and_is_bounded() {
        let mut step = BindServer::new("juliet@example.com".parse().unwrap(), 6);
        let mut out = BytesMut::new();
        let roster = iq("<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>");
        // Nothing is asked: nothing to wait for.
        assert!(step.hold(roster.clone()).is_err());
        let request =
            iq("<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>");
        assert!(matches!(step.on_iq(&request, &mut out), Next::Ask(_)));
        for i in 0..MAX_HELD {
            let el = iq(&format!("<iq type='get' id='h{i}'><q xmlns='urn:x'/></iq>"));
            assert!(step.hold(el).is_ok(), "{i}");
        }
        assert!(step.hold(roster).is_err(), "past the bound");
        let held = step.take_held();
        let ids: Vec<String> = held.iter().map(iq_id).collect();
        let expected: Vec<String> = (0..MAX_HELD).map(|i| format!("h{i}")).collect();
        assert_eq!(ids, expected);
        assert!(step.take_held().is_empty());
    }

    #[test]
    fn the_server_refuses_other_iqs_before_binding_and_lets_a_rejected_client_ask_again() {
        let mut step = BindServer::new("juliet@example.com".parse().unwrap(), 6);
        let mut out = BytesMut::new();
        let get = iq("<iq type='get' id='r'><query xmlns='jabber:iq:roster'/></iq>");
        assert!(matches!(
            step.on_iq(&get, &mut out),
            Next::Fail(Failure::Stream(StreamErrorCondition::NotAuthorized))
        ));
        let request =
            iq("<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>");
        assert!(matches!(step.on_iq(&request, &mut out), Next::Ask(_)));
        assert!(matches!(
            step.reject(StanzaErrorCondition::Conflict, &mut out),
            Ok(Next::AwaitPeer)
        ));
        assert!(core::str::from_utf8(&out).unwrap().contains("<conflict"));
        assert_eq!(
            step.reject(StanzaErrorCondition::Conflict, &mut out).err(),
            Some(BindMisuse::NotAsked)
        );
        assert!(step.takes(&request));
    }

    #[test]
    fn the_client_takes_only_the_answer_and_no_jid_of_another_account() {
        let mut out = BytesMut::new();
        assert!(BindClient::begin(false, None, "b".into(), &mut out).is_err());
        let step = BindClient::begin(true, Some("r"), "b".into(), &mut out).unwrap();
        let answer = |id: &str, jid: &str| {
            iq(&format!(
                "<iq type='result' id='{id}'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>\
                <jid>{jid}</jid></bind></iq>"
            ))
        };
        assert!(matches!(
            step.on_iq(&answer("x", "a@b/c"), |_| true),
            Next::Unchanged
        ));
        assert!(matches!(
            step.on_iq(&answer("b", "a@b/c"), |_| true),
            Next::Done(_)
        ));
        assert!(matches!(
            step.on_iq(&answer("b", "a@b/c"), |_| false),
            Next::Fail(Failure::Abandon(Abandoned::PeerProtocol(
                ProtocolViolation::BoundOtherAccount
            )))
        ));
        let error = iq("<iq type='error' id='b'><error type='cancel'>\
            <conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>");
        let Next::Fail(Failure::Abandon(Abandoned::BindFailed(Some(e)))) =
            step.on_iq(&error, |_| true)
        else {
            panic!("bind failed with the server's error")
        };
        assert_eq!(e.condition, StanzaErrorCondition::Conflict);
    }
}
