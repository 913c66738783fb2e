//! The conformance runner: replays the vectors of `vectors/` (format and contract in
//! VECTORS.md) through the public sans-IO API of `xmpp-proto`, and says precisely where a
//! vector and the core disagree.
//!
//! - [`vector`] loads a vector file, refusing malformed ones with the line;
//! - [`role`] is the core under test as the runner sees it: the [`Role`] trait and the
//!   [`CoreUnderTest`] it starts, with the `parser` role implemented;
//! - [`run`] replays a vector (whole, byte by byte, seeded random splits) and gives a
//!   [`Failure`]: step, replay, what was expected and what came;
//! - [`xml`], [`pattern`] and [`matching`] compare XML with placeholders, exactly or
//!   relaxed;
//! - [`report`] finds files and writes the text, JSON and JUnit reports;
//! - [`rfc6120`] is the list of RFC 6120 section 15's conformance features, which vectors
//!   name with `rfc6120:<feature>` tags, and [`coverage`] counts, per feature and side, the
//!   vectors that show it and how many passed;
//! - [`live`] plays the vectors against another implementation over a real connection
//!   (`live server`, `live client`, `live component-server`, `live component`; STARTTLS or
//!   XEP-0368 direct TLS), skipping with the reason what cannot run live.
//!
//! ```
//! use xmpp_conformance::{Runner, vector};
//!
//! let v = vector::parse(std::path::Path::new("inline.toml"), r#"
//! title = "one message"
//! role = "parser"
//! [[step]]
//! peer = "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
//! [[step]]
//! event = "stream-opened"
//! [[step]]
//! peer = "<message id='m-1'><body>h\u00e9</body></message>"
//! [[step]]
//! event = "element <message id='{id}'><body>hé</body></message>"
//! [[step]]
//! peer = "<message id='{id}'/>"
//! [[step]]
//! event = "element <message id='m-1'/>"
//! "#).unwrap();
//! assert_eq!(Runner::new().run_vector(&v), Ok(10)); // whole, bytes, 8 random splits
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod client;
pub mod component;
pub mod coverage;
pub mod im;
pub mod live;
pub mod matching;
pub mod pattern;
pub mod report;
pub mod rfc6120;
pub mod role;
pub mod run;
pub mod s2s;
pub mod server;
pub mod vector;
pub mod xml;

pub use coverage::Coverage;
pub use report::{Report, VectorResult, collect_files};
pub use role::{CoreUnderTest, Role};
pub use run::{ChunkingChoice, Failure, Location, Mismatch, Reason, Replay, Runner};
pub use vector::{LoadError, Vector};
