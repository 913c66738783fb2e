//! `live s2s-out`: which `s2s-out` vectors run with a live server as the originating server
//! and the runner as the receiving server `peer_domain`, and what the runner sends and
//! expects.
//!
//! A server opens an s2s stream when one of its users routes a stanza to a remote domain
//! (RFC 6120 section 10.4), not when an embedder says `open`; so
//! the vector's `open` stands for the run's trigger, a command that makes a user of the
//! server under test send a message to `peer_domain` carrying [`TRIGGER_MARKER`]. That
//! message arrives on the stream once it is authorized; the runner takes it out of what it
//! reads, since the vector does not know it. The key the live server sends is its own
//! (computed with its own secret and the runner's stream id), so a `<db:result/>` key the
//! vector expects matches any value; the runner answers as the vector's peer does, without
//! verifying it (the server under test is trusted, as a test peer).

use super::super::plan::{LiveStep, Rewrite, Site, action_not_live, other_role};
use super::{attr, element};
use crate::vector::{StepKind, Vector};

/// The text the trigger's message carries, by which the runner recognizes it on the stream.
pub const TRIGGER_MARKER: &str = "live-s2s-out-trigger";

/// The steps of an `s2s-out` vector with a live server as the originating server: the
/// vector's `domain` stands for the site's `domain`, its `remote` for the site's
/// `peer_domain`. `tls`: the runner has a certificate to accept STARTTLS with.
pub fn plan_s2s_out(vector: &Vector, site: &Site, tls: bool) -> Result<Vec<LiveStep>, String> {
    if vector.role != "s2s-out" {
        return Err(other_role(vector, "live s2s-out", "s2s-out"));
    }
    let Some(peer_domain) = &site.peer_domain else {
        return Err("the site file names no peer_domain (the runner's own domain)".into());
    };
    let (mut domain, mut remote, mut policy) = (None, None, None);
    for entry in &vector.config.entries {
        let text = || entry.value.as_str().map(str::to_owned);
        match entry.key.as_str() {
            "domain" => domain = text(),
            "remote" => remote = text(),
            "tls" => policy = text(),
            // The live server keys with its own secret.
            "dialback_secret" => {}
            other => {
                return Err(format!(
                    "the vector configures {other}, which a site file does not declare"
                ));
            }
        }
    }
    let domain = domain.ok_or("the vector names no domain")?;
    let remote = remote.ok_or("the vector names no remote domain")?;
    let policy = policy.unwrap_or_else(|| "required".into());
    if policy != site.tls {
        return Err(format!(
            "the vector configures tls = {policy:?}; the site declares {:?}",
            site.tls
        ));
    }
    let mut rewrite = Rewrite::new(&domain, &Default::default(), site)?;
    rewrite.add(&remote, peer_domain);
    let mut steps = Vec::new();
    let mut opened = false;
    // Between the runner's `<proceed/>` and its TLS handshake.
    let mut after_proceed = false;
    // The runner refused the stream's pair: a live server may give up on the stream.
    let mut refused = false;
    for (i, step) in vector.steps.iter().enumerate() {
        let n = i + 1;
        let on_wire = !matches!(step.kind, StepKind::Event(_) | StepKind::Action(_));
        if on_wire && !opened {
            return Err("the vector's stream does not start with open".into());
        }
        match &step.kind {
            StepKind::Peer(_) | StepKind::PeerHex(_) if after_proceed => {
                return Err("the runner would write between its <proceed/> and the TLS \
                            handshake, which the live server's TLS layer reads as a record"
                    .into());
            }
            StepKind::Peer(text) if refused && text.contains("<db:") => {
                return Err(
                    "the vector's peer goes on with dialback after refusing the \
                            stream's pair; a live server may give up on that stream then (its \
                            embedder's choice, which the vector's embedder does not make)"
                        .into(),
                );
            }
            StepKind::Peer(text) => {
                if let Some(at) = text.find("<proceed") {
                    after_proceed = true;
                    let rest = &text[at..];
                    let end = rest.find("/>").map_or(rest.len(), |e| e + 2);
                    if !rest[end..].trim().is_empty() {
                        return Err("the runner would write after its <proceed/>, before the \
                                    TLS handshake, which the live server's TLS layer reads \
                                    as a record"
                            .into());
                    }
                }
                steps.push(LiveStep::Send {
                    text: rewrite.names(text),
                    raw: false,
                });
            }
            StepKind::PeerHex(bytes) => steps.push(LiveStep::raw(bytes)),
            StepKind::Core(text) | StepKind::CoreExact(text) => steps.push(LiveStep::expect(
                any_key(&rewrite.names(text)),
                matches!(step.kind, StepKind::CoreExact(_)),
                n,
            )),
            StepKind::Silent => steps.push(LiveStep::Silent { step: n }),
            StepKind::Event(e) => refused |= e.starts_with("dialback-refused "),
            StepKind::Action(line) => {
                let name = line.split(' ').next().unwrap_or_default();
                match name {
                    "open" if !opened => opened = true,
                    "open" => return Err("the vector opens a second stream".into()),
                    "tls-established" if line.trim() != "tls-established" => {
                        return Err("the vector's TLS carries a client certificate, which \
                                    the runner does not ask for"
                            .into());
                    }
                    "tls-established" if tls => {
                        after_proceed = false;
                        steps.push(LiveStep::StartTls);
                    }
                    "tls-established" => {
                        return Err("the vector negotiates TLS; the runner has no certificate \
                                    (--cert, --key)"
                            .into());
                    }
                    "eof" => steps.push(LiveStep::Eof),
                    "send" => {
                        return Err("the vector's embedder sends a stanza; a live server sends \
                                    what its users route"
                            .into());
                    }
                    "verify" => {
                        return Err("the vector's embedder asks for a key's verification; a \
                                    live server asks for its own incoming streams"
                            .into());
                    }
                    other => {
                        return Err(action_not_live(other));
                    }
                }
            }
        }
    }
    if !opened {
        return Err("the vector's stream is never opened".into());
    }
    Ok(steps)
}

