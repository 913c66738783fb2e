//! Server Dialback (XEP-0220), the three sides of it, as small state machines.
//!
//! - [`DialbackOut`], on a stream this server initiated: it sends `<db:result/>` with a key
//!   for a domain pair (section 2.1.1, step 1) and awaits `type='valid'`, `'invalid'` or
//!   `'error'` for that pair (step 4); and it sends `<db:verify/>` for a key that another
//!   stream received (section 2.1.2, step 2) and awaits the authoritative answer (step 3).
//!   Several requests may be out at once, each pair or pair and id once (multiplexing,
//!   section 2.6); an answer that correlates to no request is refused (section 3.1,
//!   "unsolicited dialback").
//! - [`DialbackIn`], on a stream a peer initiated: it takes `<db:result/>` (section 2.2.1,
//!   step 1), answers an error at once where section 2.5 names one (the target is not ours:
//!   `item-not-found`; dialback before TLS that the policy requires: `policy-violation`),
//!   else asks the embedder to verify the key and writes its answer (step 4).
//! - [`answer_verify`], the authoritative side (section 2.2.2): `<db:verify/>` answered from
//!   the domain's own secret, with nothing asked.
//!
//! Errors are `type='error'` with an `<error/>` carrying a stanza error condition (section
//! 2.5); they are not stream errors, so the stream goes on for the other pairs. The
//! elements are written with the `db` prefix, which every `jabber:server` header of this
//! crate declares (section 2: the prefix the sender's header advertised).

use std::collections::VecDeque;

use super::{Failure, Next, Wire};
use crate::dialback::DialbackSecret;
use crate::error::{StanzaError, StanzaErrorCondition, StreamErrorCondition};
use crate::jid::Jid;
use crate::xml::{Element, Writer};

/// `jabber:server:dialback`, the namespace of `<db:result/>` and `<db:verify/>`.
pub const DIALBACK_NS: &str = "jabber:server:dialback";
/// `urn:xmpp:features:dialback`, the stream feature that says dialback errors are
/// understood (XEP-0220 section 2.4.2).
pub const DIALBACK_FEATURE_NS: &str = "urn:xmpp:features:dialback";

/// A sender domain and a target domain (XEP-0220 section 1.3): stanzas from the first to the
/// second are what dialback or SASL authorizes on a stream.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DomainPair {
    /// The sender domain (the initiating server's).
    pub from: String,
    /// The target domain (the receiving server's).
    pub to: String,
}

impl DomainPair {
    /// The pair from `from` to `to`.
    pub fn new(from: impl Into<String>, to: impl Into<String>) -> Self {
        DomainPair {
            from: from.into(),
            to: to.into(),
        }
    }
}

/// What a dialback request came to (XEP-0220 sections 2.1 and 2.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialbackOutcome {
    /// `type='valid'`: the key is good, the pair is authorized.
    Valid,
    /// `type='invalid'`: the key is bogus (the receiving server then closes the stream).
    Invalid,
    /// `type='error'`, with the stanza error condition it carried (`undefined-condition`
    /// for an error without a well-formed one): not a verdict on the key, and not fatal
    /// for the stream.
    Error(StanzaErrorCondition),
}

impl DialbackOutcome {
    /// The `type` attribute.
    fn type_attr(&self) -> &'static str {
        match self {
            DialbackOutcome::Valid => "valid",
            DialbackOutcome::Invalid => "invalid",
            DialbackOutcome::Error(_) => "error",
        }
    }

    /// Reads the `type` of an answer and the error it carries.
    fn read(el: &Element) -> Option<DialbackOutcome> {
        match el.attr("type").as_deref() {
            Some("valid") => Some(DialbackOutcome::Valid),
            Some("invalid") => Some(DialbackOutcome::Invalid),
            Some("error") => {
                let condition = el
                    .children()
                    .find(|c| c.name() == "error")
                    .and_then(|e| StanzaError::from_element(e).ok())
                    .map_or(StanzaErrorCondition::UndefinedCondition, |e| e.condition);
                Some(DialbackOutcome::Error(condition))
            }
            _ => None,
        }
    }
}

/// The `<dialback><errors/></dialback>` feature (XEP-0220 section 2.4.2).
pub(crate) fn write_feature(w: &mut Writer<'_>) {
    w.start("dialback").xmlns(DIALBACK_FEATURE_NS);
    w.start("errors").end("errors");
    w.end("dialback");
}

