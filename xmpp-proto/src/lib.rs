//! A sans-IO XMPP protocol core (RFC 6120, RFC 6121, RFC 7622).
//!
//! The core consumes bytes and produces events and bytes to send; the embedder owns the
//! sockets, TLS, the clock and randomness. Layers, bottom up:
//!
//! - [`xml`]: the resumable restricted-XML stream parser, element tree and serializer;
//! - [`jid`]: addresses (RFC 7622);
//! - [`error`]: the stream, stanza and SASL errors of RFC 6120;
//! - [`stanza`]: message, presence and iq views, their rules and builders (RFC 6120
//!   section 8);
//! - [`sasl`]: SASL authentication (RFC 6120 section 6): PLAIN, SCRAM with and without
//!   channel binding, EXTERNAL and ANONYMOUS, client and server;
//! - [`stream`]: what every role shares about the stream: headers, features, ids, and its
//!   framing on the transport ([`stream::Framing`]: TCP, or WebSocket per RFC 7395 for the
//!   c2s roles, where the embedder runs the WebSocket protocol and each `handle_input` is
//!   one whole text message, each `poll_transmit` one);
//! - [`client`]: the c2s client role as a state machine;
//! - [`server`]: the c2s server role (receiving entity) as a state machine;
//! - [`component`]: the gateway role, XEP-0114, both sides;
//! - [`dialback`]: Server Dialback keys (XEP-0220, XEP-0185), for server-to-server streams;
//! - [`s2s`]: the server-to-server roles, initiating and receiving, with STARTTLS, SASL
//!   EXTERNAL and dialback;
//! - [`connection`]: the trait every role implements, for a driver written once;
//! - [`im`]: the instant-messaging layer of RFC 6121 (subscriptions, rosters, presence,
//!   delivery rules) as pure decisions over what the embedder stores.
//!
//! # Features
//!
//! All on by default. With none, the crate is the parser ([`xml`]) and the stream and SASL
//! error vocabulary ([`error`]), on `bytes` and `memchr` alone. `jid` adds addresses,
//! stanzas and stanza errors (PRECIS, IDNA); `sasl` the SASL mechanisms (RustCrypto);
//! `client`, `server` and `component` each their role (`server` also the s2s roles), with
//! the stream engine and the [`Connection`](connection::Connection) trait (they need `jid`
//! and `sasl`); `im` the instant-messaging decisions of RFC 6121 (it needs `jid`).
//!
//! # Feeding input and memory
//!
//! One `handle_input` call processes all the bytes it is given: the core has nowhere to put
//! back what it has not read. Everything those bytes complete waits in the role until the
//! embedder takes it: each event (a stanza event holds its [`xml::Element`]) until
//! `poll_event`, each answer the role writes itself (a `jid-malformed` stanza error, an iq
//! result) until `poll_transmit`. The size of each call therefore bounds these queues, and the
//! embedder chooses it. Keep them small:
//!
//! - read from the socket into a fixed buffer of 4 to 16 KiB (a TLS record carries at most
//!   16 KiB) and pass each read to `handle_input` as it comes;
//! - after each call, drain `poll_transmit` and `poll_event` completely, and handle or drop
//!   each event, before reading again;
//! - wait for input no longer than `poll_timeout` says, and call `handle_timeout` when that
//!   time has come.
//!
//! The queues then never hold more than *read size × F* bytes, with F the factor below, and
//! what they hold is freed before the next read. Fed 25 MB of `<presence/>` in one call, a
//! server queues 750 MB of events; fed the same bytes in 16 KiB reads, at most 404 KiB.
//!
//! **Where the bytes go.** Per queued stanza: one slot of the event queue, the size of the
//! event enum (88 bytes for [`server::ServerEvent`], [`client::ClientEvent`] and
//! [`component::ComponentEvent`], whose rare large variants are boxed), up to twice that
//! while the queue has just doubled; and the
//! element, in one allocation: its raw bytes, 32 bytes per element or text node, 28 per
//! attribute, and the namespace names it had to decode (a namespace the peer's stream header
//! declared is shared with the header, never copied). The server adds the `from` it stamps:
//! 32 bytes and the full JID. The smallest stanza, `<iq/>`, is 5 bytes, so the most one call can queue per
//! input byte is about:
//!
//! - [`server::Server`]: (2 × 88 + 37 + 32 + *J*) / 5 for a full JID of *J* bytes: 56 for a
//!   35-byte JID, 254 with a 1023-byte resource (the embedder decides which resources it
//!   binds, [`server::ServerEvent::BindRequest`]);
//! - [`client::Client`] and [`component::Component`]: (2 × 88 + 37) / 5 = 43;
//! - [`component::ComponentServer`]: 12 for a 10-byte component domain, since every stanza
//!   must carry a `from` in that domain and a `to` (`<iq from='gw.example' to='a'/>`).
//!
//! A peer whose header binds a prefix to a long namespace name, used by every stanza
//! (`<iq p:a=''/>`), once made each element carry a copy of the name (about 700 bytes per
//! input byte with an 8 KiB header); elements now share the header's buffer instead.
//!
//! Over WebSocket ([`stream::Framing::WebSocket`]) a call is one message, which is one
//! element: it queues the few events and answers one element makes, so the queues hold one
//! element's worth; the message itself is bounded by the element limit (refused at the
//! limit, never copied), and the WebSocket library's own limit on messages should be no
//! larger.
//!
//! Before it is online a role queues no stanzas: each negotiation step reports one or two
//! events and waits for the embedder, and the server closes the stream after
//! `max_auth_attempts` failures. All of this comes beside what the parser holds for one
//! element in progress, which [`xml::Limits`] bounds. Draining frees the elements, the
//! written bytes (each `poll_transmit` hands over the whole output buffer) and an event
//! queue that a burst made grow past 16 slots; the rest of a session's scratch memory (the
//! parser's buffers, a small queue) goes back once it has been idle for a minute, at the
//! keepalive or, without one, at a silent idle timer: an idle online server session then
//! holds about 400 bytes of heap (`benches/README.md`, "Sessions").
//!
//! **Measured**, with event slots of 120 bytes (server, component) and 160 (client), before
//! their rare large variants were boxed (so today's figures are lower, within the bounds
//! above), with a throwaway program outside the repository: a global allocator that
//! counts the bytes requested (not the allocator's own overhead), each role driven online
//! through the public API as `tests/roles.rs` does, then fed 1 MB and 4 MB of one stanza
//! repeated, in one call and in 4 KiB and 16 KiB reads drained after each. The queues' peak
//! per input byte was the same in one call and in reads (in 4 KiB reads the peak is a quarter
//! of the 16 KiB one); it moves with how full the queue is since it last doubled, up to the
//! bounds above (30.1 for the 25 MB of `<presence/>`, of which 22.5 resident).
//!
//! | role | input | per byte | peak, 16 KiB reads |
//! | --- | --- | --- | --- |
//! | `Server` | `<presence/>` | 25.7 | 404 KiB |
//! | `Server` | `<iq/>` | 52.3 | 816 KiB |
//! | `Server`, bound with a 1023-byte resource | `<iq/>` | 254 | 3.9 MiB |
//! | `Server` | `<iq to='@'/>` (answered with `jid-malformed`, no event) | 11.3 | 179 KiB |
//! | `Client` | `<presence/>`, `<iq/>` | 24.9, 49.3 | 386 KiB, 762 KiB |
//! | `Component` | `<presence/>`, `<iq/>` | 19.6, 38.9 | 306 KiB, 602 KiB |
//! | `ComponentServer` | `<iq from='gw.example' to='a'/>` | 11.8 | 187 KiB |
//!
//! `tests/queues.rs` checks the part that needs no allocator: drained after each 16 KiB read,
//! a server never has more events waiting than one read can complete, and the events are the
//! same, in the same order, as when the input comes in one call.
// One `unsafe` block, in `xml::element::text_at`: reading a span of an element as `str`
// without checking again the UTF-8 that the parser checked (issue 13, measured in
// benches/README.md). Nothing else may use `unsafe`.
#![deny(unsafe_code)]
#![deny(missing_docs)]
// The crate docs link every layer; with features off, some are not there.
#![cfg_attr(
    not(all(
        feature = "jid",
        feature = "sasl",
        feature = "client",
        feature = "server",
        feature = "component",
        feature = "im"
    )),
    allow(rustdoc::broken_intra_doc_links)
)]

