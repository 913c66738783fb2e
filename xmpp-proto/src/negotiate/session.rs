//! The legacy session (RFC 3921 section 3), both sides.
//!
//! RFC 6121 appendix E dropped session establishment, but servers in the field still offer
//! it; a server that marks it `<optional/>` does not need it. So the client establishes a
//! session only when the server requires it, after binding, and the server offers it as
//! optional and answers a request with an empty result, whenever it comes.

use super::{Next, Wire, iq_error, iq_id};
use crate::jid::FullJid;
use crate::stanza::JABBER_CLIENT;
use crate::stream::{Abandoned, SESSION_NS};
use crate::xml::{Element, Writer};

/// The client's side: the session request with this id is out, for the bound `jid`.
#[derive(Debug)]
pub(crate) struct SessionClient {
    id: String,
    jid: FullJid,
}

impl SessionClient {
    /// Asks for the session of `jid`.
    pub fn begin(id: String, jid: FullJid, out: &mut impl Wire) -> Self {
        out.element(|w| {
            w.start("iq")
                .attr("type", "set")
                .attr("id", &id)
                .start("session")
                .xmlns(SESSION_NS)
                .end("session")
                .end("iq");
        });
        SessionClient { id, jid }
    }

    /// Is `el` an iq, which may be the answer?
    pub fn takes(el: &Element) -> bool {
        el.is("iq", JABBER_CLIENT)
    }

    /// An iq: the answer when it has the request's id (others are ignored).
    pub fn on_iq(&self, el: &Element) -> Next<FullJid> {
        if el.attr("id").as_deref() != Some(self.id.as_str()) {
            return Next::Unchanged;
        }
        match el.attr("type").as_deref() {
            Some("result") => Next::Done(self.jid.clone()),
            _ => Abandoned::BindFailed(iq_error(el).map(Box::new)).into(),
        }
    }
}

/// The server's offer in the features: optional, since a session is established at
/// binding.
pub(crate) fn write_feature(w: &mut Writer<'_>) {
    w.start("session")
        .xmlns(SESSION_NS)
        .start("optional")
        .end("optional");
    w.end("session");
}

/// Is `el` a session request to the server `domain` (RFC 3921 section 3: an iq of type
/// `set` whose one child is `<session/>`, with no `to` or the server's)? Anything else with
/// a `<session/>` inside is an ordinary stanza, under the rules of every other (RFC 6120
/// section 8.2.3: a result is never answered).
pub(crate) fn is_request(el: &Element, domain: &str) -> bool {
    el.name() == "iq"
        && el.attr("type").as_deref() == Some("set")
        && el.attr("to").is_none_or(|t| t == domain)
        && el.children().count() == 1
        && el.get_child("session", SESSION_NS).is_some()
}

/// The server's answer to a session request: the session exists already.
pub(crate) fn answer(el: &Element, out: &mut impl Wire) {
    let id = iq_id(el);
    out.element(|w| {
        w.start("iq")
            .attr("type", "result")
            .attr("id", &id)
            .end("iq");
    });
}
