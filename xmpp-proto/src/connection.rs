//! One trait for every role, so that an embedder writes its driver once: the loop of RFC
//! 6120's stream (bytes in, bytes out, events, time) is the same whichever side of which
//! stream a role plays.
//!
//! [`Connection`] is implemented by [`Client`](crate::client::Client),
//! [`Server`](crate::server::Server), [`Component`](crate::component::Component),
//! [`ComponentServer`](crate::component::ComponentServer), [`S2sOut`](crate::s2s::S2sOut)
//! and [`S2sIn`](crate::s2s::S2sIn). It covers what every role has:
//! input, the end of input, the three queues in their drain order (`poll_transmit`, then
//! `poll_event`, then `poll_timeout`, see ARCHITECTURE.md), timers, sending and closing.
//! Every method that can write or arm a timer takes `now`. What only one role asks (TLS,
//! credentials, binding) stays on the role: a generic driver hands each event to code that
//! knows the role, as below.
//!
//! ```
//! use std::time::Instant;
//! use xmpp_sansio::connection::{Connection, RoleError, RoleEvent};
//!
//! /// Feeds one read and drains everything it produced; `answer` handles each event.
//! fn feed<C: Connection>(
//!     core: &mut C,
//!     read: &[u8],
//!     wire: &mut Vec<u8>,
//!     mut answer: impl FnMut(&mut C, &C::Event),
//! ) {
//!     if let Err(e) = core.handle_input(Instant::now(), read) {
//!         assert!(!e.is_stream_ended(), "input after the end is ignored, never refused");
//!     }
//!     while let Some(bytes) = core.poll_transmit() {
//!         wire.extend_from_slice(&bytes);
//!     }
//!     while let Some(event) = core.poll_event() {
//!         if let Some(reason) = event.close_reason() {
//!             println!("over: {reason:?}");
//!         }
//!         answer(core, &event);
//!         while let Some(bytes) = core.poll_transmit() {
//!             wire.extend_from_slice(&bytes);
//!         }
//!     }
//! }
//!
//! # use xmpp_sansio::server::{Server, ServerConfig};
//! let mut server = Server::new(ServerConfig::new("example.com", b"secret".to_vec()), 7, Instant::now());
//! let mut wire = Vec::new();
//! feed(&mut server, b"<stream:stream xmlns='jabber:client' \
//!     xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>",
//!     &mut wire, |_, _| {});
//! assert!(wire.starts_with(b"<?xml version='1.0'?><stream:stream"));
//! ```

use std::time::Instant;

use bytes::Bytes;

use crate::error::{StanzaErrorCondition, StreamError};
use crate::stanza::Stanza;
use crate::stream::CloseReason;
use crate::xml::{Element, Writer};

/// One side of one stream, driven by its embedder: what every role has.
///
/// Each method is the role's own, with the same name and meaning; the role's documentation
/// says more (for example [`Client::send`](crate::client::Client::send)).
pub trait Connection {
    /// What the role reports.
    type Event: RoleEvent;
    /// Why a call did nothing.
    type Error: RoleError;

    /// Bytes received from the peer, at time `now`; once the stream is over, ignored. With
    /// WebSocket framing ([`Framing`](crate::stream::Framing), RFC 7395) each call is the
    /// whole payload of one text message, and each
    /// [`poll_transmit`](Self::poll_transmit) one message to send.
    ///
    /// # Errors
    ///
    /// Misuse only ([`RoleError::is_misuse`]): input before the stream is opened, or while
    /// TLS is being set up (then discarded).
    fn handle_input(&mut self, now: Instant, data: &[u8]) -> Result<(), Self::Error>;

    /// The transport ended: the stream is over, nothing is written.
    fn handle_eof(&mut self);

    /// The time is `now`: fires the timers that are due.
    fn handle_timeout(&mut self, now: Instant);

    /// Bytes to write to the transport; drain it first.
    fn poll_transmit(&mut self) -> Option<Bytes>;

    /// The next event; drain it after the transmit queue.
    fn poll_event(&mut self) -> Option<Self::Event>;

    /// When [`handle_timeout`](Self::handle_timeout) must be called next; ask last.
    fn poll_timeout(&self) -> Option<Instant>;

    /// Sends a stanza at time `now`, written in the stream's content namespace.
    ///
    /// # Errors
    ///
    /// [`RoleError::is_stream_ended`] when the stream has ended (ignore it), else the
    /// role's reason (not online yet, too large for the peer...).
    fn send(&mut self, now: Instant, stanza: &Element) -> Result<(), Self::Error>;