/// Does a `<stream:features/>` offer dialback with error handling?
pub(crate) fn offered_in(features: &Element) -> bool {
    features
        .children()
        .any(|c| c.is("dialback", DIALBACK_FEATURE_NS))
}

/// Does `features` signal dialback error handling: the `<dialback/>` feature "including an
/// empty <errors/> element" (XEP-0220 section 2.4.2)?
pub(crate) fn errors_in(features: &Element) -> bool {
    features.children().any(|c| {
        c.is("dialback", DIALBACK_FEATURE_NS)
            && c.get_child("errors", DIALBACK_FEATURE_NS).is_some()
    })
}

/// Writes `<db:NAME from to [id] [type]>` with `key` as its text, or an `<error/>` child.
fn write_db(
    out: &mut impl Wire,
    name: &str,
    pair: &DomainPair,
    id: Option<&str>,
    outcome: Option<&DialbackOutcome>,
    key: Option<&str>,
) {
    let qname = if name == "result" {
        "db:result"
    } else {
        "db:verify"
    };
    out.element(|w| {
        w.start(qname)
            .attr("from", &pair.from)
            .attr("to", &pair.to)
            .attr_opt("id", id)
            .attr_opt("type", outcome.map(DialbackOutcome::type_attr));
        if let Some(key) = key {
            w.text(key);
        }
        if let Some(DialbackOutcome::Error(condition)) = outcome {
            StanzaError::new(condition.clone()).write(w);
        }
        w.end(qname);
    });
}

/// The `from`, `to` (and `id`) of a dialback element, each required (XEP-0220 section 4).
fn addresses(el: &Element) -> Option<(DomainPair, Option<String>)> {
    let from = el.attr("from")?.into_owned();
    let to = el.attr("to")?.into_owned();
    Some((
        DomainPair { from, to },
        el.attr("id").map(|i| i.into_owned()),
    ))
}

/// Is `name` a domain (a JID with neither localpart nor resourcepart), as prepared?
pub(crate) fn domain(name: &str) -> Option<String> {
    let jid = name.parse::<Jid>().ok()?;
    (jid.local().is_none() && jid.resource().is_none()).then(|| jid.domain().to_owned())
}

/// Do two domain pairs name the same domains, compared as domainparts are (RFC 7622
/// section 3.2.3: prepared, case-mapped and width-mapped; section 3.2: a trailing dot
/// stripped), so that an answer that spells a domain otherwise still correlates?
fn same_pair(a: &DomainPair, b: &DomainPair) -> bool {
    let same = |x: &str, y: &str| x == y || domain(x).is_some_and(|d| Some(d) == domain(y));
    same(&a.from, &b.from) && same(&a.to, &b.to)
}

/// An answer a [`DialbackOut`] took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    /// To our `<db:result/>` for this pair.
    Result(DomainPair, DialbackOutcome),
    /// To our `<db:verify/>` for this pair and stream id.
    Verify(DomainPair, String, DialbackOutcome),
}

/// The initiating server's dialback (XEP-0220 section 2.1): the requests out, awaiting
/// answers.
#[derive(Debug, Default)]
pub(crate) struct DialbackOut {
    /// Pairs whose `<db:result/>` is out.
    results: Vec<DomainPair>,
    /// Pairs and stream ids whose `<db:verify/>` is out.
    verifies: Vec<(DomainPair, String)>,
    /// The last requests given up for want of an answer ([`time_out`](Self::time_out)),
    /// at most [`MAX_EXPIRED`]: an answer that comes late is dropped, not taken for one
    /// that answers nothing we asked.
    expired: VecDeque<Answer>,
}

/// How many requests given up on [`DialbackOut`] remembers, so that their late answers
/// are dropped quietly.
const MAX_EXPIRED: usize = 16;

impl DialbackOut {
    /// Sends the key for `pair` (step 1). False, with nothing written, when a request for
    /// the pair is already out.
    pub fn request(&mut self, pair: DomainPair, key: &str, out: &mut impl Wire) -> bool {
        if self.results.contains(&pair) {
            return false;
        }
        write_db(out, "result", &pair, None, None, Some(key));
        self.results.push(pair);
        true
    }

