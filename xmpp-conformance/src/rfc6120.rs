//! RFC 6120 section 15, "Conformance Requirements": the 63 named features of XMPP Core, each
//! with its description, the section that defines it, and its level for the Client and the
//! Server role, transcribed as the RFC gives them (in its order, which puts `tls-correlate`
//! after `tls-support`). Vectors name a feature with the tag `rfc6120:<name>`.
//!
//! This module is the RFC's text and nothing else; what the project makes of it (which
//! features a sans-IO transcript cannot show, which need the s2s roles) is in
//! [`crate::coverage`].

use std::fmt;

/// A feature's requirement level for one role ("N/A": the feature does not apply to it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// MUST.
    Must,
    /// SHOULD.
    Should,
    /// MAY.
    May,
    /// N/A: not applicable to the role.
    NotApplicable,
}

impl Level {
    /// Does the feature apply to the role at all?
    pub fn applies(self) -> bool {
        self != Level::NotApplicable
    }
}

impl fmt::Display for Level {
    /// As the RFC writes it: `MUST`, `SHOULD`, `MAY`, `N/A`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Must => "MUST",
            Level::Should => "SHOULD",
            Level::May => "MAY",
            Level::NotApplicable => "N/A",
        })
    }
}

/// One conformance feature of RFC 6120 section 15.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Feature {
    /// The feature's name (`bind-gen`).
    pub name: &'static str,
    /// The RFC's description, verbatim.
    pub description: &'static str,
    /// The section of RFC 6120 that normatively defines it (`7.6`).
    pub section: &'static str,
    /// Its level for the Client role.
    pub client: Level,
    /// Its level for the Server role.
    pub server: Level,
}

/// The prefix of a vector tag that names a feature: `rfc6120:bind-gen`.
pub const TAG_PREFIX: &str = "rfc6120:";

/// The feature named `name` (without the tag prefix), if RFC 6120 section 15 lists it.
pub fn feature(name: &str) -> Option<&'static Feature> {
    FEATURES.iter().find(|f| f.name == name)
}

