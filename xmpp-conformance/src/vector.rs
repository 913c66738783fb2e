//! Loading vector files (VECTORS.md, "A file" and "Steps").
//!
//! A file that is not valid TOML, has a top-level key the format does not define, a step
//! without exactly one step key or with an unknown one, bad hex, an unknown `chunking` or
//! `match` value, or a tag `rfc6120:<feature>` that names no feature of RFC 6120 section 15
//! or one that the vector's role cannot show ([`coverage::check_tag`]) is refused with a
//! [`LoadError`] naming the line. Whether the role and its config, events and actions are
//! supported is decided later, by the runner, because it depends on which roles are
//! registered.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::coverage;
use crate::matching::MatchMode;

/// How the runner may cut the peer's bytes (the vector's `chunking` key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Chunking {
    /// Any cut must give the same result (the default).
    #[default]
    Any,
    /// Only as written: one call per `peer` step.
    AsWritten,
}

/// One `[config]` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigEntry {
    /// The key.
    pub key: String,
    /// The value.
    pub value: toml::Value,
    /// The 1-based line of the key.
    pub line: usize,
}

/// The vector's `[config]` table, in file order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    /// The entries.
    pub entries: Vec<ConfigEntry>,
}

impl Config {
    /// The entry for `key`, if present.
    pub fn get(&self, key: &str) -> Option<&ConfigEntry> {
        self.entries.iter().find(|e| e.key == key)
    }
}

/// What a step does (VECTORS.md, "Steps").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepKind {
    /// `peer`: these bytes (UTF-8 of the string, placeholders substituted) are fed.
    Peer(String),
    /// `peer_hex`: these bytes are fed.
    PeerHex(Vec<u8>),
    /// `core`: the output since the previous `core`/`core_exact` step matches this XML.
    Core(String),
    /// `core_exact`: the same, byte for byte.
    CoreExact(String),
    /// `event`: the next event is this one.
    Event(String),
    /// `action`: the embedder calls the core.
    Action(String),
    /// `silent = true`: nothing emitted or reported since the previous step.
    Silent,
}

impl StepKind {
    /// The step key, as written in a vector.
    pub fn key(&self) -> &'static str {
        match self {
            StepKind::Peer(_) => "peer",
            StepKind::PeerHex(_) => "peer_hex",
            StepKind::Core(_) => "core",
            StepKind::CoreExact(_) => "core_exact",
            StepKind::Event(_) => "event",
            StepKind::Action(_) => "action",
            StepKind::Silent => "silent",
        }
    }

    /// Does the step feed the peer's bytes?
    pub fn is_peer(&self) -> bool {
        matches!(self, StepKind::Peer(_) | StepKind::PeerHex(_))
    }
}

/// The step keys the format defines.
pub const STEP_KEYS: &[&str] = &[
    "peer",
    "peer_hex",
    "core",
    "core_exact",
    "event",
    "action",
    "silent",
];

/// One step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The 1-based line of the step's key.
    pub line: usize,
    /// What it does.
    pub kind: StepKind,
}

/// A loaded vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Vector {
    /// The file it was read from.
    pub path: PathBuf,
    /// `title`.
    pub title: String,
    /// `source`, if given.
    pub source: Option<String>,
    /// `role`.
    pub role: String,
    /// The line of the `role` key.
    pub role_line: usize,
    /// `tags`.
    pub tags: Vec<String>,
    /// `chunking`.
    pub chunking: Chunking,
    /// `match`.
    pub match_mode: MatchMode,
    /// `[config]`.
    pub config: Config,
    /// `[[step]]`, in order.
    pub steps: Vec<Step>,
}

impl Vector {
    /// The RFC 6120 conformance features the vector shows: its `rfc6120:<feature>` tags,
    /// without the prefix, in the order written.
    pub fn features(&self) -> Vec<String> {
        self.tags
            .iter()
            .filter_map(|t| t.strip_prefix(crate::rfc6120::TAG_PREFIX))
            .map(str::to_owned)
            .collect()
    }
}

/// A vector file that could not be read or is not a valid vector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    /// The file.
    pub path: PathBuf,
    /// The 1-based line of the problem, when it has one.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for LoadError {
    /// `PATH: line N: message`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, "line {line}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for LoadError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVector {
    title: Option<Spanned<String>>,
    source: Option<String>,
    role: Option<Spanned<String>>,
    tags: Option<Vec<Spanned<String>>>,
    chunking: Option<Spanned<String>>,
    #[serde(rename = "match")]
    match_mode: Option<Spanned<String>>,
    config: Option<BTreeMap<Spanned<String>, toml::Value>>,
    step: Option<Vec<RawStep>>,
}

/// A `[[step]]` table as written: keys and values with their places in the file.
type RawStep = Spanned<BTreeMap<Spanned<String>, Spanned<toml::Value>>>;

