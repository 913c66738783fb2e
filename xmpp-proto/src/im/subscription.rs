//! Presence subscriptions (RFC 6121 section 3 and Appendix A).
//!
//! The state of a subscription between the user (the account) and a contact is one of the
//! nine of Appendix A.1, [`SubState`]; the roster shows it as `subscription` and `ask`, and
//! the server keeps one more fact, the pre-approval of section 3.4 (`approved`), which
//! [`ContactState`] holds beside the state so that the two never contradict each other (a
//! pre-approval exists only where the contact has no subscription from the user and has not
//! asked for one).
//!
//! [`outbound_row`] and [`inbound_row`] are the tables of Appendix A.2 (Tables 2 to 5) and
//! A.3 (Tables 6 to 9), one match arm per row; [`outbound`] and [`inbound`] are the
//! server's decision for one subscription stanza, built on them with the rest of section 3:
//! stamping (3.1.2), roster items created only on the user's approval (3.1.3), pushes to
//! interested resources after delivery (3.1.6, 3.3.3), current or unavailable presence after
//! an approval or a cancellation (3.1.5, 3.2.2, 3.3.3), auto-replies (A.3 notes) and
//! pre-approval (3.4).

use core::fmt;

use bytes::BytesMut;

use super::{Account, OutStanza, Output, RosterChange};
use crate::jid::BareJid;
use crate::stanza::{PresenceBuilder, PresenceType, Stanza};

/// The `subscription` attribute of a roster item (RFC 6121 section 2.1.2.5), without
/// `remove`, which is a request rather than a state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Subscription {
    /// Neither has a subscription to the other.
    None,
    /// The user has a subscription to the contact's presence.
    To,
    /// The contact has a subscription to the user's presence.
    From,
    /// Both ways.
    Both,
}

impl Subscription {
    /// The four values.
    pub const ALL: [Subscription; 4] = [
        Subscription::None,
        Subscription::To,
        Subscription::From,
        Subscription::Both,
    ];

    /// The attribute's value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Subscription::None => "none",
            Subscription::To => "to",
            Subscription::From => "from",
            Subscription::Both => "both",
        }
    }

    /// Does the user receive the contact's presence (`to` or `both`)?
    pub const fn has_to(self) -> bool {
        matches!(self, Subscription::To | Subscription::Both)
    }

    /// Does the contact receive the user's presence (`from` or `both`)?
    pub const fn has_from(self) -> bool {
        matches!(self, Subscription::From | Subscription::Both)
    }
}

crate::error::vocabulary!(
    Subscription,
    "roster subscription of RFC 6121 section 2.1.2.5"
);

/// The nine subscription states of RFC 6121 Appendix A.1, from the user's side. `None`
/// includes a contact that is not in the roster at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum SubState {
    /// 1. "None": no subscription, no request either way.
    #[default]
    None,
    /// 2. "None + Pending Out": the user asked the contact (`ask='subscribe'`).
    NonePendingOut,
    /// 3. "None + Pending In": the contact asked the user, who has not answered.
    NonePendingIn,
    /// 4. "None + Pending Out+In": both asked, neither answered.
    NonePendingOutIn,
    /// 5. "To": the user is subscribed to the contact.
    To,
    /// 6. "To + Pending In": subscribed to the contact, who asked the user.
    ToPendingIn,
    /// 7. "From": the contact is subscribed to the user.
    From,
    /// 8. "From + Pending Out": the contact is subscribed; the user asked the contact.
    FromPendingOut,
    /// 9. "Both": each is subscribed to the other.
    Both,
}

impl SubState {
    /// The nine states, in the order of Appendix A.1.
    pub const ALL: [SubState; 9] = [
        SubState::None,
        SubState::NonePendingOut,
        SubState::NonePendingIn,
        SubState::NonePendingOutIn,
        SubState::To,
        SubState::ToPendingIn,
        SubState::From,
        SubState::FromPendingOut,
        SubState::Both,
    ];