/// The features of RFC 6120 section 15, in the RFC's order.
pub const FEATURES: [Feature; 63] = [
    Feature {
        name: "bind-gen",
        description: "Generate a random resource on demand.",
        section: "7.6",
        client: Level::NotApplicable,
        server: Level::Must,
    },
    Feature {
        name: "bind-mtn",
        description: "Consider resource binding as mandatory-to-negotiate.",
        section: "7.3.1",
        client: Level::Must,
        server: Level::Must,
    },
    Feature {
        name: "bind-restart",
        description: "Do not restart the stream after negotiation of resource binding.",
        section: "7.3.2",
        client: Level::Must,
        server: Level::Must,
    },
    Feature {
        name: "bind-support",
        description: "Support binding of client resources to an authenticated stream.",
        section: "7",
        client: Level::Must,
        server: Level::Must,
    },
    Feature {
        name: "sasl-correlate",
        description: "When authenticating a stream peer using SASL, correlate the authentication identifier resulting from SASL negotiation with the 'from' address (if any) of the stream header it received from the peer.",
        section: "6.4.6",
        client: Level::Should,
        server: Level::Should,
    },
    Feature {
        name: "sasl-errors",
        description: "Support SASL errors during the negotiation process.",
        section: "6.5",
        client: Level::Must,
        server: Level::Must,
    },
    Feature {
        name: "sasl-mtn",
        description: "Consider SASL as mandatory-to-negotiate.",
        section: "6.3.1",
        client: Level::Must,
        server: Level::Must,
    },
    Feature {
        name: "sasl-restart",
        description: "Initiate or handle a stream restart after SASL negotiation.",
        section: "6.3.2",
        client: Level::Must,
        server: Level::Must,
    },
    Feature {
        name: "sasl-support",
        description: "Support the Simple Authentication and Security Layer for stream authentication.",
        section: "6",
        client: Level::Must,
        server: Level::Must,
    },
    Feature {
        name: "security-mti-auth-scram",
        description: "Support the SASL SCRAM mechanism for authentication only (this implies support for both the SCRAM-SHA-1 and SCRAM-SHA-1-PLUS variants).",
        section: "13.8",
        client: Level::Must,
        server: Level::Must,
    },
    Feature {
        name: "security-mti-both-external",
        description: "Support TLS with SASL EXTERNAL for confidentiality and authentication.",
        section: "13.8",
        client: Level::Should,
        server: Level::Must,
    },
    Feature {
        name: "security-mti-both-plain",
        description: "Support TLS using the TLS_RSA_WITH_AES_128_CBC_SHA ciphersuite plus the SASL PLAIN mechanism for confidentiality and authentication.",
        section: "13.8",
        client: Level::Should,
        server: Level::May,
    },
    Feature {
        name: "security-mti-both-scram",
        description: "Support TLS using the TLS_RSA_WITH_AES_128_CBC_SHA ciphersuite plus the SCRAM-SHA-1 and SCRAM-SHA-1-PLUS variants of the SASL SCRAM mechanism for confidentiality and authentication.",
        section: "13.8",
        client: Level::Must,
        server: Level::Must,
    },
    Feature {
        name: "security-mti-confidentiality",
        description: "Support TLS using the TLS_RSA_WITH_AES_128_CBC_SHA ciphersuite for confidentiality only.",
        section: "13.8",
        client: Level::NotApplicable,
        server: Level::Should,
    },
    Feature {
        name: "stanza-attribute-from",
        description: "Support the common 'from' attribute for all stanza kinds.",
        section: "8.1.2",
        client: Level::Must,
        server: Level::Must,
    },
    Feature {
        name: "stanza-attribute-from-stamp",
        description: "Stamp or rewrite the 'from' address of all stanzas received from connected clients.",
        section: "8.1.2.1",
        client: Level::NotApplicable,
        server: Level::Must,
    },
    Feature {
        name: "stanza-attribute-from-validate",
        description: "Validate the 'from' address of all stanzas received from peer servers.",
        section: "8.1.2.2",
        client: Level::NotApplicable,
        server: Level::Must,
    },
    Feature {
        name: "stanza-attribute-id",
        description: "Support the common 'id' attribute for all stanza kinds.",
        section: "8.1.3",
        client: Level::Must,
        server: Level::Must,
    },
    Feature {
        name: "stanza-attribute-to",
        description: "Support the common 'to' attribute for all stanza kinds.",
        section: "8.1.1",
        client: Level::Must,
        server: Level::Must,
    },
    Feature {
        name: "stanza-attribute-to-validate",
        description: "Ensure that all stanzas received from peer servers include a 'to' address.",
        section: "8.1.1",
        client: Level::NotApplicable,
        server: Level::Must,
    },
    Feature {
        name: "stanza-attribute-type",
        description: "Support the common 'type' attribute for all stanza kinds.",
        section: "8.1.4",
        client: Level::Must,
        server: Level::Must,
    },
    Feature {
        name: "stanza-attribute-xmllang",
        description: "Support the common 'xml:lang' attribute for all stanza kinds.",
        section: "8.1.5",
        client: Level::Must,
        server: Level::Must,
    },
    Feature {
        name: "stanza-error",
        description: "Generate and handle stanzas of type \"error\" for all stanza kinds.",
        section: "8.3",
        client: Level::Must,
        server: Level::Must,
    },
    Feature {
        name: "stanza-error-child",
        description: "Ensure that stanzas of type \"error\" include an <error/> child element.",
        section: "8.3",
        client: Level::Must,
        server: Level::Must,
    },
    Feature {
        name: "stanza-error-id",
        description: "Ensure that stanzas of type \"error\" preserve the 'id' provided in the triggering stanza.",
        section: "8.3",
        client: Level::Must,
        server: Level::Must,
    },
    Feature {
        name: "stanza-error-reply",
        description: "Do not reply to a stanza of type \"error\" with another stanza of type \"error\".",
        section: "8.3",
        client: Level::Must,
        server: Level::Must,
    },
    Feature {
        name: "stanza-extension",
        description: "Correctly process XML data qualified by an unsupported XML namespace, where \"correctly process\" means to ignore that portion of the stanza in the case of a message or presence stanza and return an error in the case of an IQ stanza (for the intended recipient), and to route or deliver the stanza (for a routing entity such as a server).",
        section: "8.4",
        client: Level::Must,
        server: Level::Must,
    },
    Feature {
        name: "stanza-iq-child",
        description: "Include exactly one child element in an <iq/> stanza of type \"get\" or \"set\", zero or one child elements in an <iq/> stanza of type \"result\", and one or two child elements in an <iq/> stanza of type \"error\".",
        section: "8.2.3",
        client: Level::Must,
        server: Level::Must,
    },
    Feature {
        name: "stanza-iq-id",
        description: "Ensure that all <iq/> stanzas include an 'id' attribute.",
        section: "8.2.3",
        client: Level::Must,
        server: Level::Must,
    },
    Feature {
        name: "stanza-iq-reply",
        description: "Reply to an <iq/> stanza of type \"get\" or \"set\" with an <iq/> stanza of type \"result\" or \"error\".",
        section: "8.2.3",
        client: Level::Must,
        server: Level::Must,
    },
    Feature {
        name: "stanza-iq-type",
        description: "Ensure that all <iq/> stanzas include a 'type' attribute whose value is \"get\", \"set\", \"result\", or \"error\".",
        section: "8.2.3",
        client: Level::Must,
        server: Level::Must,
    },
    Feature {
        name: "stanza-kind-iq",
        description: "Support the <iq/> stanza.",
        section: "8.2.3",
        client: Level::Must,
        server: Level::Must,
    },
    Feature {
        name: "stanza-kind-message",
        description: "Support the <message/> stanza.",
        section: "8.2.1",
        client: Level::Must,
        server: Level::Must,
    },
    Feature {
        name: "stanza-kind-presence",
        description: "Support the <presence/> stanza.",
        section: "8.2.2",
        client: Level::Must,
        server: Level::Must,
    },
    Feature {
        name: "stream-attribute-initial-from",
        description: "Include a 'from' attribute in the initial stream header.",
        section: "4.7.1",
        client: Level::Should,
        server: Level::Must,
    },
    Feature {
        name: "stream-attribute-initial-lang",
        description: "Include an 'xml:lang' attribute in the initial stream header.",
        section: "4.7.4",
        client: Level::Should,
        server: Level::Should,
    },
    Feature {
        name: "stream-attribute-initial-to",
        description: "Include a 'to' attribute in the initial stream header.",
        section: "4.7.2",
        client: Level::Must,
        server: Level::Must,
    },
    Feature {
        name: "stream-attribute-response-from",
        description: "Include a 'from' attribute in the response stream header.",
        section: "4.7.1",
        client: Level::NotApplicable,
        server: Level::Must,
    },
    Feature {
        name: "stream-attribute-response-id",
        description: "Include an 'id' attribute in the response stream header.",
        section: "4.7.3",
        client: Level::NotApplicable,
        server: Level::Must,
    },
    Feature {
        name: "stream-attribute-response-id-unique",
        description: "Ensure that the 'id' attribute in the response stream header is unique within the context of the receiving entity.",
        section: "4.7.3",
        client: Level::NotApplicable,
        server: Level::Must,
    },
    Feature {
        name: "stream-attribute-response-to",
        description: "Include a 'to' attribute in the response stream header.",
        section: "4.7.2",
        client: Level::NotApplicable,
        server: Level::Should,
    },
    Feature {
        name: "stream-error-generate",
        description: "Generate a stream error (followed by a closing stream tag and termination of the TCP connection) upon detecting a stream-related error condition.",
        section: "4.9",
        client: Level::Must,
        server: Level::Must,
    },
    Feature {
        name: "stream-fqdn-resolution",
        description: "Resolve FQDNs before opening a TCP connection to the receiving entity.",
        section: "3.2",
        client: Level::Must,
        server: Level::Must,
    },
    Feature {
        name: "stream-negotiation-complete",
        description: "Do not consider the stream negotiation process to be complete until the receiving entity sends a stream features advertisement that is empty or that contains only voluntary-to-negotiate features.",
        section: "4.3.5",
        client: Level::Must,
        server: Level::Must,
    },
    Feature {
        name: "stream-negotiation-features",
        description: "Send stream features after sending a response stream header.",
        section: "4.3.2",
        client: Level::NotApplicable,
        server: Level::Must,
    },
    Feature {
        name: "stream-negotiation-restart",
        description: "Consider the previous stream to be replaced upon negotiation of a stream feature that necessitates a stream restart, and send or receive a new initial stream header after negotiation of such a stream feature.",
        section: "4.3.3",
        client: Level::Must,
        server: Level::Must,
    },
    Feature {
        name: "stream-reconnect",
        description: "Reconnect with exponential backoff if a TCP connection is terminated unexpectedly.",
        section: "3.3",
        client: Level::Must,
        server: Level::Must,
    },
    Feature {
        name: "stream-tcp-binding",
        description: "Bind an XML stream to a TCP connection.",
        section: "3",
        client: Level::Must,
        server: Level::Must,
    },
    Feature {
        name: "tls-certs",
        description: "Check the identity specified in a certificate that is presented during TLS negotiation.",
        section: "13.7.2",
        client: Level::Must,
        server: Level::Must,
    },
    Feature {
        name: "tls-mtn",
        description: "Consider TLS as mandatory-to-negotiate if STARTTLS is the only feature advertised or if the STARTTLS feature advertisement includes an empty <required/> element.",
        section: "5.3.1",
        client: Level::Must,
        server: Level::Must,
    },
    Feature {
        name: "tls-restart",
        description: "Initiate or handle a stream restart after TLS negotiation.",
        section: "5.3.2",
        client: Level::Must,
        server: Level::Must,
    },
    Feature {
        name: "tls-support",
        description: "Support Transport Layer Security for stream encryption.",
        section: "5",
        client: Level::Must,
        server: Level::Must,
    },
    Feature {
        name: "tls-correlate",
        description: "When validating a certificate presented by a stream peer during TLS negotiation, correlate the validated identity with the 'from' address (if any) of the stream header it received from the peer.",
        section: "13.7.2",
        client: Level::Should,
        server: Level::Should,
    },
    Feature {
        name: "xml-namespace-content-client",
        description: "Support 'jabber:client' as a content namespace.",
        section: "4.8.2",
        client: Level::Must,
        server: Level::Must,
    },
    Feature {
        name: "xml-namespace-content-server",
        description: "Support 'jabber:server' as a content namespace.",
        section: "4.8.2",
        client: Level::NotApplicable,
        server: Level::Must,
    },
    Feature {
        name: "xml-namespace-streams-declaration",
        description: "Ensure that there is a namespace declaration for the 'http://etherx.jabber.org/streams' namespace.",
        section: "4.8.1",
        client: Level::Must,
        server: Level::Must,
    },
    Feature {
        name: "xml-namespace-streams-prefix",
        description: "Ensure that all elements qualified by the 'http://etherx.jabber.org/streams' namespace are prefixed by the prefix (if any) defined in the namespace declaration.",
        section: "4.8.1",
        client: Level::Must,
        server: Level::Must,
    },
    Feature {
        name: "xml-restriction-comment",
        description: "Do not generate or accept XML comments.",
        section: "11.1",
        client: Level::Must,
        server: Level::Must,
    },
    Feature {
        name: "xml-restriction-dtd",
        description: "Do not generate or accept internal or external DTD subsets.",
        section: "11.1",
        client: Level::Must,
        server: Level::Must,
    },
    Feature {
        name: "xml-restriction-pi",
        description: "Do not generate or accept XML processing instructions.",
        section: "11.1",
        client: Level::Must,
        server: Level::Must,
    },
    Feature {
        name: "xml-restriction-ref",
        description: "Do not generate or accept internal or external entity references with the exception of the predefined entities.",
        section: "11.1",
        client: Level::Must,
        server: Level::Must,
    },
    Feature {
        name: "xml-wellformed-xml",
        description: "Do not generate or accept data that is not XML-well-formed.",
        section: "11.3",
        client: Level::Must,
        server: Level::Must,
    },
    Feature {
        name: "xml-wellformed-ns",
        description: "Do not generate or accept data that is not namespace-well-formed.",
        section: "11.3",
        client: Level::Must,
        server: Level::Must,
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_found() {
        for (i, f) in FEATURES.iter().enumerate() {
            assert!(
                FEATURES[..i].iter().all(|g| g.name != f.name),
                "{} twice",
                f.name
            );
            assert_eq!(feature(f.name), Some(f));
        }
        assert_eq!(feature("bind-generate"), None);
    }

    #[test]
    fn levels_as_the_rfc_counts_them() {
        // RFC 6120 section 15: 11 features are N/A for clients and none for servers; the
        // only MAY is security-mti-both-plain's for servers.
        let na = FEATURES.iter().filter(|f| !f.client.applies()).count();
        assert_eq!(na, 11);
        assert!(FEATURES.iter().all(|f| f.server.applies()));
        let mays: Vec<_> = FEATURES
            .iter()
            .filter(|f| f.client == Level::May || f.server == Level::May)
            .map(|f| f.name)
            .collect();
        assert_eq!(mays, ["security-mti-both-plain"]);
    }
}
