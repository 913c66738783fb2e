//! The report of a live run: one line per vector as text, or a Markdown section for
//! `vectors/LIVE.md` (`--format markdown`), where each failing vector is listed with the RFC
//! sentence the implementation departs from, taken from a findings file (`--findings`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::LiveOutcome;

/// One vector's result.
#[derive(Debug, Clone)]
pub struct LiveResult {
    /// The vector's path as given on the command line (its key in the findings file is the
    /// part from its suite folder on: `server/sasl-plain-wrong-password.toml`).
    pub path: String,
    /// Its `title`.
    pub title: String,
    /// Its `source`.
    pub source: Option<String>,
    /// What happened.
    pub outcome: LiveOutcome,
}

/// The sentence of the specification a vector asserts, quoted, for a failing vector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Where: `RFC 6120 section 6.4.5`.
    pub rfc: String,
    /// The sentence, word for word.
    pub quote: String,
    /// How the observed behaviour stands against it, when the failure is not plainly a
    /// departure from a MUST: a SHOULD, or behaviour the RFC allows where the vector records
    /// our core's stricter choice.
    pub note: Option<String>,
}

/// Reads a findings file:
///
/// ```toml
/// ["server/sasl-plain-wrong-password.toml"]
/// rfc = "RFC 6120 section 6.5.10"
/// quote = "The receiving entity MUST ..."
/// note = "a SHOULD"               # optional
/// ```
pub fn parse_findings(text: &str) -> Result<BTreeMap<String, Finding>, String> {
    let table: toml::Table = text.parse().map_err(|e| format!("findings file: {e}"))?;
    let mut out = BTreeMap::new();
    for (key, v) in table {
        let field = |f: &str| {
            v.get(f)
                .and_then(|x| x.as_str())
                .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
                .ok_or_else(|| format!("findings file: {key}.{f} missing"))
        };
        let finding = Finding {
            rfc: field("rfc")?,
            quote: field("quote")?,
            note: field("note").ok(),
        };
        out.insert(key, finding);
    }
    Ok(out)
}

/// The findings-file key of a vector path: from the folder above the file on
/// (`vectors/server/x.toml` → `server/x.toml`).
pub fn finding_key(path: &str) -> String {
    let parts: Vec<&str> = path.rsplitn(3, '/').collect();
    match parts[..] {
        [file, suite, ..] => format!("{suite}/{file}"),
        _ => path.to_owned(),
    }
}

/// Counts: (run, passed, failed, skipped).
pub fn counts(results: &[LiveResult]) -> (usize, usize, usize, usize) {
    let passed = results
        .iter()
        .filter(|r| r.outcome == LiveOutcome::Passed)
        .count();
    let failed = results
        .iter()
        .filter(|r| matches!(r.outcome, LiveOutcome::Failed { .. }))
        .count();
    let skipped = results.len() - passed - failed;
    (passed + failed, passed, failed, skipped)
}

/// The text report's line for one vector: `ok`, `FAIL` with the step and why, or `skip`
/// with the reason.
pub fn line(r: &LiveResult) -> String {
    match &r.outcome {
        LiveOutcome::Passed => format!("ok   {}\n", r.path),
        LiveOutcome::Failed { step, why } => format!("FAIL {}: step {step}: {why}\n", r.path),
        LiveOutcome::Skipped(why) => format!("skip {}: {why}\n", r.path),
    }
}

/// A Markdown section for `vectors/LIVE.md`: a heading with the implementation's name, the
/// counts, the failing vectors with the step, what arrived (shortened) and the RFC sentence,
/// and the reasons for skipping, counted. Nothing in it depends on timing, so two runs with
/// the same results write the same text.
pub fn to_markdown(
    name: &str,
    how: &str,
    results: &[LiveResult],
    findings: &BTreeMap<String, Finding>,
) -> String {
    let (run, passed, failed, skipped) = counts(results);
    let mut out = String::new();
    let _ = writeln!(out, "### {name}\n");
    if !how.is_empty() {
        let _ = writeln!(out, "{how}\n");
    }
    let _ = writeln!(
        out,
        "| vectors | run | passed | failed | skipped |\n| --- | --- | --- | --- | --- |\n\
         | {} | {run} | {passed} | {failed} | {skipped} |\n",
        results.len()
    );
    if failed > 0 {
        let _ = writeln!(out, "Failing vectors:\n");
        for r in results {
            let LiveOutcome::Failed { step, why } = &r.outcome else {
                continue;
            };
            let key = finding_key(&r.path);
            let _ = writeln!(out, "- `{key}` ({}), step {step}.", r.title);
            match findings.get(&key) {
                Some(f) => {
                    let _ = writeln!(out, "  {}: \"{}\"", f.rfc, f.quote);
                    if let Some(note) = &f.note {
                        let _ = writeln!(out, "  Note: {note}");
                    }
                }
                None => {
                    let _ = writeln!(
                        out,
                        "  {} (no sentence recorded in interop/live/findings.toml yet)",
                        r.source.as_deref().unwrap_or("no source")
                    );
                }
            }
            let _ = writeln!(out, "  {}", got(why).replace('`', "'"));
        }
        out.push('\n');
    }
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    for r in results {
        if let LiveOutcome::Skipped(why) = &r.outcome {
            *reasons.entry(generalize(why)).or_default() += 1;
        }
    }
    if !reasons.is_empty() {
        let _ = writeln!(
            out,
            "Skipped, by reason:\n\n| vectors | reason |\n| --- | --- |"
        );
        let mut by_count: Vec<(String, usize)> = reasons.into_iter().collect();
        by_count.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        for (why, n) in by_count {
            let _ = writeln!(out, "| {n} | {} |", why.replace('|', "\\|"));
        }
        out.push('\n');
    }
    out
}

