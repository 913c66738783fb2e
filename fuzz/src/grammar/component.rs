//! The XEP-0114 targets, both sides: `component_grammar` (our component, its peer a
//! server) and `component_server_grammar` (our server side, its peer a component).

use super::c2s::*;
use super::*;
use std::collections::VecDeque;
use std::time::Instant;

use arbitrary::Arbitrary;
use xmpp_sansio::component::{
    Component, ComponentConfig, ComponentEvent, ComponentServer, ComponentServerConfig,
};
use xmpp_sansio::xml::Element;

const COMPONENT: &str = "plays.shakespeare.lit";
const COMPONENT_NS: &str = "jabber:component:accept";

/// A stanza on a component stream.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum ComponentStanza {
    /// From the component's domain.
    Ours,
    /// From another domain.
    OtherFrom,
    /// Without `from`.
    NoFrom,
    /// Without `to`.
    NoTo,
    /// An iq get.
    Iq,
    /// An unknown element.
    Unknown,
}

fn component_stanza(kind: ComponentStanza, n: u32) -> String {
    match kind {
        ComponentStanza::Ours => format!(
            "<message from='bot@{COMPONENT}' to='juliet@example.com' id='p{n}'><body>hi</body></message>"
        ),
        ComponentStanza::OtherFrom => {
            format!("<message from='bot@evil.example' to='juliet@example.com' id='p{n}'/>")
        }
        ComponentStanza::NoFrom => format!("<message to='juliet@example.com' id='p{n}'/>"),
        ComponentStanza::NoTo => format!("<presence from='{COMPONENT}' id='p{n}'/>"),
        ComponentStanza::Iq => format!(
            "<iq type='get' from='juliet@example.com/b' to='{COMPONENT}' id='p{n}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>"
        ),
        ComponentStanza::Unknown => format!("<frob xmlns='urn:example' id='p{n}'/>"),
    }
}

/// What the server peer of the component target sends.
#[derive(Arbitrary, Debug, Clone)]
pub enum ComponentItem {
    /// A stream header: with the id or without, the right `from` or not.
    Header(Header, bool),
    /// `<handshake/>`: success.
    HandshakeOk,
    /// `<handshake>` with content (not what a server sends).
    HandshakeText,
    /// A stanza.
    Stanza(ComponentStanza),
}

/// The component embedder's decisions.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum ComponentAction {
    /// Open.
    Open,
    /// Send a stanza.
    Send,
}

/// The component target: our component, a server peer.
pub struct ComponentRole {
    core: Component,
    opened: bool,
    queue: VecDeque<Vec<u8>>,
    online: bool,
    n: u32,
}

impl Role for ComponentRole {
    type Core = Component;
    type Item = ComponentItem;
    type Action = ComponentAction;

    fn core(&mut self) -> &mut Component {
        &mut self.core
    }

    fn render(&mut self, item: &ComponentItem, _: &View) -> Vec<u8> {
        match item {
            ComponentItem::Header(h, id) => {
                let id = id.then_some("3BF96D75");
                h.render(false, COMPONENT_NS, "from", COMPONENT, id)
                    .into_bytes()
            }
            ComponentItem::HandshakeOk => b"<handshake/>".to_vec(),
            ComponentItem::HandshakeText => b"<handshake>0000</handshake>".to_vec(),
            ComponentItem::Stanza(kind) => {
                self.n += 1;
                component_stanza(*kind, self.n).into_bytes()
            }
        }
    }

    fn act(&mut self, action: &ComponentAction, now: Instant, id: &str) -> bool {
        match action {
            ComponentAction::Open => {
                self.opened = true;
                let _ = self.core.open(now);
            }
            ComponentAction::Send => {
                let xml = format!(
                    "<message from='bot@{COMPONENT}' to='juliet@example.com' id='{id}'><body>hi</body></message>"
                );
                return self.core.send(now, &el(COMPONENT_NS, &xml)).is_ok();
            }
        }
        false
    }

    fn observe(&mut self, e: &Element, _: &View) {
        if e.name() == "handshake" {
            self.queue.push_back(b"<handshake/>".to_vec());
        }
    }

    fn observe_header(&mut self, _: &View) {
        self.queue.push_back(
            Header::RIGHT
                .render(false, COMPONENT_NS, "from", COMPONENT, Some("3BF96D75"))
                .into_bytes(),
        );
    }

    fn on_event(&mut self, ev: &ComponentEvent) -> Milestone {
        component_milestone(ev, &mut self.online)
    }

    fn next(&mut self, _: &View) -> Move<ComponentAction> {
        if !self.opened {
            return Move::Act(ComponentAction::Open);
        }
        if let Some(b) = self.queue.pop_front() {
            return Move::Peer(b);
        }
        if self.online {
            self.n += 1;
            return Move::Peer(component_stanza(ComponentStanza::Iq, self.n).into_bytes());
        }
        Move::Idle
    }
}

fn component_milestone(ev: &ComponentEvent, online: &mut bool) -> Milestone {
    match ev {
        ComponentEvent::StreamOpened => Milestone::Opened,
        ComponentEvent::Authenticated(_) => Milestone::Authenticated,
        ComponentEvent::Online(_) => {
            *online = true;
            Milestone::Online
        }
        ComponentEvent::Closed(_) => Milestone::Closed,
        _ => Milestone::None,
    }
}

/// The `component_grammar` target; returns whether the session got online.
pub fn component_grammar(data: &[u8]) -> bool {
    let Some(script) = decode::<(), ComponentItem, ComponentAction>(data) else {
        return false;
    };
    let domain = COMPONENT.parse().expect("a domain");
    let mut role = ComponentRole {
        core: Component::new(ComponentConfig::new(domain, "sesame"), 9, Instant::now()),
        opened: false,
        queue: VecDeque::new(),
        online: false,
        n: 0,
    };
    run(&mut role, false, &script.steps)
}