/// The `bytes` crate, whose [`Bytes`](bytes::Bytes) and [`BytesMut`](bytes::BytesMut) the
/// core's API takes and gives: use this re-export to stay on the same version.
pub use bytes;

#[cfg(feature = "client")]
pub mod client;
#[cfg(feature = "component")]
pub mod component;
#[cfg(any(feature = "client", feature = "server", feature = "component"))]
pub mod connection;
#[cfg(feature = "server")]
pub mod dialback;
pub mod error;
#[cfg(feature = "im")]
pub mod im;
#[cfg(feature = "jid")]
pub mod jid;
// Each role runs some of the steps and uses some of the engine: with only some roles on,
// the others' parts are left unused, not removed one by one.
#[cfg(any(feature = "client", feature = "server", feature = "component"))]
#[cfg_attr(
    not(all(feature = "client", feature = "server", feature = "component")),
    allow(dead_code, unused_imports)
)]
mod negotiate;
#[cfg(feature = "server")]
pub mod s2s;
#[cfg(feature = "sasl")]
pub mod sasl;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "jid")]
pub mod stanza;
#[cfg(any(feature = "client", feature = "server", feature = "component"))]
#[cfg_attr(
    not(all(feature = "client", feature = "server", feature = "component")),
    allow(dead_code, unused_imports)
)]
pub mod stream;
pub mod xml;