/// The 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Reads and parses the vector at `path`.
pub fn load(path: &Path) -> Result<Vector, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|e| LoadError {
        path: path.to_owned(),
        line: None,
        message: format!("cannot read: {e}"),
    })?;
    parse(path, &text)
}

/// Parses `text` as the vector file `path`.
pub fn parse(path: &Path, text: &str) -> Result<Vector, LoadError> {
    let fail = |line: Option<usize>, message: String| LoadError {
        path: path.to_owned(),
        line,
        message,
    };
    let raw: RawVector = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| line_of(text, s.start));
        fail(line, format!("invalid vector: {}", e.message().trim_end()))
    })?;
    let at = |s: &std::ops::Range<usize>| Some(line_of(text, s.start));

    let title = raw
        .title
        .ok_or_else(|| fail(None, "missing key 'title'".into()))?
        .into_inner();
    if title.contains('\n') {
        return Err(fail(None, "'title' must be one line".into()));
    }
    let role = raw
        .role
        .ok_or_else(|| fail(None, "missing key 'role'".into()))?;
    let role_line = line_of(text, role.span().start);
    let chunking = match &raw.chunking {
        None => Chunking::Any,
        Some(c) => match c.get_ref().as_str() {
            "any" => Chunking::Any,
            "as-written" => Chunking::AsWritten,
            other => {
                return Err(fail(
                    at(&c.span()),
                    format!("unknown chunking {other:?} (expected \"any\" or \"as-written\")"),
                ));
            }
        },
    };
    let match_mode = match &raw.match_mode {
        None => MatchMode::Exact,
        Some(m) => match m.get_ref().as_str() {
            "exact" => MatchMode::Exact,
            "relaxed" => MatchMode::Relaxed,
            other => {
                return Err(fail(
                    at(&m.span()),
                    format!("unknown match {other:?} (expected \"exact\" or \"relaxed\")"),
                ));
            }
        },
    };
    let mut tags = Vec::new();
    for tag in raw.tags.unwrap_or_default() {
        coverage::check_tag(role.get_ref(), tag.get_ref()).map_err(|m| fail(at(&tag.span()), m))?;
        tags.push(tag.into_inner());
    }
    let mut entries: Vec<ConfigEntry> = raw
        .config
        .unwrap_or_default()
        .into_iter()
        .map(|(k, value)| ConfigEntry {
            line: line_of(text, k.span().start),
            key: k.into_inner(),
            value,
        })
        .collect();
    entries.sort_by_key(|e| e.line);

    let mut steps = Vec::new();
    for (i, step) in raw.step.unwrap_or_default().into_iter().enumerate() {
        let n = i + 1;
        let step_line = line_of(text, step.span().start);
        let table = step.into_inner();
        let mut keys = table.into_iter();
        let (key, value) = match (keys.next(), keys.next()) {
            (Some(kv), None) => kv,
            (None, _) => {
                return Err(fail(
                    Some(step_line),
                    format!(
                        "step {n} has no step key (expected one of {})",
                        STEP_KEYS.join(", ")
                    ),
                ));
            }
            (Some((a, _)), Some((b, _))) => {
                let mut both = [a, b];
                both.sort_by_key(|k| k.span().start);
                return Err(fail(
                    at(&both[1].span()),
                    format!(
                        "step {n} has more than one step key ('{}' and '{}')",
                        both[0].get_ref(),
                        both[1].get_ref()
                    ),
                ));
            }
        };
        let line = line_of(text, key.span().start);
        let vline = line_of(text, value.span().start);
        let key = key.into_inner();
        let value = value.into_inner();
        let string = |v: toml::Value| match v {
            toml::Value::String(s) => Ok(s),
            other => Err(fail(
                Some(vline),
                format!(
                    "step {n}: '{key}' must be a string, got {}",
                    other.type_str()
                ),
            )),
        };
        let kind = match key.as_str() {
            "peer" => StepKind::Peer(string(value)?),
            "peer_hex" => {
                let s = string(value)?;
                StepKind::PeerHex(
                    decode_hex(&s)
                        .map_err(|m| fail(Some(vline), format!("step {n}: bad hex: {m}")))?,
                )
            }
            "core" => StepKind::Core(string(value)?),
            "core_exact" => StepKind::CoreExact(string(value)?),
            "event" => StepKind::Event(string(value)?),
            "action" => StepKind::Action(string(value)?),
            "silent" => match value {
                toml::Value::Boolean(true) => StepKind::Silent,
                other => {
                    return Err(fail(
                        Some(vline),
                        format!("step {n}: 'silent' must be true, got {other}"),
                    ));
                }
            },
            other => {
                return Err(fail(
                    Some(line),
                    format!(
                        "step {n}: unknown step key '{other}' (expected one of {})",
                        STEP_KEYS.join(", ")
                    ),
                ));
            }
        };
        steps.push(Step { line, kind });
    }
    if steps.is_empty() {
        return Err(fail(None, "no [[step]]".into()));
    }
    Ok(Vector {
        path: path.to_owned(),
        title,
        source: raw.source,
        role: role.into_inner(),
        role_line,
        tags,
        chunking,
        match_mode,
        config: Config { entries },
        steps,
    })
}

