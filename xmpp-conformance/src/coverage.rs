//! Which RFC 6120 conformance features ([`crate::rfc6120`]) the vectors show, for the Client
//! and the Server role, and how many of those vectors passed: the `coverage` command.
//!
//! A vector shows a feature when it carries the tag `rfc6120:<feature>`. Which side it
//! counts for follows from its role:
//!
//! - `client` vectors count for the Client side, `server` vectors (and, once they exist,
//!   `s2s-in` / `s2s-out` vectors) for the Server side;
//! - `parser` vectors count for both sides, and may only show the `xml-` features (RFC 6120
//!   sections 4.8 and 11): every role reads its peer's stream with that same parser, so what
//!   the parser accepts and refuses, each role accepts and refuses;
//! - `component` and `component-server` vectors (XEP-0114) are counted apart: RFC 6120 gives
//!   no level for a component, but its streams share RFC 6120's stream, error and XML rules.
//!
//! Two kinds of feature sides cannot be shown by this project's vectors, and stay in the
//! table with the reason ([`Scope`]): six features that no sans-IO transcript of one stream
//! can show (DNS, TCP, reconnection, certificates, ciphersuites), and the Server side of
//! features that belong to server-to-server streams, which only the s2s roles can show.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::report::{Report, json_str, shown};
use crate::rfc6120::{FEATURES, Feature, Level, TAG_PREFIX, feature};

/// A role of RFC 6120 section 15.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Side {
    /// The Client role.
    Client,
    /// The Server role.
    Server,
}

impl Side {
    /// `client` or `server`.
    pub fn name(self) -> &'static str {
        match self {
            Side::Client => "client",
            Side::Server => "server",
        }
    }

    /// The feature's level for this side.
    pub fn level(self, f: &Feature) -> Level {
        match self {
            Side::Client => f.client,
            Side::Server => f.server,
        }
    }
}

/// What the project's vectors can show of one side of a feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The RFC says N/A for this side.
    NotApplicable,
    /// Vectors of this side's roles can show it.
    Transcript,
    /// No transcript of one stream through a sans-IO core can show it; the reason.
    OutsideTranscript(&'static str),
    /// Only server-to-server streams carry it: `s2s-in` / `s2s-out` vectors can show it.
    NeedsS2s,
}

/// The features that a sans-IO transcript of one stream cannot show, with the reason. They
/// happen outside the stream (DNS, TCP, reconnecting) or inside the TLS library that the
/// embedder brings (certificates, ciphersuites): the runner models TLS as transparent.
pub const OUTSIDE_TRANSCRIPT: [(&str, &str); 6] = [
    (
        "stream-fqdn-resolution",
        "DNS resolution: the embedder resolves the FQDN before the stream's first byte",
    ),
    (
        "stream-reconnect",
        "reconnection timing: back-off happens between streams, in the embedder",
    ),
    (
        "stream-tcp-binding",
        "TCP binding: the embedder owns the connection; the core sees bytes",
    ),
    (
        "tls-certs",
        "certificate validation: done by the embedder's TLS library",
    ),
    (
        "tls-correlate",
        "certificate correlation: the certificate's identity never enters the transcript",
    ),
    (
        "security-mti-confidentiality",
        "ciphersuites: chosen by the embedder's TLS library",
    ),
];

/// Features whose Server side only server-to-server streams carry: validating what a peer
/// server sends (RFC 6120 8.1.1.2, 8.1.2.2), the `jabber:server` namespace (4.8.2), and
/// the initial stream header that a server sends only when it initiates an s2s stream
/// (4.7.1, 4.7.2, 4.7.4).
pub const SERVER_NEEDS_S2S: [&str; 6] = [
    "stanza-attribute-from-validate",
    "stanza-attribute-to-validate",
    "xml-namespace-content-server",
    "stream-attribute-initial-from",
    "stream-attribute-initial-to",
    "stream-attribute-initial-lang",
];

/// Features that the vectors can show only in part, with what they leave out.
const PARTIAL: [(&str, &str); 3] = [
    (
        "security-mti-both-external",
        "the certificate itself is the TLS library's; vectors show EXTERNAL after TLS",
    ),
    (
        "security-mti-both-plain",
        "the ciphersuite is the TLS library's; vectors show PLAIN after STARTTLS",
    ),
    (
        "security-mti-both-scram",
        "the ciphersuite is the TLS library's; vectors show SCRAM after STARTTLS",
    ),
];