/// `text` with the key of every `<db:result>KEY</db:result>` request (no `type`) written
/// `{*}`: the live server's key is computed with its own secret.
fn any_key(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some((start, end)) = element(rest, "<db:result", "</db:result>") {
        let element = &rest[start..end];
        let tag_end = element.find('>').map_or(element.len(), |e| e + 1);
        let request = attr(&element[..tag_end], "type").is_none() && !element.ends_with("/>");
        out.push_str(&rest[..start]);
        if request {
            out.push_str(&element[..tag_end]);
            out.push_str("{*}</db:result>");
        } else {
            out.push_str(element);
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_key_of_a_request_matches_any_value() {
        assert_eq!(
            super::any_key("<db:result from='a' to='b'>k3y</db:result><x/>"),
            "<db:result from='a' to='b'>{*}</db:result><x/>"
        );
        // An answer keeps its text (none, or an error).
        let answer = "<db:result from='a' to='b' type='valid'/>";
        assert_eq!(super::any_key(answer), answer);
    }

    #[test]
    fn dialback_after_the_pair_was_refused_is_skipped() {
        let site = crate::live::plan::Site::parse(
            "domain = \"localhost\"\npeer_domain = \"runner.localhost\"\ntls = \"disabled\"",
        )
        .unwrap();
        for path in [
            "../vectors/s2s-out/dialback-valid-after-error-is-unsolicited.toml",
            "../vectors/s2s-out/dialback-xep0220-valid.toml",
        ] {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
            let vector = crate::vector::load(&path).unwrap();
            let plan = super::plan_s2s_out(&vector, &site, false);
            let refused = path.to_string_lossy().contains("after-error");
            assert_eq!(
                plan.as_ref()
                    .err()
                    .is_some_and(|e| e.contains("after refusing")),
                refused,
                "{path:?}: {plan:?}"
            );
        }
    }
}