    /// Asks the authoritative server about `key`, which another stream (whose header had
    /// `id`) received for a pair: `pair` is written as it goes on the wire, from the target
    /// domain (ours) to the sender domain (the peer's, step 2). False when the same request
    /// is out.
    pub fn verify(&mut self, pair: DomainPair, id: String, key: &str, out: &mut impl Wire) -> bool {
        let request = (pair, id);
        if self.verifies.contains(&request) {
            return false;
        }
        write_db(out, "verify", &request.0, Some(&request.1), None, Some(key));
        self.verifies.push(request);
        true
    }

    /// Are answers awaited?
    pub fn is_waiting(&self) -> bool {
        !self.results.is_empty() || !self.verifies.is_empty()
    }

    /// No answer came in time: every request out has failed with `remote-server-timeout`
    /// (XEP-0220 section 2.1.1: "the Initiating Server MAY impose a timeout on dialback
    /// operations, i.e. it ought to consider dialback operations as having failed"; the
    /// condition is the one section 2.5 gives when the authoritative side cannot be
    /// reached), returned as the answers it stands for.
    pub fn time_out(&mut self) -> Vec<Answer> {
        let failed = || DialbackOutcome::Error(StanzaErrorCondition::RemoteServerTimeout);
        let answers: Vec<Answer> = self
            .results
            .drain(..)
            .map(|pair| Answer::Result(pair, failed()))
            .chain(
                self.verifies
                    .drain(..)
                    .map(|(pair, id)| Answer::Verify(pair, id, failed())),
            )
            .collect();
        for answer in &answers {
            if self.expired.len() == MAX_EXPIRED {
                self.expired.pop_front();
            }
            self.expired.push_back(answer.clone());
        }
        answers
    }

    /// Does `el` answer a request given up on? (Taken out of the list: one late answer
    /// each.)
    fn late(&mut self, result: bool, pair: &DomainPair, id: Option<&str>) -> bool {
        let found = self.expired.iter().position(|a| match a {
            Answer::Result(p, _) => result && same_pair(p, pair),
            Answer::Verify(p, i, _) => !result && same_pair(p, pair) && Some(i.as_str()) == id,
        });
        found.map(|i| self.expired.remove(i)).is_some()
    }

    /// Is `el` a dialback element?
    pub fn takes(el: &Element) -> bool {
        el.ns() == DIALBACK_NS && matches!(el.name(), "result" | "verify")
    }

    /// An answer: it must carry a type and correlate to a request of ours (its `from` and
    /// `to` swapped from the request's, compared as domains, and for `<db:verify/>` the
    /// same id), else the peer
    /// is answering what nobody asked (XEP-0220 section 3.1), which ends the stream with
    /// `invalid-from`. An element without a type is a request, which an initiating server
    /// does not take (section 2.2, without XEP-0288): `unsupported-stanza-type`.
    pub fn on_element(&mut self, el: &Element) -> Next<Answer> {
        let Some((answer, id)) = addresses(el) else {
            return Failure::Stream(StreamErrorCondition::ImproperAddressing).into();
        };
        let Some(outcome) = DialbackOutcome::read(el) else {
            return Failure::Stream(StreamErrorCondition::UnsupportedStanzaType).into();
        };
        // The answer comes from the target domain to the sender domain.
        let pair = DomainPair {
            from: answer.to,
            to: answer.from,
        };
        if el.name() == "result" {
            match self.results.iter().position(|p| same_pair(p, &pair)) {
                Some(i) => Next::Done(Answer::Result(self.results.remove(i), outcome)),
                None if self.late(true, &pair, None) => Next::Unchanged,
                None => Failure::Stream(StreamErrorCondition::InvalidFrom).into(),
            }
        } else {
            let id = id.unwrap_or_default();
            match self
                .verifies
                .iter()
                .position(|(p, i)| same_pair(p, &pair) && *i == id)
            {
                Some(i) => {
                    let (pair, id) = self.verifies.remove(i);
                    Next::Done(Answer::Verify(pair, id, outcome))
                }
                None if self.late(false, &pair, Some(&id)) => Next::Unchanged,
                None => Failure::Stream(StreamErrorCondition::InvalidFrom).into(),
            }
        }
    }
}

/// What the receiving server asks its embedder: is `key` good for `pair` on the stream
/// `stream_id`? (The embedder asks the authoritative server with `<db:verify/>` on an
/// outgoing stream, or decides another way, XEP-0220 section 2.1.1.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VerifyQuestion {
    pub pair: DomainPair,
    pub stream_id: String,
    pub key: String,
}