/// Decodes hex pairs, white space ignored.
pub fn decode_hex(s: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<char> = s.chars().filter(|c| !c.is_whitespace()).collect();
    if let Some(bad) = digits.iter().find(|c| !c.is_ascii_hexdigit()) {
        return Err(format!("{bad:?} is not a hex digit"));
    }
    if digits.len() % 2 != 0 {
        return Err(format!("odd number of hex digits ({})", digits.len()));
    }
    Ok(digits
        .chunks(2)
        .map(|p| (p[0].to_digit(16).unwrap_or(0) * 16 + p[1].to_digit(16).unwrap_or(0)) as u8)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<Vector, LoadError> {
        parse(Path::new("v.toml"), text)
    }

    const HEAD: &str = "title = \"t\"\nrole = \"parser\"\n";

    #[test]
    fn a_vector_loads_with_lines() {
        let v = p(&format!(
            "{HEAD}tags = [\"a\"]\nchunking = \"as-written\"\nmatch = \"relaxed\"\n\
             [config]\nmax_depth = 3\n\n[[step]]\npeer = \"<a>\"\n\n[[step]]\npeer_hex = \"c3 a9\"\n\
             [[step]]\nsilent = true\n"
        ))
        .unwrap();
        assert_eq!(v.role_line, 2);
        assert_eq!(v.chunking, Chunking::AsWritten);
        assert_eq!(v.match_mode, MatchMode::Relaxed);
        assert_eq!(v.config.get("max_depth").unwrap().line, 7);
        assert_eq!(v.steps[0].line, 10);
        assert_eq!(v.steps[1].kind, StepKind::PeerHex(vec![0xc3, 0xa9]));
        assert_eq!(v.steps[2].kind, StepKind::Silent);
    }

    #[test]
    fn errors_name_the_line() {
        let e = p(&format!("{HEAD}foo = 1\n[[step]]\npeer = \"\"\n")).unwrap_err();
        assert_eq!(e.line, Some(3), "{e}");
        assert!(e.message.contains("unknown field `foo`"), "{e}");

        let e = p(&format!("{HEAD}[[step]]\npeer = \"\"\ncore = \"\"\n")).unwrap_err();
        assert_eq!(e.line, Some(5), "{e}");
        assert!(
            e.message
                .contains("more than one step key ('peer' and 'core')"),
            "{e}"
        );

        let e = p(&format!("{HEAD}[[step]]\npeerx = \"\"\n")).unwrap_err();
        assert_eq!(
            (e.line, e.message.contains("unknown step key 'peerx'")),
            (Some(4), true)
        );

        let e = p(&format!("{HEAD}[[step]]\n[[step]]\npeer = \"\"\n")).unwrap_err();
        assert!(e.message.contains("step 1 has no step key"), "{e}");

        let e = p(&format!(
            "{HEAD}[[step]]\npeer_hex = \"\"\"\nc3\nzz\"\"\"\n"
        ))
        .unwrap_err();
        assert_eq!(e.line, Some(4));
        assert!(e.message.contains("bad hex: 'z' is not a hex digit"), "{e}");

        let e = p(&format!("{HEAD}[[step]]\npeer_hex = \"abc\"\n")).unwrap_err();
        assert!(e.message.contains("odd number of hex digits"), "{e}");

        let e = p(&format!(
            "{HEAD}chunking = \"some\"\n[[step]]\npeer = \"\"\n"
        ))
        .unwrap_err();
        assert_eq!(e.line, Some(3));
        assert!(e.message.contains("unknown chunking \"some\""), "{e}");

        let e = p(&format!("{HEAD}match = \"loose\"\n[[step]]\npeer = \"\"\n")).unwrap_err();
        assert!(e.message.contains("unknown match \"loose\""), "{e}");

        let e = p("title = \"t\"\nrole = \n").unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");

        let e = p(&format!("{HEAD}[[step]]\nsilent = false\n")).unwrap_err();
        assert!(e.message.contains("'silent' must be true"), "{e}");

        let e = p(&format!("{HEAD}[[step]]\nevent = 3\n")).unwrap_err();
        assert!(
            e.message.contains("'event' must be a string, got integer"),
            "{e}"
        );

        assert!(
            p("role = \"parser\"\n[[step]]\npeer = \"\"\n")
                .unwrap_err()
                .message
                .contains("title")
        );
        assert!(p(HEAD).unwrap_err().message.contains("no [[step]]"));
    }
}
