//! `live s2s-in`: which `s2s-in` vectors run against a live server's s2s port, with the
//! runner as the originating server `peer_domain` (XEP-0220 section 2.1.1, RFC 6120 section
//! 13.7.1.2's dialback fallback), and what it sends and expects.

use super::super::plan::{
    LiveStep, LiveTls, Rewrite, Site, action_not_live, attr, check_no_write_after_proceed,
    needs_core_values, other_role,
};
use crate::vector::{StepKind, Vector};

/// The steps of an `s2s-in` vector against a live server's s2s port: the vector's domain
/// stands for the site's `domain`, the sending domain (the `from` of the peer's header) for
/// the site's `peer_domain`; stream ids are the live server's.
pub fn plan_s2s_in(vector: &Vector, site: &Site, tls: LiveTls) -> Result<Vec<LiveStep>, String> {
    if vector.role != "s2s-in" {
        return Err(other_role(vector, "live s2s-in", "s2s-in"));
    }
    let Some(peer_domain) = &site.peer_domain else {
        return Err("the site file names no peer_domain (the runner's own domain)".into());
    };
    if tls == LiveTls::Direct {
        return Err("s2s streams here start unencrypted (STARTTLS)".into());
    }
    let mut domain = None;
    let mut stream_id = None;
    let mut tls_policy = None;
    for entry in &vector.config.entries {
        match entry.key.as_str() {
            "domain" => domain = entry.value.as_str().map(str::to_owned),
            "stream_id" => stream_id = entry.value.as_str().map(str::to_owned),
            "tls" => tls_policy = entry.value.as_str().map(str::to_owned),
            // The live server keys and verifies with its own secret; the runner answers its
            // <db:verify/> as the vector's embedder decided.
            "dialback_secret" => {}
            other => {
                return Err(format!(
                    "the vector configures {other}, which a site file does not declare"
                ));
            }
        }
    }
    let domain = domain.ok_or("the vector names no domain")?;
    let policy = tls_policy.unwrap_or_else(|| "required".into());
    if policy != site.tls {
        return Err(format!(
            "the vector configures tls = {policy:?}; the site declares {:?}",
            site.tls
        ));
    }
    // The sending domain is the one the peer's first header names; a `from` that is not a
    // domain (a vector about that mistake) is sent as written.
    let sender = vector
        .steps
        .iter()
        .find_map(|s| match &s.kind {
            StepKind::Peer(t) if t.contains("<stream:stream") => {
                attr(&t.replace('\n', " "), "from")
            }
            _ => None,
        })
        .filter(|from| !from.contains(['@', '/']));
    let mut rewrite = Rewrite::new(&domain, &Default::default(), site)?;
    if let Some(sender) = &sender {
        rewrite.add(sender, peer_domain);
    }
    check_no_write_after_proceed(vector)?;
    let mut steps = Vec::new();
    for (i, step) in vector.steps.iter().enumerate() {
        let n = i + 1;
        match &step.kind {
            StepKind::Peer(text) => {
                if let Some(why) = needs_core_values(text) {
                    return Err(why);
                }
                check_dialback_element(vector, i, text, sender.as_deref())?;
                steps.push(LiveStep::Send {
                    text: rewrite.names(text),
                    raw: false,
                });
            }
            StepKind::PeerHex(bytes) => steps.push(LiveStep::raw(bytes)),
            StepKind::Core(text) | StepKind::CoreExact(text) => steps.push(LiveStep::expect(
                rewrite.expected(text, stream_id.as_deref()),
                matches!(step.kind, StepKind::CoreExact(_)),
                n,
            )),
            StepKind::Silent => steps.push(LiveStep::Silent { step: n }),
            StepKind::Event(_) => {}
            StepKind::Action(line) => {
                let name = line.split(' ').next().unwrap_or_default();
                match name {
                    "tls-established" if line.contains("client-cert") => {
                        return Err("the runner presents no client certificate".into());
                    }
                    "tls-established" if tls == LiveTls::StartTls => steps.push(LiveStep::StartTls),
                    "tls-established" => {
                        return Err("the vector negotiates TLS; the run has --tls none".into());
                    }
                    "eof" => steps.push(LiveStep::Eof),
                    "dialback-valid" | "dialback-invalid" => steps.push(LiveStep::Authoritative {
                        valid: name == "dialback-valid",
                        step: n,
                    }),
                    "dialback-error" => {
                        return Err("the vector's embedder answers a dialback error of its \
                                    choosing; a live server chooses its own"
                            .into());
                    }
                    other => {
                        return Err(action_not_live(other));
                    }
                }
            }
        }
    }
    Ok(steps)
}

/// Dialback elements the runner can send for the vector: keys only from the sending domain
/// (another would have to resolve to the runner too), and no `<db:verify/>` that expects
/// `valid` (its key is computed with the vector's secret, not the live server's).
fn check_dialback_element(
    vector: &Vector,
    at: usize,
    text: &str,
    sender: Option<&str>,
) -> Result<(), String> {
    let flat = text.replace(['\n', '\t'], " ");
    if flat.contains("<db:result") {
        if let (Some(from), Some(sender)) = (attr(&flat, "from"), sender) {
            if !from.eq_ignore_ascii_case(sender) {
                return Err(format!(
                    "the vector sends a key for a second domain, {from}, which would have \
                     to reach the runner as well"
                ));
            }
        }
    }
    if flat.contains("<db:verify") {
        let answer_valid = vector.steps[at + 1..].iter().any(|s| match &s.kind {
            StepKind::Core(t) | StepKind::CoreExact(t) => {
                t.contains("<db:verify") && t.contains("type='valid'")
            }
            _ => false,
        });
        if answer_valid {
            return Err(
                "the vector's key for <db:verify/> is computed with its own \
                        dialback secret; the live server keys with its own"
                    .into(),
            );
        }
    }
    Ok(())
}