/// What the project's vectors can show of `side` of `f`.
pub fn scope(f: &Feature, side: Side) -> Scope {
    if !side.level(f).applies() {
        return Scope::NotApplicable;
    }
    if let Some((_, why)) = OUTSIDE_TRANSCRIPT.iter().find(|(n, _)| *n == f.name) {
        return Scope::OutsideTranscript(why);
    }
    if side == Side::Server && SERVER_NEEDS_S2S.contains(&f.name) {
        return Scope::NeedsS2s;
    }
    Scope::Transcript
}

/// What the vectors leave out of `f` even when they show it, if anything.
pub fn partial_note(f: &Feature) -> Option<&'static str> {
    PARTIAL.iter().find(|(n, _)| *n == f.name).map(|(_, w)| *w)
}

fn is_xml(f: &Feature) -> bool {
    f.name.starts_with("xml-")
}

fn is_s2s(role: &str) -> bool {
    matches!(role, "s2s-in" | "s2s-out")
}

/// Is `role` a XEP-0114 role (counted apart from both sides)?
pub fn is_component(role: &str) -> bool {
    matches!(role, "component" | "component-server")
}

/// Does a vector of `role` that shows `f` count for `side`?
pub fn counts_for(role: &str, f: &Feature, side: Side) -> bool {
    match scope(f, side) {
        Scope::NotApplicable | Scope::OutsideTranscript(_) => false,
        Scope::NeedsS2s => is_s2s(role),
        Scope::Transcript => match (side, role) {
            (_, "parser") => is_xml(f),
            (Side::Client, r) => r == "client",
            (Side::Server, r) => r == "server" || is_s2s(r),
        },
    }
}

/// Checks one tag of a vector of `role`: a tag `rfc6120:<feature>` must name a feature of
/// RFC 6120 section 15 that a vector of that role can show. Other tags, and roles the
/// project does not know (the runner refuses those), are not checked here.
pub fn check_tag(role: &str, tag: &str) -> Result<(), String> {
    let Some(name) = tag.strip_prefix(TAG_PREFIX) else {
        return Ok(());
    };
    let f = feature(name).ok_or_else(|| {
        format!("tag {tag:?}: RFC 6120 section 15 has no conformance feature {name:?}")
    })?;
    if let Some((_, why)) = OUTSIDE_TRANSCRIPT.iter().find(|(n, _)| *n == name) {
        return Err(format!("tag {tag:?}: no vector can show it ({why})"));
    }
    let known = crate::role::KNOWN_ROLES.contains(&role);
    if !known || is_component(role) {
        return Ok(());
    }
    if role == "parser" && !is_xml(f) {
        return Err(format!(
            "tag {tag:?}: a parser vector shows only the xml- features (RFC 6120 sections 4.8, 11)"
        ));
    }
    if [Side::Client, Side::Server]
        .iter()
        .any(|&s| counts_for(role, f, s))
    {
        return Ok(());
    }
    Err(format!(
        "tag {tag:?}: a {role} vector cannot show it (client {}, server {}{})",
        f.client,
        f.server,
        if SERVER_NEEDS_S2S.contains(&name) {
            ", and its server side needs the s2s roles"
        } else {
            ""
        }
    ))
}

/// How many vectors show a feature for one side or column, and how many of them passed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Count {
    /// The vectors that show it, in run order.
    pub vectors: Vec<PathBuf>,
    /// How many of them passed.
    pub passed: usize,
}

impl Count {
    /// How many vectors show it.
    pub fn shown(&self) -> usize {
        self.vectors.len()
    }

    fn add(&mut self, path: &Path, passed: bool) {
        self.vectors.push(path.to_owned());
        if passed {
            self.passed += 1;
        }
    }
}

/// The coverage of one feature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureCoverage {
    /// The feature.
    pub feature: &'static Feature,
    /// The Client side.
    pub client: Count,
    /// The Server side.
    pub server: Count,
    /// The XEP-0114 vectors (`component`, `component-server`) that show it.
    pub component: Count,
}

impl FeatureCoverage {
    /// The count for `side`.
    pub fn side(&self, side: Side) -> &Count {
        match side {
            Side::Client => &self.client,
            Side::Server => &self.server,
        }
    }

