//! `<stream:features/>` (RFC 6120 section 4.3.2) as the roles read it, and the limits a
//! receiving entity announces in them (XEP-0478).

use super::management::SM_NS;
use super::{
    BIND_NS, BIND2_NS, FAST_NS, SASL_CB_NS, SASL2_NS, SESSION_NS, STREAM_LIMITS_NS, TLS_NS,
};
use crate::error::SASL_NS;
use crate::xml::{ElementRef, Writer};

/// The limits a receiving entity announces in its stream features (XEP-0478): what it will
/// accept on this stream. They may change with each new set of features (after
/// authentication, typically).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamLimits {
    /// The largest first-level element, in bytes, it accepts (`<max-bytes/>`).
    pub max_bytes: Option<u64>,
    /// After this many seconds without traffic it may check the stream or close it
    /// (`<idle-seconds/>`).
    pub idle_seconds: Option<u64>,
}

impl StreamLimits {
    /// Writes `<limits xmlns='urn:xmpp:stream-limits:0'>` with what is known.
    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        w.start("limits").xmlns(STREAM_LIMITS_NS);
        if let Some(n) = self.max_bytes {
            w.start("max-bytes").text(&n.to_string()).end("max-bytes");
        }
        if let Some(n) = self.idle_seconds {
            w.start("idle-seconds")
                .text(&n.to_string())
                .end("idle-seconds");
        }
        w.end("limits");
    }

    fn read(el: ElementRef<'_>) -> StreamLimits {
        // A value that is not a whole number is as good as absent: the XEP gives no error.
        let number = |name| {
            el.get_child(name, STREAM_LIMITS_NS)
                .and_then(|c| c.text().trim().parse::<u64>().ok())
        };
        StreamLimits {
            max_bytes: number("max-bytes"),
            idle_seconds: number("idle-seconds"),
        }
    }
}

/// Whether an offered feature must be negotiated before the stream is of use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// The peer goes on without it.
    Optional,
    /// The peer goes on only once it has been negotiated.
    Required,
}

impl Requirement {
    fn required_if(required: bool) -> Requirement {
        if required {
            Requirement::Required
        } else {
            Requirement::Optional
        }
    }
}

/// What a `<stream:features/>` offers, as far as the roles here act on it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Features {
    /// `<starttls/>` is offered, required when it has `<required/>` (RFC 6120 section
    /// 5.4.1).
    pub starttls: Option<Requirement>,
    /// The SASL mechanisms offered, in the server's order.
    pub mechanisms: Vec<String>,
    /// Resource binding is offered.
    pub bind: bool,
    /// Session establishment is offered, required unless it has `<optional/>` (RFC 3921
    /// section 3, as RFC 6121 appendix E keeps it).
    pub session: Option<Requirement>,
    /// The channel-binding types the server says it supports (XEP-0440), if it says.
    pub channel_bindings: Option<Vec<String>>,
    /// The limits the server announces (XEP-0478), if it does.
    pub limits: Option<StreamLimits>,
    /// SASL2 (XEP-0388 `<authentication/>`), if offered.
    pub sasl2: Option<Sasl2Offer>,
}

/// What a server offers in its SASL2 `<authentication xmlns='urn:xmpp:sasl:2'/>` feature
/// (XEP-0388 section 2.1): its mechanisms and what may be negotiated inline in
/// `<authenticate/>` (XEP-0386 Bind 2, XEP-0198 resumption).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sasl2Offer {
    /// The mechanisms offered, in the server's order.
    pub mechanisms: Vec<String>,
    /// Bind 2 is offered inline (`<bind xmlns='urn:xmpp:bind:0'/>` in `<inline/>`).
    pub bind2: bool,
    /// Bind 2 can enable stream management inline (`<feature var='urn:xmpp:sm:3'/>` in the
    /// bind feature's own `<inline/>`).
    pub bind2_sm: bool,
    /// Stream management resumption is offered inline (`<sm xmlns='urn:xmpp:sm:3'/>` in
    /// `<inline/>`, XEP-0198 with SASL2).
    pub sm: bool,
    /// The FAST mechanisms offered inline (XEP-0484 section 2.1), in the server's order.
    pub fast: Vec<String>,
}

