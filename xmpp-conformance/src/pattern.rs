//! Placeholders (VECTORS.md, "Matching"): `{*}` matches any run of characters, `{name}`
//! captures a run at its first use and stands for the captured value at every later use,
//! `{{` and `}}` are literal braces.
//!
//! Matching is leftmost-shortest: placeholders are tried from left to right, each with the
//! shortest run that lets the rest of the value match. Matching works on bytes so that the
//! same code serves `core_exact` steps, which match runs of raw bytes.

use std::collections::BTreeMap;
use std::fmt;

/// The values captured so far in one replay of a vector, by placeholder name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Captures {
    values: BTreeMap<String, Vec<u8>>,
}

impl Captures {
    /// No captures.
    pub fn new() -> Self {
        Captures::default()
    }

    /// The value captured under `name`, if any (lossily decoded when it is not UTF-8).
    pub fn get(&self, name: &str) -> Option<String> {
        self.values
            .get(name)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }

    fn get_bytes(&self, name: &str) -> Option<&[u8]> {
        self.values.get(name).map(Vec::as_slice)
    }

    /// Records `value` under `name` (replacing any earlier value).
    pub fn insert(&mut self, name: &str, value: &[u8]) {
        self.values.insert(name.to_owned(), value.to_vec());
    }
}

/// One piece of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Literal text (braces already unescaped).
    Literal(String),
    /// `{*}`: any run, the empty run included.
    Any,
    /// `{name}`: a capture, or its value once captured.
    Capture(String),
}

/// A value with placeholders, as written in a vector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    segments: Vec<Segment>,
}

/// A placeholder that is malformed, or that cannot be used where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError(pub String);

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PatternError {}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '-'
}

impl Pattern {
    /// Parses `text`. A `{` that does not start `{{`, `{*}` or `{name}` (name: letters,
    /// digits, `_`, `-`) and a `}` that does not start `}}` are errors: literal braces are
    /// written doubled.
    pub fn parse(text: &str) -> Result<Pattern, PatternError> {
        let mut segments = Vec::new();
        let mut lit = String::new();
        let mut rest = text;
        while let Some(k) = rest.find(['{', '}']) {
            lit.push_str(&rest[..k]);
            let tail = &rest[k..];
            if let Some(r) = tail.strip_prefix("{{") {
                lit.push('{');
                rest = r;
            } else if let Some(r) = tail.strip_prefix("}}") {
                lit.push('}');
                rest = r;
            } else if tail.starts_with('}') {
                return Err(PatternError(format!(
                    "lone '}}' in {text:?} (write '}}}}' for a literal brace)"
                )));
            } else {
                let close = tail.find('}');
                let name = close.map(|c| &tail[1..c]);
                let seg = match name {
                    Some("*") => Segment::Any,
                    Some(n) if !n.is_empty() && n.chars().all(is_name_char) => {
                        Segment::Capture(n.to_owned())
                    }
                    _ => {
                        return Err(PatternError(format!(
                            "'{{' that starts no placeholder in {text:?} (write '{{{{' for a \
                             literal brace)"
                        )));
                    }
                };
                if !lit.is_empty() {
                    segments.push(Segment::Literal(core::mem::take(&mut lit)));
                }
                segments.push(seg);
                rest = &tail[close.unwrap_or(0) + 1..];
            }
        }
        lit.push_str(rest);
        if !lit.is_empty() {
            segments.push(Segment::Literal(lit));
        }
        Ok(Pattern { segments })
    }

    /// A pattern that matches `text` literally.
    pub fn literal(text: &str) -> Pattern {
        Pattern {
            segments: if text.is_empty() {
                Vec::new()
            } else {
                vec![Segment::Literal(text.to_owned())]
            },
        }
    }

    /// The pieces of the pattern.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Does the pattern hold no placeholder?
    pub fn is_literal(&self) -> bool {
        self.segments
            .iter()
            .all(|s| matches!(s, Segment::Literal(_)))
    }

    /// Matches `actual`. On success the captures made by this match are added to `caps`;
    /// on failure `caps` is unchanged. Placeholders already in `caps` stand for their value.
    pub fn matches(&self, actual: &[u8], caps: &mut Captures) -> bool {
        let mut local = Vec::new();
        if match_from(&self.segments, actual, caps, &mut local) {
            for (name, value) in local {
                caps.insert(&name, &value);
            }
            true
        } else {
            false
        }
    }

    /// Matches the string `actual` (see [`Pattern::matches`]).
    pub fn matches_str(&self, actual: &str, caps: &mut Captures) -> bool {
        self.matches(actual.as_bytes(), caps)
    }

    /// The text with every capture replaced by its value and braces unescaped: for `peer`
    /// steps and action arguments. `{*}` and a capture not yet made are errors.
    pub fn substitute(&self, caps: &Captures) -> Result<Vec<u8>, PatternError> {
        let mut out = Vec::new();
        for seg in &self.segments {
            match seg {
                Segment::Literal(l) => out.extend_from_slice(l.as_bytes()),
                Segment::Any => {
                    return Err(PatternError(
                        "'{*}' can only be used where the core's output or events are matched"
                            .into(),
                    ));
                }
                Segment::Capture(name) => match caps.get_bytes(name) {
                    Some(v) => out.extend_from_slice(v),
                    None => {
                        return Err(PatternError(format!(
                            "{{{name}}} is used before any step captured it"
                        )));
                    }
                },
            }
        }
        Ok(out)
    }

    /// The pattern for a person to read: captures already made shown with their values
    /// (`{sid=abc}`), others as written.
    pub fn display(&self, caps: &Captures) -> String {
        let mut out = String::new();
        for seg in &self.segments {
            match seg {
                Segment::Literal(l) => out.push_str(l),
                Segment::Any => out.push_str("{*}"),
                Segment::Capture(name) => match caps.get(name) {
                    Some(v) => out.push_str(&format!("{{{name}={v}}}")),
                    None => out.push_str(&format!("{{{name}}}")),
                },
            }
        }
        out
    }
}