    /// The status of `side`: `n/a`, `outside`, `needs-s2s`, `gap`, `failing` or `covered`.
    pub fn status(&self, side: Side) -> Status {
        let c = self.side(side);
        match scope(self.feature, side) {
            Scope::NotApplicable => Status::NotApplicable,
            Scope::OutsideTranscript(_) => Status::OutsideTranscript,
            Scope::NeedsS2s if c.shown() == 0 => Status::NeedsS2s,
            _ if c.shown() == 0 => Status::Gap,
            _ if c.passed < c.shown() => Status::Failing,
            _ => Status::Covered,
        }
    }
}

/// Where one side of a feature stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The RFC says N/A.
    NotApplicable,
    /// No transcript can show it ([`OUTSIDE_TRANSCRIPT`]).
    OutsideTranscript,
    /// Only s2s vectors can show it, and none does.
    NeedsS2s,
    /// It applies and no vector shows it.
    Gap,
    /// Vectors show it and some of them failed.
    Failing,
    /// Vectors show it and all passed.
    Covered,
}

impl Status {
    /// The status's name in the JSON report.
    pub fn name(self) -> &'static str {
        match self {
            Status::NotApplicable => "not-applicable",
            Status::OutsideTranscript => "outside-transcript",
            Status::NeedsS2s => "needs-s2s",
            Status::Gap => "gap",
            Status::Failing => "failing",
            Status::Covered => "covered",
        }
    }
}

/// The coverage of a run: every feature of RFC 6120 section 15, in the RFC's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coverage {
    /// One entry per feature.
    pub features: Vec<FeatureCoverage>,
    /// How many vectors ran, by role (`?` for files that could not be loaded).
    pub roles: BTreeMap<String, usize>,
    /// How many vectors ran.
    pub vectors: usize,
    /// How many passed.
    pub passed: usize,
}

impl Coverage {
    /// Counts, for each feature and side, the vectors of `report` that show it.
    pub fn of(report: &Report) -> Coverage {
        let mut features: Vec<FeatureCoverage> = FEATURES
            .iter()
            .map(|f| FeatureCoverage {
                feature: f,
                client: Count::default(),
                server: Count::default(),
                component: Count::default(),
            })
            .collect();
        let mut roles = BTreeMap::new();
        for r in &report.results {
            let role = r.role.as_deref().unwrap_or("?");
            *roles.entry(role.to_owned()).or_insert(0) += 1;
            for name in &r.features {
                let Some(fc) = features.iter_mut().find(|fc| fc.feature.name == name) else {
                    continue;
                };
                if is_component(role) {
                    fc.component.add(&r.path, r.passed());
                }
                if counts_for(role, fc.feature, Side::Client) {
                    fc.client.add(&r.path, r.passed());
                }
                if counts_for(role, fc.feature, Side::Server) {
                    fc.server.add(&r.path, r.passed());
                }
            }
        }
        Coverage {
            features,
            roles,
            vectors: report.results.len(),
            passed: report.passed(),
        }
    }

    /// The sides that apply and that no vector shows: `(feature, side)`, in the RFC's
    /// order, client before server.
    pub fn gaps(&self) -> Vec<(&'static Feature, Side)> {
        let mut out = Vec::new();
        for fc in &self.features {
            for side in [Side::Client, Side::Server] {
                if fc.status(side) == Status::Gap {
                    out.push((fc.feature, side));
                }
            }
        }
        out
    }

    /// `covered of showable` for `side`: the features whose side is shown and passed, of
    /// those that the side's vectors can show.
    fn tally(&self, side: Side) -> (usize, usize) {
        let showable = self
            .features
            .iter()
            .filter(|fc| scope(fc.feature, side) == Scope::Transcript)
            .count();
        let covered = self
            .features
            .iter()
            .filter(|fc| scope(fc.feature, side) == Scope::Transcript)
            .filter(|fc| fc.status(side) == Status::Covered)
            .count();
        (covered, showable)
    }