impl Sasl2Offer {
    fn read(el: ElementRef<'_>) -> Sasl2Offer {
        let mut offer = Sasl2Offer {
            mechanisms: el
                .children()
                .filter(|m| m.is("mechanism", SASL2_NS))
                .map(|m| m.text().trim().to_owned())
                .collect(),
            ..Sasl2Offer::default()
        };
        for inline in el.children().filter(|c| c.is("inline", SASL2_NS)) {
            for f in inline.children() {
                if f.is("bind", BIND2_NS) {
                    offer.bind2 = true;
                    offer.bind2_sm = f
                        .children()
                        .filter(|i| i.is("inline", BIND2_NS))
                        .flat_map(|i| i.children())
                        .any(|feature| {
                            feature.is("feature", BIND2_NS)
                                && feature.attr("var").as_deref() == Some(SM_NS)
                        });
                } else if f.is("sm", SM_NS) {
                    offer.sm = true;
                } else if f.is("fast", FAST_NS) {
                    offer.fast = f
                        .children()
                        .filter(|m| m.is("mechanism", FAST_NS))
                        .map(|m| m.text().trim().to_owned())
                        .collect();
                }
            }
        }
        offer
    }
}

impl Features {
    /// Reads a `<stream:features/>` element.
    pub fn read(el: ElementRef<'_>) -> Features {
        let mut f = Features::default();
        for child in el.children() {
            match (child.ns(), child.name()) {
                (TLS_NS, "starttls") => {
                    let required = child.get_child("required", TLS_NS).is_some();
                    f.starttls = Some(Requirement::required_if(required));
                }
                (SASL_NS, "mechanisms") => {
                    f.mechanisms = child
                        .children()
                        .filter(|m| m.is("mechanism", SASL_NS))
                        .map(|m| m.text().trim().to_owned())
                        .collect();
                }
                (BIND_NS, "bind") => f.bind = true,
                (SESSION_NS, "session") => {
                    let optional = child.get_child("optional", SESSION_NS).is_some();
                    f.session = Some(Requirement::required_if(!optional));
                }
                (STREAM_LIMITS_NS, "limits") => f.limits = Some(StreamLimits::read(child)),
                (SASL2_NS, "authentication") => f.sasl2 = Some(Sasl2Offer::read(child)),
                (SASL_CB_NS, "sasl-channel-binding") => {
                    f.channel_bindings = Some(
                        child
                            .children()
                            .filter(|c| c.is("channel-binding", SASL_CB_NS))
                            .filter_map(|c| c.attr("type").map(|t| t.into_owned()))
                            .collect(),
                    );
                }
                _ => {}
            }
        }
        f
    }

    /// Is `feature`, a child of `<stream:features/>`, one that [`Features`] reads? The
    /// others are for the embedder (stream management, roster versioning...).
    pub fn is_known(feature: ElementRef<'_>) -> bool {
        matches!(
            (feature.ns(), feature.name()),
            (TLS_NS, "starttls")
                | (SASL_NS, "mechanisms")
                | (BIND_NS, "bind")
                | (SESSION_NS, "session")
                | (STREAM_LIMITS_NS, "limits")
                | (SASL_CB_NS, "sasl-channel-binding")
                | (SASL2_NS, "authentication")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::STREAM_NS;
    use crate::xml::parse_element;
    use bytes::BytesMut;

    fn features(xml: &str) -> Features {
        let el = parse_element(STREAM_NS, xml.as_bytes()).expect("features parse");
        Features::read(el.root())
    }

    #[test]
    fn stream_limits_are_read_and_written_as_xep_0478_shows() {
        let f = features(
            "<features><limits xmlns='urn:xmpp:stream-limits:0'><max-bytes>10000</max-bytes>\
             <idle-seconds> 1800 </idle-seconds></limits></features>",
        );
        let limits = StreamLimits {
            max_bytes: Some(10_000),
            idle_seconds: Some(1800),
        };
        assert_eq!(f.limits, Some(limits));
        // What we write reads back the same.
        let mut out = BytesMut::new();
        let mut w = Writer::new(&mut out);
        w.start("features");
        limits.write(&mut w);
        w.end("features");
        w.finish();
        let text = core::str::from_utf8(&out).unwrap();
        assert_eq!(features(text).limits, Some(limits));
        // A value that is not a whole number counts as absent; no <limits/>, no limits.
        let f = features(
            "<features><limits xmlns='urn:xmpp:stream-limits:0'><max-bytes>lots</max-bytes>\
             </limits></features>",
        );
        assert_eq!(f.limits, Some(StreamLimits::default()));
        assert_eq!(features("<features/>").limits, None);
    }
}