    /// Sends the stanza that `write` writes, straight into the output, at time `now`.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send), and misuse when `write` leaves an element open.
    fn send_with(
        &mut self,
        now: Instant,
        write: impl FnOnce(&mut Writer<'_>),
    ) -> Result<(), Self::Error>;

    /// Answers a received stanza at time `now` with a stanza error; whether a reply went out
    /// (none to an error or an iq result).
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    fn reply_error(
        &mut self,
        now: Instant,
        to: &Stanza,
        condition: StanzaErrorCondition,
    ) -> Result<bool, Self::Error>;

    /// Closes the stream gracefully at time `now`; the closing timer counts from `now`.
    fn close(&mut self, now: Instant);

    /// Ends the stream at time `now` with a stream error.
    fn close_with(&mut self, now: Instant, error: StreamError);

    /// Gives back the memory a large stanza made the session grow.
    fn shrink(&mut self);

    /// Is the stream over?
    fn is_closed(&self) -> bool;
}

/// What every role's event type tells a generic driver.
pub trait RoleEvent: core::fmt::Debug {
    /// The stream is over, for this reason (the role's `Closed` event, its last).
    fn close_reason(&self) -> Option<&CloseReason>;

    /// A stanza arrived (the role's `Stanza` event).
    fn stanza(&self) -> Option<&Stanza>;
}

/// What every role's error type tells a generic driver.
pub trait RoleError: std::error::Error + Copy + Eq + 'static {
    /// The stream has ended: the call came too late to matter, and can be ignored.
    fn is_stream_ended(&self) -> bool;

    /// The embedder called a method that does not fit the state: a bug in the embedder.
    fn is_misuse(&self) -> bool;
}

/// Implements [`Connection`] for a role, with its own methods.
macro_rules! connection {
    ($role:ty, $event:ident, $error:ty) => {
        impl Connection for $role {
            type Event = $event;
            type Error = $error;

            fn handle_input(&mut self, now: Instant, data: &[u8]) -> Result<(), $error> {
                <$role>::handle_input(self, now, data)
            }
            fn handle_eof(&mut self) {
                <$role>::handle_eof(self)
            }
            fn handle_timeout(&mut self, now: Instant) {
                <$role>::handle_timeout(self, now)
            }
            fn poll_transmit(&mut self) -> Option<Bytes> {
                <$role>::poll_transmit(self)
            }
            fn poll_event(&mut self) -> Option<$event> {
                <$role>::poll_event(self)
            }
            fn poll_timeout(&self) -> Option<Instant> {
                <$role>::poll_timeout(self)
            }
            fn send(&mut self, now: Instant, stanza: &Element) -> Result<(), $error> {
                <$role>::send(self, now, stanza)
            }
            fn send_with(
                &mut self,
                now: Instant,
                write: impl FnOnce(&mut Writer<'_>),
            ) -> Result<(), $error> {
                <$role>::send_with(self, now, write)
            }
            fn reply_error(
                &mut self,
                now: Instant,
                to: &Stanza,
                condition: StanzaErrorCondition,
            ) -> Result<bool, $error> {
                <$role>::reply_error(self, now, to, condition)
            }
            fn close(&mut self, now: Instant) {
                <$role>::close(self, now)
            }
            fn close_with(&mut self, now: Instant, error: StreamError) {
                <$role>::close_with(self, now, error)
            }
            fn shrink(&mut self) {
                <$role>::shrink(self)
            }
            fn is_closed(&self) -> bool {
                <$role>::is_closed(self)
            }
        }
    };
}

/// Implements [`RoleError`] for a role's error type, with its own methods.
macro_rules! role_error {
    ($error:ty) => {
        impl RoleError for $error {
            fn is_stream_ended(&self) -> bool {
                <$error>::is_stream_ended(self)
            }
            fn is_misuse(&self) -> bool {
                <$error>::is_misuse(self)
            }
        }
    };
}

/// Implements [`RoleEvent`] for a role's event type, whose `Closed` and `Stanza` variants
/// carry the reason and the stanza.
macro_rules! role_event {
    ($event:ident) => {
        impl RoleEvent for $event {
            fn close_reason(&self) -> Option<&CloseReason> {
                match self {
                    $event::Closed(reason) => Some(reason),
                    _ => None,
                }
            }
            fn stanza(&self) -> Option<&Stanza> {
                match self {
                    $event::Stanza(stanza) => Some(stanza),
                    _ => None,
                }
            }
        }
    };
}

#[cfg(feature = "client")]
mod client {
    use super::*;
    use crate::client::{Client, ClientError, ClientEvent};

    connection!(Client, ClientEvent, ClientError);
    role_event!(ClientEvent);
    role_error!(ClientError);
}

#[cfg(feature = "server")]
mod server {
    use super::*;
    use crate::server::{Server, ServerError, ServerEvent};

    connection!(Server, ServerEvent, ServerError);
    role_event!(ServerEvent);
    role_error!(ServerError);
}

#[cfg(feature = "component")]
mod component {
    use super::*;
    use crate::component::{Component, ComponentError, ComponentEvent, ComponentServer};

    // The two XEP-0114 sides share their event and error types.
    connection!(Component, ComponentEvent, ComponentError);
    connection!(ComponentServer, ComponentEvent, ComponentError);
    role_event!(ComponentEvent);
    role_error!(ComponentError);
}

#[cfg(feature = "server")]
mod s2s {
    use super::*;
    use crate::s2s::{S2sError, S2sEvent, S2sIn, S2sOut};

    // The two s2s sides share their event and error types.
    connection!(S2sOut, S2sEvent, S2sError);
    connection!(S2sIn, S2sEvent, S2sError);
    role_event!(S2sEvent);
    role_error!(S2sError);
}