    /// The roster's `subscription` for this state (Appendix A.1).
    pub const fn subscription(self) -> Subscription {
        match self {
            SubState::None
            | SubState::NonePendingOut
            | SubState::NonePendingIn
            | SubState::NonePendingOutIn => Subscription::None,
            SubState::To | SubState::ToPendingIn => Subscription::To,
            SubState::From | SubState::FromPendingOut => Subscription::From,
            SubState::Both => Subscription::Both,
        }
    }

    /// Has the user a request out (the roster's `ask='subscribe'`)?
    pub const fn pending_out(self) -> bool {
        matches!(
            self,
            SubState::NonePendingOut | SubState::NonePendingOutIn | SubState::FromPendingOut
        )
    }

    /// Has the contact a request in that the user has not answered?
    pub const fn pending_in(self) -> bool {
        matches!(
            self,
            SubState::NonePendingIn | SubState::NonePendingOutIn | SubState::ToPendingIn
        )
    }

    /// The state with this `subscription` and these pending requests, if one of the nine
    /// has them: a request out while already subscribed to the contact (`to` + out), or in
    /// while the contact already is (`from` + in), is none.
    pub const fn from_parts(
        subscription: Subscription,
        pending_out: bool,
        pending_in: bool,
    ) -> Option<SubState> {
        Some(match (subscription, pending_out, pending_in) {
            (Subscription::None, false, false) => SubState::None,
            (Subscription::None, true, false) => SubState::NonePendingOut,
            (Subscription::None, false, true) => SubState::NonePendingIn,
            (Subscription::None, true, true) => SubState::NonePendingOutIn,
            (Subscription::To, false, false) => SubState::To,
            (Subscription::To, false, true) => SubState::ToPendingIn,
            (Subscription::From, false, false) => SubState::From,
            (Subscription::From, true, false) => SubState::FromPendingOut,
            (Subscription::Both, false, false) => SubState::Both,
            _ => return None,
        })
    }

    /// Can a pre-approval (section 3.4) stand in this state? Only where the contact has
    /// neither a subscription from the user nor a request in: "None", "None + Pending Out"
    /// and "To" (section 3.4.2, rule 3).
    pub const fn allows_preapproval(self) -> bool {
        matches!(
            self,
            SubState::None | SubState::NonePendingOut | SubState::To
        )
    }

    /// A short name for people and vectors: `none`, `none+out`, `none+in`, `none+out+in`,
    /// `to`, `to+in`, `from`, `from+out`, `both`.
    pub const fn as_str(self) -> &'static str {
        match self {
            SubState::None => "none",
            SubState::NonePendingOut => "none+out",
            SubState::NonePendingIn => "none+in",
            SubState::NonePendingOutIn => "none+out+in",
            SubState::To => "to",
            SubState::ToPendingIn => "to+in",
            SubState::From => "from",
            SubState::FromPendingOut => "from+out",
            SubState::Both => "both",
        }
    }
}

crate::error::vocabulary!(SubState, "subscription state of RFC 6121 Appendix A.1");

/// A subscription state and the pre-approval flag (section 3.4), which can stand only in
/// the states of [`SubState::allows_preapproval`]: the constructor refuses anything else,
/// and every transition here keeps it so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ContactState {
    state: SubState,
    approved: bool,
}

impl ContactState {
    /// "None", no pre-approval: a contact the user never dealt with.
    pub const NONE: ContactState = ContactState {
        state: SubState::None,
        approved: false,
    };

    /// The state with `approved`, or `None` when `approved` is set in a state that cannot
    /// carry it.
    pub const fn new(state: SubState, approved: bool) -> Option<ContactState> {
        if approved && !state.allows_preapproval() {
            return None;
        }
        Some(ContactState { state, approved })
    }

    /// The state without pre-approval.
    pub const fn plain(state: SubState) -> ContactState {
        ContactState {
            state,
            approved: false,
        }
    }

    /// The subscription state.
    pub const fn state(self) -> SubState {
        self.state
    }