/// What a receiving server knows when a `<db:result/>` comes.
#[derive(Clone, Copy)]
pub(crate) struct Receiving<'a> {
    /// The domains it serves.
    pub domains: &'a [String],
    /// Dialback is not allowed yet: TLS is required and not up (XEP-0220 section 2.5,
    /// `policy-violation`).
    pub tls_first: bool,
    /// The id of its stream header.
    pub stream_id: &'a str,
    /// Pairs already authorized on the stream.
    pub authorized: &'a [DomainPair],
}

/// How many keys one receiving stream may have under verification at once. Each one makes
/// the embedder reach the sender domain's authoritative server, a domain the peer names
/// before it has proved anything: without a bound, one unauthenticated stream could make
/// this server open a connection per `<db:result/>`. Multiplexing needs a few (XEP-0220
/// section 2.1.1); more wait for an answer, or are refused with `resource-constraint`.
pub(crate) const MAX_PENDING_KEYS: usize = 8;

/// The receiving server's dialback (XEP-0220 section 2.2.1): the keys the embedder is
/// asked to verify.
#[derive(Debug, Default)]
pub(crate) struct DialbackIn {
    asked: Vec<DomainPair>,
}

impl DialbackIn {
    /// Is the embedder asked about anything?
    pub fn is_asking(&self) -> bool {
        !self.asked.is_empty()
    }

    /// `<db:result/>` from the initiating server (step 1).
    pub fn on_result(
        &mut self,
        el: &Element,
        at: Receiving<'_>,
        out: &mut impl Wire,
    ) -> Next<(), VerifyQuestion> {
        if el.attr("type").is_some() {
            // An answer on a stream we receive: we asked nothing here (section 3.1).
            return Failure::Stream(StreamErrorCondition::UnsupportedStanzaType).into();
        }
        let Some((given, _)) = addresses(el) else {
            return Failure::Stream(StreamErrorCondition::ImproperAddressing).into();
        };
        let Some(from) = domain(&given.from) else {
            return Failure::Stream(StreamErrorCondition::InvalidFrom).into();
        };
        // The error names the pair as the request did (section 2.5: "the domain is used in
        // the 'from' attribute of the error packet").
        let reply = DomainPair {
            from: given.to.clone(),
            to: given.from.clone(),
        };
        let refuse = |condition, out: &mut _| {
            write_db(
                out,
                "result",
                &reply,
                None,
                Some(&DialbackOutcome::Error(condition)),
                None,
            );
            Next::Unchanged
        };
        let Some(to) = domain(&given.to).filter(|t| at.domains.contains(t)) else {
            return refuse(StanzaErrorCondition::ItemNotFound, out);
        };
        if at.tls_first {
            return refuse(StanzaErrorCondition::PolicyViolation, out);
        }
        let pair = DomainPair { from, to };
        if self.asked.contains(&pair) || at.authorized.contains(&pair) {
            // One request per pair at a time (section 2.1.1); a pair already authorized
            // stays so. Either way nothing more is asked.
            return refuse(StanzaErrorCondition::Conflict, out);
        }
        if self.asked.len() >= MAX_PENDING_KEYS {
            return refuse(StanzaErrorCondition::ResourceConstraint, out);
        }
        self.asked.push(pair.clone());
        let key = el.text().trim().to_owned();
        Next::Ask(VerifyQuestion {
            pair,
            stream_id: at.stream_id.to_owned(),
            key,
        })
    }

    /// The embedder's verdict on `pair` (step 4): the answer is written, and the pair given
    /// back with it. `None` when the embedder was not asked about `pair`.
    pub fn answer(
        &mut self,
        pair: &DomainPair,
        outcome: DialbackOutcome,
        out: &mut impl Wire,
    ) -> Option<DialbackOutcome> {
        let i = self.asked.iter().position(|p| p == pair)?;
        let pair = self.asked.remove(i);
        let reply = DomainPair {
            from: pair.to,
            to: pair.from,
        };
        write_db(out, "result", &reply, None, Some(&outcome), None);
        Some(outcome)
    }
}