/// A reason without the vector's own values in quotes, so that equal reasons count together.
fn generalize(why: &str) -> String {
    let mut out = String::new();
    let mut quoted = false;
    for c in why.chars() {
        if c == '"' {
            quoted = !quoted;
            if quoted {
                out.push_str("\"…\"");
            }
            continue;
        }
        if !quoted {
            out.push(c);
        }
    }
    out
}

/// What arrived and where it differs, from a failure's `expected X, got Y: at PATH: why`,
/// leaving out the expectation (the vector has it) and shortening what arrived.
fn got(why: &str) -> String {
    let Some(i) = why.find(", got ") else {
        return format!("`{}`", shorten(why, 300));
    };
    let rest = &why[i + ", got ".len()..];
    match rest.rfind(": at ") {
        Some(j) => format!(
            "Got `{}`; differs {}",
            shorten(&elide_header(&rest[..j]), 300),
            shorten(&rest[j + 2..], 300)
        ),
        None => format!("Got `{}`", shorten(&elide_header(rest), 300)),
    }
}

/// `text` with a stream header that something follows written `<stream:stream …>` (and
/// an XML declaration before it left out): its attributes (ids, names) fill the excerpt,
/// while the difference is usually in what follows.
fn elide_header(text: &str) -> String {
    let Some(at) = text.find("<stream:stream") else {
        return text.to_owned();
    };
    let Some(end) = text[at..].find('>').map(|e| at + e + 1) else {
        return text.to_owned();
    };
    let before = text[..at].trim_start();
    let before = match before.strip_prefix("<?xml") {
        Some(decl) => decl.split_once("?>").map_or(before, |(_, after)| after),
        None => before,
    };
    if text[end..].trim().is_empty() {
        return text.to_owned();
    }
    format!("{before}<stream:stream …>{}", &text[end..])
}

fn shorten(text: &str, max: usize) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= max {
        return one_line;
    }
    let cut: String = one_line.chars().take(max).collect();
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_header_before_what_differs_is_elided() {
        let got = super::elide_header(
            "<?xml version='1.0'?><stream:stream id='x' from='a'><stream:features><b/></stream:features>",
        );
        assert_eq!(
            got,
            "<stream:stream …><stream:features><b/></stream:features>"
        );
        // A header alone is what arrived: kept whole.
        let alone = "<stream:stream id='x' from='a'>";
        assert_eq!(super::elide_header(alone), alone);
    }

    use super::*;

    fn result(path: &str, outcome: LiveOutcome) -> LiveResult {
        LiveResult {
            path: path.into(),
            title: "t".into(),
            source: Some("RFC 6120 section 6.4.5".into()),
            outcome,
        }
    }

    #[test]
    fn markdown_counts_and_quotes_the_finding() {
        let results = vec![
            result("vectors/server/a.toml", LiveOutcome::Passed),
            result(
                "vectors/server/b.toml",
                LiveOutcome::Failed {
                    step: 3,
                    why: "expected <x/>, got <y/>".into(),
                },
            ),
            result(
                "vectors/server/c.toml",
                LiveOutcome::Skipped("SCRAM".into()),
            ),
            result(
                "vectors/server/d.toml",
                LiveOutcome::Failed {
                    step: 1,
                    why: "x".into(),
                },
            ),
        ];
        let findings = parse_findings(
            "[\"server/b.toml\"]\nrfc = \"RFC 6120 section 4.9.1.1\"\nquote = \"\"\"The entity MUST\n  do this.\"\"\"\n",
        )
        .unwrap();
        let md = to_markdown("Peer 1.0", "", &results, &findings);
        assert!(md.contains("| 4 | 3 | 1 | 2 | 1 |"), "{md}");
        assert!(
            md.contains("RFC 6120 section 4.9.1.1: \"The entity MUST do this.\""),
            "{md}"
        );
        assert!(md.contains("`server/d.toml`"), "{md}");
        assert!(md.contains("no sentence recorded"), "{md}");
        assert!(md.contains("| 1 | SCRAM |"), "{md}");
    }
}