    /// The text format: a Markdown document with the table of every feature (its section,
    /// its levels, `passed/shown` per side and for XEP-0114, and why a side cannot be
    /// shown), then the gaps, then the failed vectors if any (paths relative to `base`).
    pub fn to_text(&self, report: &Report, base: Option<&Path>) -> String {
        let mut out = String::from("# RFC 6120 conformance features shown by the vectors\n\n");
        let roles: Vec<String> = self
            .roles
            .iter()
            .map(|(role, n)| format!("{n} {role}"))
            .collect();
        writeln!(
            out,
            "{} vectors ({}): {} passed, {} failed.\n",
            self.vectors,
            roles.join(", "),
            self.passed,
            self.vectors - self.passed
        )
        .ok();
        out.push_str(
            "Each feature of RFC 6120 section 15 with its level for each role, and `passed/shown`: \
             how many vectors tagged `rfc6120:<feature>` show it for that side, and how many of \
             them passed. `client` vectors count for the client, `server` and s2s vectors for \
             the server; `parser` vectors count for both sides of the `xml-` features (every \
             role reads its stream with that parser); XEP-0114 vectors (`component`, \
             `component-server`) are counted apart. `-`: N/A; `outside`: no transcript can \
             show it; `s2s`: needs the s2s roles.\n\n",
        );
        out.push_str(
            "| feature | section | client | client vectors | server | server vectors | XEP-0114 | note |\n\
             | --- | --- | --- | --- | --- | --- | --- | --- |\n",
        );
        for fc in &self.features {
            let f = fc.feature;
            let cell = |side: Side| match fc.status(side) {
                Status::NotApplicable => "-".to_owned(),
                Status::OutsideTranscript => "outside".to_owned(),
                Status::NeedsS2s => "s2s".to_owned(),
                Status::Gap => "**0**".to_owned(),
                Status::Failing | Status::Covered => {
                    let c = fc.side(side);
                    format!("{}/{}", c.passed, c.shown())
                }
            };
            let comp = if fc.component.shown() == 0 {
                String::new()
            } else {
                format!("{}/{}", fc.component.passed, fc.component.shown())
            };
            let mut notes = Vec::new();
            if let Some((_, why)) = OUTSIDE_TRANSCRIPT.iter().find(|(n, _)| *n == f.name) {
                notes.push((*why).to_owned());
            }
            if fc.status(Side::Server) == Status::NeedsS2s {
                notes.push("server: needs the s2s roles".to_owned());
            }
            if let Some(p) = partial_note(f) {
                notes.push(format!("in part: {p}"));
            }
            writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                f.name,
                f.section,
                f.client,
                cell(Side::Client),
                f.server,
                cell(Side::Server),
                comp,
                notes.join("; ")
            )
            .ok();
        }
        let (cc, cs) = self.tally(Side::Client);
        let (sc, ss) = self.tally(Side::Server);
        writeln!(
            out,
            "\nCovered (shown, every vector passed): client {cc} of the {cs} features a client \
             transcript can show, server {sc} of {ss}."
        )
        .ok();
        let gaps = self.gaps();
        out.push_str("\n## Gaps\n\n");
        if gaps.is_empty() {
            out.push_str("None: every side that a transcript can show has a vector.\n");
        } else {
            out.push_str(
                "Sides that apply, that a transcript can show, and that no vector shows:\n\n",
            );
            for (f, side) in gaps {
                writeln!(
                    out,
                    "- `{}` ({} {}, section {})",
                    f.name,
                    side.name(),
                    side.level(f),
                    f.section
                )
                .ok();
            }
        }
        let failed: Vec<_> = report.results.iter().filter(|r| !r.passed()).collect();
        if !failed.is_empty() {
            out.push_str("\n## Failed vectors\n\n");
            for r in failed {
                if let Err(e) = &r.outcome {
                    writeln!(out, "- FAIL {}: {e}", shown(&r.path, base)).ok();
                }
            }
        }
        out
    }

    /// One JSON document: `features`, one object per feature with `name`, `section`,
    /// `description`, `client` and `server` (each with `level`, `status`, `reason`,
    /// `shown`, `passed` and `vectors`), `component` (`shown`, `passed`, `vectors`) and
    /// `note`; then `gaps` (`feature`, `side`), and the totals `vectors`, `passed`,
    /// `failed`. Paths are relative to `base` when given.
    pub fn to_json(&self, base: Option<&Path>) -> String {
        let paths = |c: &Count| {
            let v: Vec<String> = c
                .vectors
                .iter()
                .map(|p| json_str(&shown(p, base)))
                .collect();
            format!("[{}]", v.join(", "))
        };
        let mut out = String::from("{\n  \"features\": [");
        for (i, fc) in self.features.iter().enumerate() {
            let f = fc.feature;
            out.push_str(if i == 0 { "\n    {" } else { ",\n    {" });
            write!(
                out,
                "\"name\": {}, \"section\": {}, \"description\": {}",
                json_str(f.name),
                json_str(f.section),
                json_str(f.description)
            )
            .ok();
            for side in [Side::Client, Side::Server] {
                let c = fc.side(side);
                let reason = match scope(f, side) {
                    Scope::OutsideTranscript(why) => json_str(why),
                    Scope::NeedsS2s => json_str("needs the s2s roles"),
                    _ => "null".to_owned(),
                };
                write!(
                    out,
                    ",\n     \"{}\": {{\"level\": {}, \"status\": \"{}\", \"reason\": {}, \"shown\": {}, \"passed\": {}, \"vectors\": {}}}",
                    side.name(),
                    json_str(&side.level(f).to_string()),
                    fc.status(side).name(),
                    reason,
                    c.shown(),
                    c.passed,
                    paths(c)
                )
                .ok();
            }
            write!(
                out,
                ",\n     \"component\": {{\"shown\": {}, \"passed\": {}, \"vectors\": {}}}, \"note\": {}}}",
                fc.component.shown(),
                fc.component.passed,
                paths(&fc.component),
                partial_note(f).map_or("null".to_owned(), json_str)
            )
            .ok();
        }
        out.push_str("\n  ],\n  \"gaps\": [");
        for (i, (f, side)) in self.gaps().into_iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            write!(
                out,
                "{{\"feature\": {}, \"side\": \"{}\"}}",
                json_str(f.name),
                side.name()
            )
            .ok();
        }
        write!(
            out,
            "],\n  \"vectors\": {},\n  \"passed\": {},\n  \"failed\": {}\n}}\n",
            self.vectors,
            self.passed,
            self.vectors - self.passed
        )
        .ok();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(name: &str) -> &'static Feature {
        feature(name).unwrap()
    }

    #[test]
    fn the_six_outside_the_transcript_and_the_s2s_sides_are_features() {
        for (name, _) in OUTSIDE_TRANSCRIPT {
            assert!(feature(name).is_some(), "{name}");
        }
        for name in SERVER_NEEDS_S2S {
            assert!(f(name).server.applies(), "{name}");
        }
        for (name, _) in PARTIAL {
            assert!(feature(name).is_some(), "{name}");
        }
    }

    #[test]
    fn sides_follow_the_role() {
        let bind = f("bind-support");
        assert!(counts_for("client", bind, Side::Client));
        assert!(!counts_for("client", bind, Side::Server));
        assert!(counts_for("server", bind, Side::Server));
        assert!(!counts_for("parser", bind, Side::Client));
        assert!(!counts_for("component", bind, Side::Client));
        let comment = f("xml-restriction-comment");
        assert!(counts_for("parser", comment, Side::Client));
        assert!(counts_for("parser", comment, Side::Server));
        // the server side of an s2s feature: only s2s vectors
        let to = f("stream-attribute-initial-to");
        assert!(counts_for("client", to, Side::Client));
        assert!(!counts_for("server", to, Side::Server));
        assert!(counts_for("s2s-out", to, Side::Server));
        assert!(!counts_for("client", f("tls-certs"), Side::Client));
    }

    #[test]
    fn tags_are_checked_against_the_list_and_the_role() {
        assert_eq!(check_tag("client", "bind"), Ok(()));
        assert_eq!(check_tag("client", "rfc6120:bind-mtn"), Ok(()));
        assert_eq!(check_tag("server", "rfc6120:bind-gen"), Ok(()));
        assert_eq!(check_tag("parser", "rfc6120:xml-restriction-pi"), Ok(()));
        assert_eq!(
            check_tag("component", "rfc6120:stream-error-generate"),
            Ok(())
        );
        let e = check_tag("client", "rfc6120:bind-generate").unwrap_err();
        assert!(
            e.contains("has no conformance feature \"bind-generate\""),
            "{e}"
        );
        let e = check_tag("client", "rfc6120:bind-gen").unwrap_err();
        assert!(
            e.contains("a client vector cannot show it (client N/A"),
            "{e}"
        );
        let e = check_tag("server", "rfc6120:stanza-attribute-to-validate").unwrap_err();
        assert!(e.contains("needs the s2s roles"), "{e}");
        let e = check_tag("parser", "rfc6120:stanza-kind-iq").unwrap_err();
        assert!(e.contains("only the xml- features"), "{e}");
        let e = check_tag("server", "rfc6120:tls-certs").unwrap_err();
        assert!(
            e.contains("no vector can show it (certificate validation"),
            "{e}"
        );
    }
}