fn match_from(
    segs: &[Segment],
    actual: &[u8],
    caps: &Captures,
    local: &mut Vec<(String, Vec<u8>)>,
) -> bool {
    let Some((first, rest)) = segs.split_first() else {
        return actual.is_empty();
    };
    let bound = |name: &str, local: &Vec<(String, Vec<u8>)>| -> Option<Vec<u8>> {
        caps.get_bytes(name).map(<[u8]>::to_vec).or_else(|| {
            local
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        })
    };
    let literal = match first {
        Segment::Literal(l) => Some(l.as_bytes().to_vec()),
        Segment::Capture(name) => bound(name, local),
        Segment::Any => None,
    };
    if let Some(lit) = literal {
        return actual.starts_with(&lit) && match_from(rest, &actual[lit.len()..], caps, local);
    }
    // A placeholder to fill: the shortest run first.
    for end in 0..=actual.len() {
        match first {
            Segment::Capture(name) => {
                local.push((name.clone(), actual[..end].to_vec()));
                if match_from(rest, &actual[end..], caps, local) {
                    return true;
                }
                local.pop();
            }
            _ => {
                if match_from(rest, &actual[end..], caps, local) {
                    return true;
                }
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, actual: &str) -> Option<Captures> {
        let mut caps = Captures::new();
        Pattern::parse(pattern)
            .unwrap()
            .matches_str(actual, &mut caps)
            .then_some(caps)
    }

    #[test]
    fn literal_patterns_match_exactly() {
        assert!(m("abc", "abc").is_some());
        assert!(m("abc", "abcd").is_none());
        assert!(m("", "").is_some());
        assert!(m("", "x").is_none());
    }

    #[test]
    fn star_matches_any_run_including_the_empty_one() {
        assert!(m("{*}", "").is_some());
        assert!(m("{*}", "anything at all").is_some());
        assert!(m("push-{*}", "push-").is_some());
        assert!(m("push-{*}", "push-17").is_some());
        assert!(m("push-{*}", "pull-17").is_none());
        assert!(m("{*}-{*}", "a-b-c").is_some());
    }

    #[test]
    fn captures_are_leftmost_shortest() {
        let caps = m("{a}-{b}", "x-y-z").unwrap();
        assert_eq!(caps.get("a").unwrap(), "x");
        assert_eq!(caps.get("b").unwrap(), "y-z");
        let caps = m("{a}{b}", "xyz").unwrap();
        assert_eq!(caps.get("a").unwrap(), "");
        assert_eq!(caps.get("b").unwrap(), "xyz");
        let caps = m("{*}.{ext}", "a.b.c").unwrap();
        assert_eq!(caps.get("ext").unwrap(), "b.c");
        let caps = m("id-{n}", "id-42").unwrap();
        assert_eq!(caps.get("n").unwrap(), "42");
    }

    #[test]
    fn a_capture_stands_for_its_value_once_made() {
        let caps = m("{x}/{x}", "ab/ab").unwrap();
        assert_eq!(caps.get("x").unwrap(), "ab");
        assert!(m("{x}/{x}", "ab/ac").is_none());

        let mut caps = Captures::new();
        caps.insert("sid", b"s1");
        let p = Pattern::parse("id='{sid}'").unwrap();
        assert!(p.matches_str("id='s1'", &mut caps));
        assert!(!p.matches_str("id='s2'", &mut caps));
        assert_eq!(caps.get("sid").unwrap(), "s1");
        assert_eq!(p.display(&caps), "id='{sid=s1}'");
    }

    #[test]
    fn a_failed_match_captures_nothing() {
        let mut caps = Captures::new();
        let p = Pattern::parse("{a}-{b}!").unwrap();
        assert!(!p.matches_str("x-y", &mut caps));
        assert_eq!(caps, Captures::new());
    }

    #[test]
    fn doubled_braces_are_literal() {
        assert!(m("{{x}}", "{x}").is_some());
        assert!(m("{{{x}}}", "{abc}").unwrap().get("x").unwrap() == "abc");
        assert!(m("a{{", "a{").is_some());
        assert!(m("{{*}}", "{*}").is_some());
        assert!(m("{{*}}", "anything").is_none());
    }

    #[test]
    fn malformed_placeholders_are_errors() {
        for bad in ["{", "}", "a{b", "{a b}", "{}", "{a.b}", "x}y"] {
            assert!(Pattern::parse(bad).is_err(), "{bad}");
        }
        assert!(Pattern::parse("{a-b_9}").is_ok());
    }

    #[test]
    fn substitution_fills_captures_and_unescapes() {
        let mut caps = Captures::new();
        caps.insert("res", b"balcony");
        let p = Pattern::parse("online juliet@localhost/{res} {{ok}}").unwrap();
        assert_eq!(
            p.substitute(&caps).unwrap(),
            b"online juliet@localhost/balcony {ok}"
        );
        let e = Pattern::parse("{other}")
            .unwrap()
            .substitute(&caps)
            .unwrap_err();
        assert!(e.0.contains("{other} is used before"), "{e}");
        assert!(Pattern::parse("{*}").unwrap().substitute(&caps).is_err());
    }

    #[test]
    fn raw_bytes_match_for_core_exact() {
        let mut caps = Captures::new();
        let p = Pattern::parse("<a id='{id}'/>").unwrap();
        assert!(p.matches(b"<a id='\xff\xfe'/>", &mut caps));
        assert_eq!(caps.get_bytes("id").unwrap(), b"\xff\xfe");
    }
}