    /// Did the user pre-approve the contact's subscription (`approved='true'`)?
    pub const fn approved(self) -> bool {
        self.approved
    }

    /// Moves to `state`, keeping the pre-approval where it can stand and dropping it where
    /// it cannot.
    pub const fn with_state(self, state: SubState) -> ContactState {
        ContactState {
            state,
            approved: self.approved && state.allows_preapproval(),
        }
    }
}

/// What the user's roster knows of a contact beyond the subscription: the item's name and
/// groups (section 2.1.2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ItemInfo {
    /// The item's `name`.
    pub name: Option<String>,
    /// The item's groups, in order.
    pub groups: Vec<String>,
}

/// What the server stores about one contact of the account: the subscription state and,
/// when the contact is in the user's roster, its item. A contact that only sent a request
/// the user has not answered is stored without an item (section 3.1.3: the server "MUST NOT
/// create a roster item for the contact" before the user approves).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    /// The contact's bare JID.
    pub jid: BareJid,
    /// The subscription state and pre-approval.
    pub state: ContactState,
    /// The roster item's name and groups, if the contact is in the roster.
    pub item: Option<ItemInfo>,
}

impl Contact {
    /// A contact the server knows nothing about: "None", not in the roster.
    pub fn unknown(jid: BareJid) -> Contact {
        Contact {
            jid,
            state: ContactState::NONE,
            item: None,
        }
    }

    /// Is there nothing to remember (state "None", no pre-approval, no item)?
    pub fn is_empty(&self) -> bool {
        self.state == ContactState::NONE && self.item.is_none()
    }

    /// Is the contact in the user's roster?
    pub fn in_roster(&self) -> bool {
        self.item.is_some()
    }
}

/// The four subscription-related presence types (section 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubscriptionType {
    /// A request for the recipient's presence.
    Subscribe,
    /// The sender approves the recipient's subscription.
    Subscribed,
    /// The sender cancels its subscription to the recipient.
    Unsubscribe,
    /// The sender denies or cancels the recipient's subscription.
    Unsubscribed,
}

impl SubscriptionType {
    /// The four, in the order of Appendix A.2.
    pub const ALL: [SubscriptionType; 4] = [
        SubscriptionType::Subscribe,
        SubscriptionType::Unsubscribe,
        SubscriptionType::Subscribed,
        SubscriptionType::Unsubscribed,
    ];

    /// The subscription type of a presence type, if it is one.
    pub const fn of(t: PresenceType) -> Option<SubscriptionType> {
        match t {
            PresenceType::Subscribe => Some(SubscriptionType::Subscribe),
            PresenceType::Subscribed => Some(SubscriptionType::Subscribed),
            PresenceType::Unsubscribe => Some(SubscriptionType::Unsubscribe),
            PresenceType::Unsubscribed => Some(SubscriptionType::Unsubscribed),
            _ => None,
        }
    }

    /// The presence type.
    pub const fn presence_type(self) -> PresenceType {
        match self {
            SubscriptionType::Subscribe => PresenceType::Subscribe,
            SubscriptionType::Subscribed => PresenceType::Subscribed,
            SubscriptionType::Unsubscribe => PresenceType::Unsubscribe,
            SubscriptionType::Unsubscribed => PresenceType::Unsubscribed,
        }
    }
}

impl fmt::Display for SubscriptionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.presence_type().as_str())
    }
}

/// Whether the server sends the stanza on: routes it to the contact (Appendix A.2) or
/// delivers it to the user (A.3), with the RFC's keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// MUST.
    Must,
    /// SHOULD NOT ("S.N."): this implementation does not.
    ShouldNot,
    /// MUST NOT ("M.N.").
    MustNot,
}

impl Verdict {
    /// Does this implementation send it?
    pub const fn sends(self) -> bool {
        matches!(self, Verdict::Must)
    }
}

/// The new state a row gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Next {
    /// "no state change".
    Same,
    /// The state becomes this one.
    Become(SubState),
    /// "pre-approval": Table 4, note \[1\], handled by section 3.4.
    PreApproval,
}