/// The authoritative server answers `<db:verify/>` (XEP-0220 section 2.2.2) from its own
/// secret: `valid` when the key is the one `to` (a domain of ours) would have sent to
/// `from` on stream `id`, else `invalid`; `item-not-found` when `to` is not ours.
pub(crate) fn answer_verify(
    el: &Element,
    domains: &[String],
    secret: &DialbackSecret,
    out: &mut impl Wire,
) -> Next<()> {
    if el.attr("type").is_some() {
        return Failure::Stream(StreamErrorCondition::UnsupportedStanzaType).into();
    }
    let Some((given, Some(id))) = addresses(el) else {
        return Failure::Stream(StreamErrorCondition::ImproperAddressing).into();
    };
    let reply = DomainPair {
        from: given.to.clone(),
        to: given.from.clone(),
    };
    let ours = domain(&given.to).filter(|t| domains.contains(t));
    let outcome = match ours {
        None => DialbackOutcome::Error(StanzaErrorCondition::ItemNotFound),
        Some(originating) => {
            let receiving = domain(&given.from).unwrap_or_default();
            if secret.verify(&receiving, &originating, &id, &el.text()) {
                DialbackOutcome::Valid
            } else {
                DialbackOutcome::Invalid
            }
        }
    };
    write_db(out, "verify", &reply, Some(&id), Some(&outcome), None);
    Next::Unchanged
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;

    /// Parses `xml` as a first-level element of a stream that declared `db`.
    fn element(xml: &str) -> Element {
        let stream = format!(
            "<stream:stream xmlns='jabber:server' xmlns:db='{DIALBACK_NS}' \
             xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>{xml}"
        );
        let mut p = crate::xml::StreamParser::new(crate::xml::Limits::default());
        p.handle_input(stream.as_bytes()).unwrap();
        let mut last = None;
        while let Some(ev) = p.poll_event() {
            if let crate::xml::Event::Element(el) = ev {
                last = Some(el);
            }
        }
        last.expect("an element")
    }

    fn text(out: &BytesMut) -> &str {
        core::str::from_utf8(out).unwrap()
    }

    const KEY_C2M: &str = "b4835385f37fe2895af6c196b59097b16862406db80559900d96bf6fa7d23df3";

    #[test]
    fn the_xep_0220_keys() {
        // Step 1 of section 2.1.1: capulet's secret, montague receiving, stream D60000229F.
        let capulet = DialbackSecret::new("s3cr3tf0rd14lb4ck");
        assert_eq!(
            capulet
                .key("montague.example", "capulet.example", "D60000229F")
                .as_str(),
            KEY_C2M
        );
        // Section 2.2.2: montague's secret, capulet receiving, stream 417GAF25.
        let montague = DialbackSecret::new("d14lb4ck43v3r");
        assert_eq!(
            montague
                .key("capulet.example", "montague.example", "417GAF25")
                .as_str(),
            "225cc5aa6a071133249d25fef42ae516fc7a86c523aa1c6980a7f73e784c972d"
        );
    }

    #[test]
    fn the_initiating_side_takes_only_answers_to_its_requests() {
        let mut db = DialbackOut::default();
        let mut out = BytesMut::new();
        let pair = DomainPair::new("capulet.example", "montague.example");
        assert!(db.request(pair.clone(), KEY_C2M, &mut out));
        assert_eq!(
            text(&out),
            format!(
                "<db:result from='capulet.example' to='montague.example'>{KEY_C2M}</db:result>"
            )
        );
        assert!(
            !db.request(pair.clone(), KEY_C2M, &mut out),
            "once per pair"
        );
        // An answer for another pair is unsolicited.
        let other = element("<db:result from='evil.example' to='capulet.example' type='valid'/>");
        assert!(matches!(
            db.on_element(&other),
            Next::Fail(Failure::Stream(StreamErrorCondition::InvalidFrom))
        ));
        let valid =
            element("<db:result from='montague.example' to='capulet.example' type='valid'/>");
        assert!(matches!(
            db.on_element(&valid),
            Next::Done(Answer::Result(p, DialbackOutcome::Valid)) if p == pair
        ));
        assert!(!db.is_waiting());
        // The same answer again: nothing asked any more.
        assert!(matches!(db.on_element(&valid), Next::Fail(_)));
    }

    #[test]
    fn errors_carry_their_condition() {
        let mut db = DialbackOut::default();
        let mut out = BytesMut::new();
        let pair = DomainPair::new("capulet.example", "montague.example");
        db.verify(pair, "417GAF25".into(), "k", &mut out);
        assert_eq!(
            text(&out),
            "<db:verify from='capulet.example' to='montague.example' id='417GAF25'>k</db:verify>"
        );
        let error = element(
            "<db:verify from='montague.example' id='417GAF25' to='capulet.example' type='error'>\
             <error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>\
             </error></db:verify>",
        );
        assert!(matches!(
            db.on_element(&error),
            Next::Done(Answer::Verify(_, id, DialbackOutcome::Error(StanzaErrorCondition::ItemNotFound))) if id == "417GAF25"
        ));
    }

    #[test]
    fn the_receiving_side_asks_or_refuses() {
        let domains = ["montague.example".to_owned()];
        let at = |tls_first| Receiving {
            domains: &domains,
            tls_first,
            stream_id: "D60000229F",
            authorized: &[],
        };
        let request = element(&format!(
            "<db:result from='capulet.example' to='montague.example'>\n {KEY_C2M}\n</db:result>"
        ));
        let mut db = DialbackIn::default();
        let mut out = BytesMut::new();
        let Next::Ask(q) = db.on_result(&request, at(false), &mut out) else {
            panic!("asks")
        };
        assert_eq!(q.key, KEY_C2M);
        assert_eq!(q.stream_id, "D60000229F");
        assert!(out.is_empty());
        assert!(matches!(
            db.on_result(&request, at(false), &mut out),
            Next::Unchanged
        ));
        assert!(text(&out).contains("<conflict "), "{}", text(&out));
        out.clear();
        db.answer(&q.pair, DialbackOutcome::Valid, &mut out)
            .unwrap();
        assert_eq!(
            text(&out),
            "<db:result from='montague.example' to='capulet.example' type='valid'/>"
        );
        assert!(
            db.answer(&q.pair, DialbackOutcome::Valid, &mut out)
                .is_none()
        );

        let mut out = BytesMut::new();
        let elsewhere =
            element("<db:result from='capulet.example' to='other.example'>k</db:result>");
        assert!(matches!(
            db.on_result(&elsewhere, at(false), &mut out),
            Next::Unchanged
        ));
        assert_eq!(
            text(&out),
            "<db:result from='other.example' to='capulet.example' type='error'>\
             <error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>\
             </error></db:result>"
        );
        let mut out = BytesMut::new();
        assert!(matches!(
            db.on_result(&request, at(true), &mut out),
            Next::Unchanged
        ));
        assert!(text(&out).contains("<policy-violation "));
    }

    #[test]
    fn keys_under_verification_are_bounded_per_stream() {
        let domains = ["montague.example".to_owned()];
        let at = Receiving {
            domains: &domains,
            tls_first: false,
            stream_id: "D60000229F",
            authorized: &[],
        };
        let request = |n: usize| {
            element(&format!(
                "<db:result from='s{n}.example' to='montague.example'>{KEY_C2M}</db:result>"
            ))
        };
        let mut db = DialbackIn::default();
        let mut out = BytesMut::new();
        let mut asked = Vec::new();
        for n in 0..MAX_PENDING_KEYS {
            let Next::Ask(q) = db.on_result(&request(n), at, &mut out) else {
                panic!("request {n} is asked")
            };
            asked.push(q.pair);
        }
        assert!(out.is_empty());
        // One more is refused, and nothing more is asked of the embedder ...
        assert!(matches!(
            db.on_result(&request(MAX_PENDING_KEYS), at, &mut out),
            Next::Unchanged
        ));
        assert!(
            text(&out).contains("<resource-constraint "),
            "{}",
            text(&out)
        );
        // ... until an answer frees a place.
        db.answer(&asked[0], DialbackOutcome::Invalid, &mut BytesMut::new())
            .unwrap();
        assert!(matches!(
            db.on_result(&request(MAX_PENDING_KEYS), at, &mut BytesMut::new()),
            Next::Ask(_)
        ));
    }

    #[test]
    fn the_authoritative_side_answers_from_its_secret() {
        let montague = DialbackSecret::new("d14lb4ck43v3r");
        let domains = ["montague.example".to_owned()];
        let request = element(
            "<db:verify from='capulet.example' id='417GAF25' to='montague.example'>\
             225cc5aa6a071133249d25fef42ae516fc7a86c523aa1c6980a7f73e784c972d</db:verify>",
        );
        let mut out = BytesMut::new();
        let _ = answer_verify(&request, &domains, &montague, &mut out);
        assert_eq!(
            text(&out),
            "<db:verify from='montague.example' to='capulet.example' id='417GAF25' type='valid'/>"
        );
        let mut out = BytesMut::new();
        let _ = answer_verify(&request, &domains, &DialbackSecret::new("x"), &mut out);
        assert!(text(&out).ends_with("type='invalid'/>"));
    }
}
