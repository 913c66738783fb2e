//! Finding vector files, running them, and reporting: the text format of VECTORS.md, a JSON
//! document, and JUnit XML for CI systems.

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

use crate::run::{Failure, Location, Reason, Runner};
use crate::vector::{self, LoadError};

/// The result of one vector file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VectorResult {
    /// The file.
    pub path: PathBuf,
    /// Its title, when the file could be read.
    pub title: Option<String>,
    /// Its role, when the file could be read.
    pub role: Option<String>,
    /// The RFC 6120 conformance features it shows (its `rfc6120:` tags, without the
    /// prefix); none when the file could not be read.
    pub features: Vec<String>,
    /// The number of replays that ran and passed, or the failure.
    pub outcome: Result<usize, Failure>,
}

impl VectorResult {
    /// Did the vector pass?
    pub fn passed(&self) -> bool {
        self.outcome.is_ok()
    }
}

/// The results of a run, in the order the files were run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// One result per vector run.
    pub results: Vec<VectorResult>,
}

/// Every `*.toml` file under `paths` (files are taken as they are, folders searched
/// recursively), sorted and without duplicates. A path that does not exist is an error.
pub fn collect_files(paths: &[PathBuf]) -> io::Result<Vec<PathBuf>> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_dir() {
                walk(&path, out)?;
            } else if path.extension().is_some_and(|e| e == "toml") {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut out)?;
        } else if p.is_file() {
            out.push(p.clone());
        } else {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{}: no such file or folder", p.display()),
            ));
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

impl Runner {
    /// Loads and runs one file.
    pub fn run_file(&self, path: &Path) -> VectorResult {
        match vector::load(path) {
            Ok(v) => self.result(path.to_owned(), &v),
            Err(e) => load_failure(e),
        }
    }

    /// Runs every vector under `paths` (see [`collect_files`]) that has one of `tags`, or
    /// every vector when `tags` is empty. A file that cannot be loaded is always run, and
    /// fails.
    pub fn run_paths(&self, paths: &[PathBuf], tags: &[String]) -> io::Result<Report> {
        let mut results = Vec::new();
        for path in collect_files(paths)? {
            let result = match vector::load(&path) {
                Ok(v) => {
                    if !tags.is_empty() && !v.tags.iter().any(|t| tags.contains(t)) {
                        continue;
                    }
                    self.result(path, &v)
                }
                Err(e) => load_failure(e),
            };
            results.push(result);
        }
        Ok(Report { results })
    }
}

impl Runner {
    fn result(&self, path: PathBuf, v: &vector::Vector) -> VectorResult {
        VectorResult {
            path,
            title: Some(v.title.clone()),
            role: Some(v.role.clone()),
            features: v.features(),
            outcome: self.run_vector(v),
        }
    }
}

fn load_failure(e: LoadError) -> VectorResult {
    VectorResult {
        path: e.path,
        title: None,
        role: None,
        features: Vec::new(),
        outcome: Err(Failure {
            location: Location::File { line: e.line },
            reason: Reason::Invalid(e.message),
            replay: None,
        }),
    }
}

/// `path` relative to `base` when it is inside it, with `/` separators.
pub(crate) fn shown(path: &Path, base: Option<&Path>) -> String {
    let rel = base.and_then(|b| path.strip_prefix(b).ok()).unwrap_or(path);
    let shown = rel.to_string_lossy();
    if cfg!(windows) {
        shown.replace('\\', "/")
    } else {
        shown.into_owned()
    }
}

impl Report {
    /// How many vectors passed.
    pub fn passed(&self) -> usize {
        self.results.iter().filter(|r| r.passed()).count()
    }

    /// How many vectors failed.
    pub fn failed(&self) -> usize {
        self.results.len() - self.passed()
    }

    /// The text format: `ok   PATH` or `FAIL PATH: <failure>` per vector, then
    /// `N passed, N failed` alone on a line. Paths are shown relative to `base` when given.
    pub fn to_text(&self, base: Option<&Path>) -> String {
        let mut out = String::new();
        for r in &self.results {
            let path = shown(&r.path, base);
            match &r.outcome {
                Ok(_) => writeln!(out, "ok   {path}"),
                Err(f) => writeln!(out, "FAIL {path}: {f}"),
            }
            .ok();
        }
        writeln!(out, "{} passed, {} failed", self.passed(), self.failed()).ok();
        out
    }