/// One row of Appendix A.2 or A.3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Row {
    /// Route (outbound) or deliver (inbound)?
    pub send: Verdict,
    /// The new state.
    pub next: Next,
    /// The auto-reply the server sends on the user's behalf (A.3, Table 6 note \[2\] and
    /// Table 7 note \[1\]: SHOULD, which this implementation does).
    pub auto_reply: Option<SubscriptionType>,
}

const fn row(send: Verdict, next: Next) -> Row {
    Row {
        send,
        next,
        auto_reply: None,
    }
}

const fn reply(send: Verdict, next: Next, auto_reply: SubscriptionType) -> Row {
    Row {
        send,
        next,
        auto_reply: Some(auto_reply),
    }
}

/// A row of Appendix A.2: the server's processing of an outbound subscription stanza,
/// sent by the user, in the state `state`.
pub const fn outbound_row(kind: SubscriptionType, state: SubState) -> Row {
    use Next::{Become, PreApproval, Same};
    use SubState as S;
    use SubscriptionType as T;
    use Verdict::{Must, MustNot, ShouldNot};
    match (kind, state) {
        // Table 2 (A.2.1), outbound "subscribe": always routed; [1] a change to pending
        // out sets `ask`.
        (T::Subscribe, S::None) => row(Must, Become(S::NonePendingOut)),
        (T::Subscribe, S::NonePendingOut) => row(Must, Same),
        (T::Subscribe, S::NonePendingIn) => row(Must, Become(S::NonePendingOutIn)),
        (T::Subscribe, S::NonePendingOutIn) => row(Must, Same),
        (T::Subscribe, S::To) => row(Must, Same),
        (T::Subscribe, S::ToPendingIn) => row(Must, Same),
        (T::Subscribe, S::From) => row(Must, Become(S::FromPendingOut)),
        (T::Subscribe, S::FromPendingOut) => row(Must, Same),
        (T::Subscribe, S::Both) => row(Must, Same),
        // Table 3 (A.2.2), outbound "unsubscribe": always routed.
        (T::Unsubscribe, S::None) => row(Must, Same),
        (T::Unsubscribe, S::NonePendingOut) => row(Must, Become(S::None)),
        (T::Unsubscribe, S::NonePendingIn) => row(Must, Same),
        (T::Unsubscribe, S::NonePendingOutIn) => row(Must, Become(S::NonePendingIn)),
        (T::Unsubscribe, S::To) => row(Must, Become(S::None)),
        (T::Unsubscribe, S::ToPendingIn) => row(Must, Become(S::NonePendingIn)),
        (T::Unsubscribe, S::From) => row(Must, Same),
        (T::Unsubscribe, S::FromPendingOut) => row(Must, Become(S::From)),
        (T::Unsubscribe, S::Both) => row(Must, Become(S::From)),
        // Table 4 (A.2.3), outbound "subscribed": routed only as an answer to a request
        // in; [1] otherwise a pre-approval (section 3.4).
        (T::Subscribed, S::None) => row(MustNot, PreApproval),
        (T::Subscribed, S::NonePendingOut) => row(MustNot, PreApproval),
        (T::Subscribed, S::NonePendingIn) => row(Must, Become(S::From)),
        (T::Subscribed, S::NonePendingOutIn) => row(Must, Become(S::FromPendingOut)),
        (T::Subscribed, S::To) => row(MustNot, PreApproval),
        (T::Subscribed, S::ToPendingIn) => row(Must, Become(S::Both)),
        (T::Subscribed, S::From) => row(MustNot, Same),
        (T::Subscribed, S::FromPendingOut) => row(MustNot, Same),
        (T::Subscribed, S::Both) => row(MustNot, Same),
        // Table 5 (A.2.4), outbound "unsubscribed": [1] where it is not routed it cancels
        // a pre-approval (section 3.4).
        (T::Unsubscribed, S::None) => row(ShouldNot, Same),
        (T::Unsubscribed, S::NonePendingOut) => row(ShouldNot, Same),
        (T::Unsubscribed, S::NonePendingIn) => row(Must, Become(S::None)),
        (T::Unsubscribed, S::NonePendingOutIn) => row(Must, Become(S::NonePendingOut)),
        (T::Unsubscribed, S::To) => row(ShouldNot, Same),
        (T::Unsubscribed, S::ToPendingIn) => row(Must, Become(S::To)),
        (T::Unsubscribed, S::From) => row(Must, Become(S::None)),
        (T::Unsubscribed, S::FromPendingOut) => row(Must, Become(S::NonePendingOut)),
        (T::Unsubscribed, S::Both) => row(Must, Become(S::To)),
    }
}

