//! XMPP's restricted XML (RFC 6120 section 11): a resumable push parser for the stream, the
//! element tree it builds, and a serializer.
//!
//! This layer knows XML and namespaces, and of XMPP only what RFC 6120 section 11 restricts
//! and that a stream is one `<stream:stream>` root whose children arrive one at a time.
//!
//! ```
//! use xmpp_sansio::xml::{Event, StreamParser};
//!
//! let mut parser = StreamParser::default();
//! parser.handle_input(b"<stream:stream xmlns='jabber:client' \
//!     xmlns:stream='http://etherx.jabber.org/streams'><message><bo").unwrap();
//! parser.handle_input(b"dy>hi</body></message>").unwrap();
//! assert!(matches!(parser.poll_event(), Some(Event::StreamOpened(_))));
//! let Some(Event::Element(msg)) = parser.poll_event() else { panic!() };
//! assert!(msg.is("message", "jabber:client"));
//! assert_eq!(msg.get_child("body", "jabber:client").unwrap().text(), "hi");
//! ```

mod chars;
mod element;
mod error;
mod limits;
mod names;
mod parser;
mod scan;
mod writer;

pub use element::{Attr, Attrs, Children, Element, ElementRef, Node, Nodes, XML_NS, XMLNS_NS};
#[cfg(feature = "jid")]
pub(crate) use element::{Known, RootIndex};
pub use error::{ErrorKind, ParseError, Utf8Fault};
pub use limits::{Limit, Limits};
#[cfg(any(feature = "client", feature = "server", feature = "component"))]
pub(crate) use parser::RootStamp;
pub use parser::{Event, StreamParser, parse_element};
pub use writer::{Writer, escape_attr, escape_text, write_element};