    /// One JSON document: `{"results": [...], "passed": N, "failed": N}`; each result has
    /// `path`, `title`, `role`, `features` (the RFC 6120 conformance features it shows), `ok`,
    /// and for a failure `failure` with `message` (the text format's),
    /// `line`, `step`, `kind`, `replay`, `reason` (`invalid`, `unsupported` or `mismatch`),
    /// and for a mismatch `expected`, `got` and `difference`.
    pub fn to_json(&self, base: Option<&Path>) -> String {
        let mut out = String::from("{\n  \"results\": [");
        for (i, r) in self.results.iter().enumerate() {
            out.push_str(if i == 0 { "\n    {" } else { ",\n    {" });
            write!(out, "\"path\": {}", json_str(&shown(&r.path, base))).ok();
            let opt = |s: &Option<String>| s.as_deref().map_or("null".to_owned(), json_str);
            write!(
                out,
                ", \"title\": {}, \"role\": {}, \"features\": [{}]",
                opt(&r.title),
                opt(&r.role),
                r.features
                    .iter()
                    .map(|f| json_str(f))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
            .ok();
            match &r.outcome {
                Ok(n) => write!(out, ", \"ok\": true, \"replays\": {n}").ok(),
                Err(f) => write!(out, ", \"ok\": false, \"failure\": {}", failure_json(f)).ok(),
            };
            out.push('}');
        }
        if !self.results.is_empty() {
            out.push_str("\n  ");
        }
        write!(
            out,
            "],\n  \"passed\": {},\n  \"failed\": {}\n}}\n",
            self.passed(),
            self.failed()
        )
        .ok();
        out
    }

    /// JUnit XML: one `<testsuite>` in `<testsuites>`, one `<testcase>` per vector with
    /// `classname` its folder's name and `name` its file stem, a `<properties>` child with
    /// one `<property name="rfc6120" value="<feature>"/>` per RFC 6120 conformance feature the
    /// vector shows, and a `<failure>` for each failed vector.
    pub fn to_junit(&self, base: Option<&Path>) -> String {
        let (n, failed) = (self.results.len(), self.failed());
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        writeln!(
            out,
            "<testsuites name=\"xmpp-conformance\" tests=\"{n}\" failures=\"{failed}\" errors=\"0\">"
        )
        .ok();
        writeln!(
            out,
            "  <testsuite name=\"xmpp-conformance\" tests=\"{n}\" failures=\"{failed}\" errors=\"0\" skipped=\"0\">"
        )
        .ok();
        for r in &self.results {
            let suite = r
                .path
                .parent()
                .and_then(|p| p.file_name())
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let stem = r
                .path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let path = shown(&r.path, base);
            write!(
                out,
                "    <testcase classname=\"{}\" name=\"{}\" file=\"{}\"",
                xml_escape(&suite),
                xml_escape(&stem),
                xml_escape(&path)
            )
            .ok();
            let mut props = String::new();
            if !r.features.is_empty() {
                props.push_str("\n      <properties>");
                for f in &r.features {
                    write!(
                        props,
                        "\n        <property name=\"rfc6120\" value=\"{}\"/>",
                        xml_escape(f)
                    )
                    .ok();
                }
                props.push_str("\n      </properties>");
            }
            match &r.outcome {
                Ok(_) if props.is_empty() => out.push_str("/>\n"),
                Ok(_) => {
                    writeln!(out, ">{props}\n    </testcase>").ok();
                }
                Err(f) => {
                    let kind = match f.reason {
                        Reason::Invalid(_) => "invalid",
                        Reason::Unsupported(_) => "unsupported",
                        Reason::Mismatch(_) => "mismatch",
                    };
                    let mut body = format!("{path}: {f}");
                    if let Some(t) = &r.title {
                        body.push_str(&format!("\ntitle: {t}"));
                    }
                    writeln!(
                        out,
                        ">{props}\n      <failure message=\"{}\" type=\"{kind}\">{}</failure>\n    </testcase>",
                        xml_escape(&f.to_string()),
                        xml_escape(&body)
                    )
                    .ok();
                }
            }
        }
        out.push_str("  </testsuite>\n</testsuites>\n");
        out
    }
}

fn failure_json(f: &Failure) -> String {
    let mut out = format!("{{\"message\": {}", json_str(&f.to_string()));
    let (line, step, kind) = match &f.location {
        Location::File { line } => (*line, None, None),
        Location::Step { index, kind, line } => (Some(*line), Some(*index), Some(*kind)),
        Location::End { after } => (None, Some(*after), Some("end")),
    };
    let opt_num = |n: Option<usize>| n.map_or("null".to_owned(), |n| n.to_string());
    let opt_str = |s: Option<&str>| s.map_or("null".to_owned(), json_str);
    write!(
        out,
        ", \"line\": {}, \"step\": {}, \"kind\": {}, \"replay\": {}",
        opt_num(line),
        opt_num(step),
        opt_str(kind),
        opt_str(f.replay.map(|r| r.to_string()).as_deref())
    )
    .ok();
    match &f.reason {
        Reason::Invalid(m) => write!(
            out,
            ", \"reason\": \"invalid\", \"detail\": {}",
            json_str(m)
        ),
        Reason::Unsupported(m) => {
            write!(
                out,
                ", \"reason\": \"unsupported\", \"detail\": {}",
                json_str(m)
            )
        }
        Reason::Mismatch(m) => write!(
            out,
            ", \"reason\": \"mismatch\", \"expected\": {}, \"got\": {}, \"difference\": {}",
            json_str(&m.expected),
            json_str(&m.got),
            opt_str(m.difference.as_ref().map(|d| d.to_string()).as_deref())
        ),
    }
    .ok();
    out.push('}');
    out
}

/// A JSON string literal.
pub(crate) fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                write!(out, "\\u{:04x}", c as u32).ok();
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Text for an XML attribute value or element content: markup characters escaped, line
/// ends kept as references, characters that XML 1.0 cannot carry replaced by U+FFFD.
fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if (c as u32) < 0x20 || matches!(c, '\u{FFFE}' | '\u{FFFF}') => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(json_str("a\"b\\c\n\u{1}é"), "\"a\\\"b\\\\c\\n\\u0001é\"");
        assert_eq!(
            xml_escape("<a b=\"c\" d='e'>&\n\u{0}"),
            "&lt;a b=&quot;c&quot; d=&apos;e&apos;&gt;&amp;&#10;\u{FFFD}"
        );
    }
}