/// A row of Appendix A.3: the server's processing of an inbound subscription stanza, sent
/// by the contact to the user, in the state `state`.
pub const fn inbound_row(kind: SubscriptionType, state: SubState) -> Row {
    use Next::{Become, Same};
    use SubState as S;
    use SubscriptionType as T;
    use Verdict::{Must, ShouldNot};
    match (kind, state) {
        // Table 6 (A.3.1), inbound "subscribe". [1] a pre-approval answers it instead
        // (handled by `inbound`, section 3.4); [2] the contact is already subscribed: the
        // server SHOULD auto-reply "subscribed".
        (T::Subscribe, S::None) => row(Must, Become(S::NonePendingIn)),
        (T::Subscribe, S::NonePendingOut) => row(Must, Become(S::NonePendingOutIn)),
        (T::Subscribe, S::NonePendingIn) => row(ShouldNot, Same),
        (T::Subscribe, S::NonePendingOutIn) => row(ShouldNot, Same),
        (T::Subscribe, S::To) => row(Must, Become(S::ToPendingIn)),
        (T::Subscribe, S::ToPendingIn) => row(ShouldNot, Same),
        (T::Subscribe, S::From) => reply(ShouldNot, Same, T::Subscribed),
        (T::Subscribe, S::FromPendingOut) => reply(ShouldNot, Same, T::Subscribed),
        (T::Subscribe, S::Both) => reply(ShouldNot, Same, T::Subscribed),
        // Table 7 (A.3.2), inbound "unsubscribe": delivered where it changes the state,
        // [1] with an auto-reply "unsubscribed".
        (T::Unsubscribe, S::None) => row(ShouldNot, Same),
        (T::Unsubscribe, S::NonePendingOut) => row(ShouldNot, Same),
        (T::Unsubscribe, S::NonePendingIn) => reply(Must, Become(S::None), T::Unsubscribed),
        (T::Unsubscribe, S::NonePendingOutIn) => {
            reply(Must, Become(S::NonePendingOut), T::Unsubscribed)
        }
        (T::Unsubscribe, S::To) => row(ShouldNot, Same),
        (T::Unsubscribe, S::ToPendingIn) => reply(Must, Become(S::To), T::Unsubscribed),
        (T::Unsubscribe, S::From) => reply(Must, Become(S::None), T::Unsubscribed),
        (T::Unsubscribe, S::FromPendingOut) => {
            reply(Must, Become(S::NonePendingOut), T::Unsubscribed)
        }
        (T::Unsubscribe, S::Both) => reply(Must, Become(S::To), T::Unsubscribed),
        // Table 8 (A.3.3), inbound "subscribed": only an answer to a request out counts.
        (T::Subscribed, S::None) => row(ShouldNot, Same),
        (T::Subscribed, S::NonePendingOut) => row(Must, Become(S::To)),
        (T::Subscribed, S::NonePendingIn) => row(ShouldNot, Same),
        (T::Subscribed, S::NonePendingOutIn) => row(Must, Become(S::ToPendingIn)),
        (T::Subscribed, S::To) => row(ShouldNot, Same),
        (T::Subscribed, S::ToPendingIn) => row(ShouldNot, Same),
        (T::Subscribed, S::From) => row(ShouldNot, Same),
        (T::Subscribed, S::FromPendingOut) => row(Must, Become(S::Both)),
        (T::Subscribed, S::Both) => row(ShouldNot, Same),
        // Table 9 (A.3.4), inbound "unsubscribed": a request out denied or a subscription
        // cancelled.
        (T::Unsubscribed, S::None) => row(ShouldNot, Same),
        (T::Unsubscribed, S::NonePendingOut) => row(Must, Become(S::None)),
        (T::Unsubscribed, S::NonePendingIn) => row(ShouldNot, Same),
        (T::Unsubscribed, S::NonePendingOutIn) => row(Must, Become(S::NonePendingIn)),
        (T::Unsubscribed, S::To) => row(Must, Become(S::None)),
        (T::Unsubscribed, S::ToPendingIn) => row(Must, Become(S::NonePendingIn)),
        (T::Unsubscribed, S::From) => row(ShouldNot, Same),
        (T::Unsubscribed, S::FromPendingOut) => row(Must, Become(S::From)),
        (T::Unsubscribed, S::Both) => row(Must, Become(S::From)),
    }
}