/// What the component peer of the component-server target sends.
#[derive(Arbitrary, Debug, Clone)]
pub enum ComponentServerItem {
    /// A stream header.
    Header(Header),
    /// The handshake: the right digest, a digest with one digit changed, of another
    /// stream id, of another secret, empty, upper case.
    Handshake(Handshake),
    /// A stanza.
    Stanza(ComponentStanza),
}

/// A handshake digest variant.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Handshake {
    /// The right one.
    Right,
    /// One digit changed.
    OneDigit,
    /// Of another stream id.
    OtherId,
    /// Of another secret.
    OtherSecret,
    /// Empty.
    Empty,
    /// The right one in upper case.
    Upper,
}

/// The component-server embedder's decisions.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum ComponentServerAction {
    /// Send a stanza to the component.
    Send,
}

/// The component-server target: our server side of XEP-0114, a component peer.
pub struct ComponentServerRole {
    core: ComponentServer,
    header_due: bool,
    queue: VecDeque<Vec<u8>>,
    online: bool,
    n: u32,
}

/// The digest a component computes for this stream id and secret: a shadow [`Component`]
/// given the header reads it out (the library keeps the SHA-1 to itself).
fn digest(stream_id: &str, secret: &str) -> String {
    let now = Instant::now();
    let domain = COMPONENT.parse().expect("a domain");
    let mut shadow = Component::new(ComponentConfig::new(domain, secret), 1, now);
    let _ = shadow.open(now);
    while shadow.poll_transmit().is_some() {}
    let header = Header::RIGHT.render(false, COMPONENT_NS, "from", COMPONENT, Some(stream_id));
    let _ = shadow.handle_input(now, header.as_bytes());
    let mut out = Vec::new();
    while let Some(b) = shadow.poll_transmit() {
        out.extend_from_slice(&b);
    }
    let out = String::from_utf8_lossy(&out);
    out.split("<handshake>")
        .nth(1)
        .and_then(|s| s.split("</handshake>").next())
        .unwrap_or("")
        .to_owned()
}

impl Role for ComponentServerRole {
    type Core = ComponentServer;
    type Item = ComponentServerItem;
    type Action = ComponentServerAction;

    fn core(&mut self) -> &mut ComponentServer {
        &mut self.core
    }

    fn render(&mut self, item: &ComponentServerItem, view: &View) -> Vec<u8> {
        let id = view.stream_id.clone().unwrap_or_default();
        match item {
            ComponentServerItem::Header(h) => {
                self.header_due = false;
                h.render(false, COMPONENT_NS, "to", COMPONENT, None)
                    .into_bytes()
            }
            ComponentServerItem::Handshake(kind) => {
                let d = match kind {
                    Handshake::Right => digest(&id, "sesame"),
                    Handshake::OneDigit => {
                        let mut d = digest(&id, "sesame").into_bytes();
                        if let Some(b) = d.first_mut() {
                            *b = if *b == b'0' { b'1' } else { b'0' };
                        }
                        String::from_utf8_lossy(&d).into_owned()
                    }
                    Handshake::OtherId => digest("other", "sesame"),
                    Handshake::OtherSecret => digest(&id, "open"),
                    Handshake::Empty => String::new(),
                    Handshake::Upper => digest(&id, "sesame").to_uppercase(),
                };
                format!("<handshake>{d}</handshake>").into_bytes()
            }
            ComponentServerItem::Stanza(kind) => {
                self.n += 1;
                component_stanza(*kind, self.n).into_bytes()
            }
        }
    }

    fn act(&mut self, _: &ComponentServerAction, now: Instant, id: &str) -> bool {
        let xml = format!(
            "<message from='juliet@example.com/b' to='bot@{COMPONENT}' id='{id}'><body>hi</body></message>"
        );
        self.core.send(now, &el(COMPONENT_NS, &xml)).is_ok()
    }

    fn observe(&mut self, _: &Element, _: &View) {}

    fn observe_header(&mut self, view: &View) {
        let id = view.stream_id.clone().unwrap_or_default();
        self.queue
            .push_back(format!("<handshake>{}</handshake>", digest(&id, "sesame")).into_bytes());
    }

    fn on_event(&mut self, ev: &ComponentEvent) -> Milestone {
        component_milestone(ev, &mut self.online)
    }

    fn next(&mut self, _: &View) -> Move<ComponentServerAction> {
        if self.header_due {
            self.header_due = false;
            return Move::Peer(
                Header::RIGHT
                    .render(false, COMPONENT_NS, "to", COMPONENT, None)
                    .into_bytes(),
            );
        }
        if let Some(b) = self.queue.pop_front() {
            return Move::Peer(b);
        }
        if self.online {
            self.n += 1;
            return Move::Peer(component_stanza(ComponentStanza::Ours, self.n).into_bytes());
        }
        Move::Idle
    }
}

/// The `component_server_grammar` target; returns whether the session got online.
pub fn component_server_grammar(data: &[u8]) -> bool {
    let Some(script) = decode::<(), ComponentServerItem, ComponentServerAction>(data) else {
        return false;
    };
    let domain = COMPONENT.parse().expect("a domain");
    let mut config = ComponentServerConfig::new(domain, "sesame");
    config.stream_id = Some("3BF96D75".into());
    let mut role = ComponentServerRole {
        core: ComponentServer::new(config, 0, Instant::now()),
        header_due: true,
        queue: VecDeque::new(),
        online: false,
        n: 0,
    };
    run(&mut role, false, &script.steps)
}