/// The state after the user sends `kind` in `state`, by [`outbound_row`], with the
/// pre-approval of section 3.4 taken as what it is: no state change. A pure function of
/// the tables, for checking sequences.
pub const fn after_outbound(kind: SubscriptionType, state: SubState) -> SubState {
    match outbound_row(kind, state).next {
        Next::Become(s) => s,
        Next::Same | Next::PreApproval => state,
    }
}

/// The state after the contact sends `kind` in `state`, by [`inbound_row`].
pub const fn after_inbound(kind: SubscriptionType, state: SubState) -> SubState {
    match inbound_row(kind, state).next {
        Next::Become(s) => s,
        Next::Same | Next::PreApproval => state,
    }
}

/// Policy choices the RFC leaves to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Does the server support pre-approval (section 3.4, optional; it then advertises
    /// `<sub xmlns='urn:xmpp:features:pre-approval'/>`)? Default `true`.
    pub preapproval: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy { preapproval: true }
    }
}

/// A presence the server writes on the user's behalf: `from` the user's bare JID `to` the
/// contact's, with the id of the stanza it answers (as section 3.1.3's example does).
fn presence_on_behalf(
    user: &BareJid,
    contact: &BareJid,
    type_: PresenceType,
    id: Option<&str>,
) -> OutStanza {
    let mut out = BytesMut::new();
    let mut b = PresenceBuilder::new()
        .from(user.as_jid())
        .to(contact.as_jid())
        .type_(type_);
    if let Some(id) = id {
        b = b.id(id);
    }
    b.write(&mut out);
    OutStanza::Built(out.freeze())
}

/// The presence of each available session, sent to `contact` (`from` the session's full
/// JID): the user's current presence after an approval (section 3.1.5), or unavailable
/// presence after a subscription ends (sections 3.2.2, 3.3.3).
pub(crate) fn presence_of_sessions(
    account: &Account<'_>,
    contact: &BareJid,
    unavailable: bool,
) -> Vec<Output> {
    account
        .sessions
        .iter()
        .filter_map(|s| s.presence.as_ref().map(|p| (s, p)))
        .map(|(s, el)| {
            let stanza = if unavailable {
                let mut out = BytesMut::new();
                PresenceBuilder::new()
                    .from(s.jid.as_jid())
                    .to(contact.as_jid())
                    .type_(PresenceType::Unavailable)
                    .write(&mut out);
                OutStanza::Built(out.freeze())
            } else {
                OutStanza::Element(
                    el.with_attr("from", s.jid.as_str())
                        .with_attr("to", contact.as_str()),
                )
            };
            Output::Route {
                to: contact.as_jid().clone(),
                stanza,
            }
        })
        .collect()
}

/// Store or forget `new`, and push it to the interested resources when it is (or was) in
/// the roster, if it changed.
fn record_change(account: &Account<'_>, old: &Contact, new: Contact, out: &mut Vec<Output>) {
    if *old == new {
        return;
    }
    let push = new.in_roster();
    if new.is_empty() {
        out.push(Output::Forget(new.jid.clone()));
    } else {
        out.push(Output::Store(new.clone()));
    }
    if push {
        for s in account.interested() {
            out.push(Output::Push {
                session: s.jid.clone(),
                change: RosterChange::Set(new.clone()),
            });
        }
    }
}

/// The server's decision for a subscription stanza of type `kind` that the user sent to
/// `contact` (section 3, Appendix A.2). `record` is the stored contact (`None`: unknown),
/// `stanza` the presence as the user's session sent it (its `to` may be a full JID: section
/// 3.1.2 rule 1 reduces it to `contact`).
///
/// The outputs, in order: when the stanza cancels the contact's subscription, unavailable
/// presence from each available session, sent while the contact is still subscribed
/// (3.2.2); the stanza routed to the contact, stamped `from` the user's bare JID (3.1.2);
/// the record written and pushed (3.1.2, 3.1.5, 3.2.2, 3.3.2); after an approval the
/// current presence of each available session (3.1.5).
pub fn outbound(
    account: &Account<'_>,
    contact: &BareJid,
    record: Option<&Contact>,
    kind: SubscriptionType,
    stanza: &Stanza,
    policy: Policy,
) -> Vec<Output> {
    let old = record
        .cloned()
        .unwrap_or_else(|| Contact::unknown(contact.clone()));
    let state = old.state.state();
    let row = outbound_row(kind, state);
    let mut new = old.clone();
    let mut out = Vec::new();
    match row.next {
        Next::Become(s) => new.state = old.state.with_state(s),
        Next::Same => {}
        Next::PreApproval if policy.preapproval => {
            // Section 3.4.2, rules 3 and 4: note the pre-approval, creating the item if
            // there is none; never route the stanza.
            new.state = ContactState {
                state,
                approved: true,
            };
            new.item.get_or_insert_with(ItemInfo::default);
        }
        Next::PreApproval => {}
    }
    if kind == SubscriptionType::Unsubscribed && !row.send.sends() {
        // Table 5 note [1], section 3.4.2's implementation note: "unsubscribed" cancels a
        // pre-approval.
        new.state = ContactState::plain(new.state.state());
    }
    // The user's own requests and approvals put the contact in the roster (3.1.2: the push
    // carries the potential contact; 3.1.3: the item is created once the user approves).
    if matches!(
        kind,
        SubscriptionType::Subscribe | SubscriptionType::Subscribed
    ) && row.send.sends()
    {
        new.item.get_or_insert_with(ItemInfo::default);
    }
    let cancels = kind == SubscriptionType::Unsubscribed && state.subscription().has_from();
    if row.send.sends() && cancels {
        // Section 3.2.2: "While the user is still subscribed to the contact's presence
        // (i.e., before the contact's server routes or delivers the presence stanza of type
        // "unsubscribed" to the user), the contact's server MUST send a presence stanza of
        // type "unavailable"": once the "unsubscribed" has reached the contact's server it
        // no longer takes presence from the user.
        out.extend(presence_of_sessions(account, contact, true));
    }
    if row.send.sends() {
        let stamped = stanza
            .element()
            .with_attr("from", account.jid.as_str())
            .with_attr("to", contact.as_str());
        out.push(Output::Route {
            to: contact.as_jid().clone(),
            stanza: OutStanza::Element(stamped),
        });
    }
    record_change(account, &old, new, &mut out);
    if row.send.sends() && kind == SubscriptionType::Subscribed {
        out.extend(presence_of_sessions(account, contact, false));
    }
    out
}

/// The server's decision for a subscription stanza of type `kind` that `contact` sent to
/// the user (section 3, Appendix A.3). `record` is the stored contact (`None`: unknown).
///
/// A `subscribed`, `unsubscribe` or `unsubscribed` to a full JID that matches none of the
/// account's sessions is ignored (section 8.5.3.2.2).
///
/// The outputs, in order: the stanza delivered (to every available session for a request,
/// 3.1.3 rule 3, deferred when there is none, rule 4; to the interested sessions
/// otherwise, 3.1.6, 3.2.3, 3.3.3), before the record written and pushed; after the
/// contact unsubscribed, unavailable presence from each available session (3.3.3 rule 3),
/// before the auto-reply `unsubscribed` (a cancellation, which 3.2.2 orders so); the
/// auto-reply. A request the user pre-approved is answered on the user's behalf and
/// not delivered (3.4.2).
pub fn inbound(
    account: &Account<'_>,
    contact: &BareJid,
    record: Option<&Contact>,
    kind: SubscriptionType,
    stanza: &Stanza,
) -> Vec<Output> {
    use SubscriptionType as T;
    if kind != T::Subscribe {
        // Section 8.5.3.2.2: "subscribed", "unsubscribe" and "unsubscribed" to a full JID
        // that matches no resource of the account are ignored (a request is treated as
        // sent to the bare JID, 3.1.3).
        if let Ok(Some(to)) = stanza.to() {
            if let Ok(full) = crate::jid::FullJid::try_from(to) {
                if account.session(&full).is_none() {
                    return Vec::new();
                }
            }
        }
    }
    let old = record
        .cloned()
        .unwrap_or_else(|| Contact::unknown(contact.clone()));
    let state = old.state.state();
    let id = stanza.id();
    let mut out = Vec::new();
    let mut new = old.clone();
    let mut row = inbound_row(kind, state);
    if kind == T::Subscribe && old.state.approved() {
        // Section 3.4.2: with a pre-approval the server answers "subscribed" itself and the
        // state moves as for the user's approval (Table 6 note [1]).
        row = Row {
            send: Verdict::MustNot,
            next: Next::Become(after_outbound(T::Subscribed, after_inbound(kind, state))),
            auto_reply: Some(T::Subscribed),
        };
    } else if kind == T::Unsubscribe && state == SubState::NonePendingIn && !old.in_roster() {
        // Section 3.3.3: a request noted without a roster item is simply forgotten;
        // nothing is delivered and there is nothing to push.
        row = Row {
            send: Verdict::ShouldNot,
            next: Next::Become(SubState::None),
            auto_reply: None,
        };
    }
    if let Next::Become(s) = row.next {
        new.state = old.state.with_state(s);
    }
    if row.send.sends() {
        // Section 3.1.3: a `to` with a resource is treated as the bare JID.
        let el = if stanza.element().attr("to").as_deref() == Some(account.jid.as_str()) {
            stanza.element().clone()
        } else {
            stanza.element().with_attr("to", account.jid.as_str())
        };
        let targets: Vec<_> = if kind == T::Subscribe {
            account.available().collect()
        } else {
            account.interested().collect()
        };
        if targets.is_empty() && kind == T::Subscribe {
            out.push(Output::Defer(OutStanza::Element(el)));
        } else {
            for s in targets {
                out.push(Output::Deliver {
                    session: s.jid.clone(),
                    stanza: OutStanza::Element(el.clone()),
                });
            }
        }
    }
    record_change(account, &old, new, &mut out);
    if kind == T::Unsubscribe && state.subscription().has_from() {
        // Section 3.3.3 rule 3, before the auto-reply: an "unsubscribed" is a cancellation,
        // which 3.2.2 wants preceded by the unavailable presence.
        out.extend(presence_of_sessions(account, contact, true));
    }
    if let Some(reply) = row.auto_reply {
        out.push(Output::Route {
            to: contact.as_jid().clone(),
            stanza: presence_on_behalf(account.jid, contact, reply.presence_type(), id.as_deref()),
        });
    }
    if kind == T::Subscribe && old.state.approved() {
        // The pre-approval was an approval: the contact gets the user's current presence,
        // as after any approval (section 3.1.5).
        out.extend(presence_of_sessions(account, contact, false));
    }
    out
}
