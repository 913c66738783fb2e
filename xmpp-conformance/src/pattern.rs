//! Placeholders (VECTORS.md, "Matching"): `{*}` matches any run of characters, `{name}`
//! captures a run at its first use and stands for the captured value at every later use,
//! `{+name}` captures like `{name}` a run that must differ from every value captured before
//! it (a fresh stream id after a restart), `{{` and `}}` are literal braces.
//!
//! Matching is leftmost-shortest: placeholders are tried from left to right, each with the
//! shortest run that lets the rest of the value match (for `{+name}`, the shortest fresh
//! run). Matching works on bytes so that the same code serves `core_exact` steps, which
//! match runs of raw bytes.

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

    /// A name under which `value` was captured, if any.
    fn holder_of(&self, value: &[u8]) -> Option<&str> {
        self.values
            .iter()
            .find(|(_, v)| v.as_slice() == value)
            .map(|(n, _)| n.as_str())
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
    /// `{+name}`: a capture whose value differs from every value captured before it; it is
    /// always the first use of its name (later uses are written `{name}`).
    Fresh(String),
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

fn is_name(n: &str) -> bool {
    !n.is_empty()
        && n.chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
}

/// The error for `{+name}` where `name` was used before: a fresh capture is a first use.
pub fn fresh_reused(name: &str) -> String {
    format!(
        "{{+{name}}} is not the first use of {name} (a fresh capture is; later uses are \
         written {{{name}}})"
    )
}

/// One capture made while matching a value: its name, its run, and whether it is fresh.
type Local = (String, Vec<u8>, bool);

impl Pattern {
    /// Parses `text`. A `{` that does not start `{{`, `{*}`, `{name}` or `{+name}` (name:
    /// letters, digits, `_`, `-`) and a `}` that does not start `}}` are errors: literal
    /// braces are written doubled. So is a `{+name}` after another use of `name` in `text`.
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
                    Some(n) if is_name(n) => Segment::Capture(n.to_owned()),
                    Some(n) if n.strip_prefix('+').is_some_and(is_name) => {
                        let n = &n[1..];
                        if segments
                            .iter()
                            .any(|s| matches!(s, Segment::Capture(m) | Segment::Fresh(m) if m == n))
                        {
                            return Err(PatternError(format!("{} in {text:?}", fresh_reused(n))));
                        }
                        Segment::Fresh(n.to_owned())
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

    /// The text the pattern stands for when it holds no placeholder (braces unescaped).
    pub fn literal_text(&self) -> Option<String> {
        self.segments
            .iter()
            .map(|s| match s {
                Segment::Literal(l) => Some(l.as_str()),
                _ => None,
            })
            .collect()
    }

    /// The named placeholders in the order written: each name, and whether it is written
    /// `{+name}`.
    pub fn names(&self) -> impl Iterator<Item = (&str, bool)> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Capture(n) => Some((n.as_str(), false)),
            Segment::Fresh(n) => Some((n.as_str(), true)),
            _ => None,
        })
    }

    /// Matches `actual`. On success the captures made by this match are added to `caps`;
    /// on failure `caps` is unchanged. Placeholders already in `caps` stand for their value;
    /// a `{+name}` never matches a run that `caps` or an earlier placeholder of this value
    /// holds (nor at all when `name` is already captured: see [`Pattern::why_not`]).
    pub fn matches(&self, actual: &[u8], caps: &mut Captures) -> bool {
        let mut local = Vec::new();
        if match_from(&self.segments, actual, caps, &mut local, true) {
            for (name, value, _) in local {
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

    /// After [`Pattern::matches`] failed: when it failed only because a `{+name}` would
    /// have captured a value captured before, says which and by whom, for the failure
    /// message. `None` when the value does not match anyway.
    pub fn why_not(&self, actual: &[u8], caps: &Captures) -> Option<String> {
        for seg in &self.segments {
            if let Segment::Fresh(name) = seg {
                if let Some(v) = caps.get(name) {
                    return Some(format!("{} ({name} holds {v:?})", fresh_reused(name)));
                }
            }
        }
        let mut local = Vec::new();
        if !match_from(&self.segments, actual, caps, &mut local, false) {
            return None;
        }
        // The leftmost-shortest match without the freshness rule holds a fresh capture
        // that repeats an earlier value; otherwise the real match would have found it.
        for (k, (name, value, fresh)) in local.iter().enumerate() {
            if !fresh {
                continue;
            }
            let earlier = local[..k]
                .iter()
                .find(|(_, v, _)| v == value)
                .map(|(n, _, _)| n.as_str())
                .or_else(|| caps.holder_of(value));
            if let Some(by) = earlier {
                return Some(format!(
                    "{{+{name}}} must capture a value no placeholder captured before, but \
                     {:?} is what {{{by}}} captured",
                    String::from_utf8_lossy(value)
                ));
            }
        }
        None
    }

    /// Can the pattern stand where the runner substitutes (`peer` steps, action
    /// arguments)? There nothing is matched, so `{*}` and `{+name}` cannot stand.
    pub fn check_substitutable(&self) -> Result<(), PatternError> {
        for seg in &self.segments {
            match seg {
                Segment::Any => {
                    return Err(PatternError(
                        "'{*}' can only be used where the core's output or events are matched"
                            .into(),
                    ));
                }
                Segment::Fresh(name) => {
                    return Err(PatternError(format!(
                        "{{+{name}}} captures, which only a step that matches the core's \
                         output or events can do (later uses are written {{{name}}})"
                    )));
                }
                Segment::Literal(_) | Segment::Capture(_) => {}
            }
        }
        Ok(())
    }

    /// The text with every capture replaced by its value and braces unescaped: for `peer`
    /// steps and action arguments. `{*}`, `{+name}` and a capture not yet made are errors.
    pub fn substitute(&self, caps: &Captures) -> Result<Vec<u8>, PatternError> {
        self.check_substitutable()?;
        let mut out = Vec::new();
        for seg in &self.segments {
            match seg {
                Segment::Literal(l) => out.extend_from_slice(l.as_bytes()),
                Segment::Capture(name) => match caps.get_bytes(name) {
                    Some(v) => out.extend_from_slice(v),
                    None => {
                        return Err(PatternError(format!(
                            "{{{name}}} is used before any step captured it"
                        )));
                    }
                },
                // Refused by check_substitutable.
                Segment::Any | Segment::Fresh(_) => {}
            }
        }
        Ok(out)
    }

    /// The pattern for a person to read: captures already made shown with their values
    /// (`{sid=abc}`, `{+sid2=def}`), others as written.
    pub fn display(&self, caps: &Captures) -> String {
        let mut out = String::new();
        for seg in &self.segments {
            match seg {
                Segment::Literal(l) => {
                    out.push_str(l);
                }
                Segment::Any => out.push_str("{*}"),
                Segment::Capture(name) | Segment::Fresh(name) => {
                    let plus = if matches!(seg, Segment::Fresh(_)) {
                        "+"
                    } else {
                        ""
                    };
                    match caps.get(name) {
                        Some(v) => out.push_str(&format!("{{{plus}{name}={v}}}")),
                        None => out.push_str(&format!("{{{plus}{name}}}")),
                    }
                }
            }
        }
        out
    }
}

/// Matches `segs` against `actual`, leftmost-shortest, pushing the captures made on `local`
/// (left as they were on failure). With `fresh`, a `{+name}` takes only a run that no
/// capture holds, in `caps` or earlier in `local`, and never matches once `name` is bound.
fn match_from(
    segs: &[Segment],
    actual: &[u8],
    caps: &Captures,
    local: &mut Vec<Local>,
    fresh: bool,
) -> bool {
    let Some((first, rest)) = segs.split_first() else {
        return actual.is_empty();
    };
    let bound = |name: &str, local: &Vec<Local>| -> Option<Vec<u8>> {
        caps.get_bytes(name).map(<[u8]>::to_vec).or_else(|| {
            local
                .iter()
                .find(|(n, _, _)| n == name)
                .map(|(_, v, _)| v.clone())
        })
    };
    let (name, is_fresh) = match first {
        Segment::Literal(l) => {
            let lit = l.as_bytes();
            return actual.starts_with(lit)
                && match_from(rest, &actual[lit.len()..], caps, local, fresh);
        }
        Segment::Any => (None, false),
        Segment::Capture(name) => (Some(name), false),
        Segment::Fresh(name) => (Some(name), true),
    };
    if let Some(value) = name.and_then(|n| bound(n, local)) {
        if is_fresh && fresh {
            return false;
        }
        return actual.starts_with(&value)
            && match_from(rest, &actual[value.len()..], caps, local, fresh);
    }
    // A placeholder to fill: the shortest run first.
    for end in 0..=actual.len() {
        let run = &actual[..end];
        match name {
            Some(name) => {
                if is_fresh
                    && fresh
                    && (caps.holder_of(run).is_some() || local.iter().any(|(_, v, _)| v == run))
                {
                    continue;
                }
                local.push((name.clone(), run.to_vec(), is_fresh));
                if match_from(rest, &actual[end..], caps, local, fresh) {
                    return true;
                }
                local.pop();
            }
            None => {
                if match_from(rest, &actual[end..], caps, local, fresh) {
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
        for bad in ["{+}", "{+*}", "{++a}", "{+a b}", "{ +a}", "{+a.b}", "{a+}"] {
            let e = Pattern::parse(bad).unwrap_err();
            assert!(e.0.contains("starts no placeholder"), "{bad}: {e}");
        }
        assert_eq!(
            Pattern::parse("{+a-b_9}").unwrap().segments(),
            [Segment::Fresh("a-b_9".into())]
        );
    }

    #[test]
    fn a_fresh_capture_is_the_first_use_of_its_name() {
        for bad in ["{x}-{+x}", "{+x}-{+x}", "a{x}b{{c}}{+x}"] {
            let e = Pattern::parse(bad).unwrap_err();
            assert!(
                e.0.starts_with(
                    "{+x} is not the first use of x (a fresh capture is; later uses \
                     are written {x})"
                ),
                "{bad}: {e}"
            );
        }
        let p = Pattern::parse("{+x}-{x}-{y}").unwrap();
        assert_eq!(
            p.names().collect::<Vec<_>>(),
            [("x", true), ("x", false), ("y", false)]
        );
        // A name captured by an earlier step cannot be captured fresh again.
        let mut caps = Captures::new();
        caps.insert("sid2", b"s2");
        let p = Pattern::parse("{+sid2}").unwrap();
        assert!(!p.matches_str("s3", &mut caps));
        assert!(!p.matches_str("s2", &mut caps));
        assert_eq!(
            p.why_not(b"s3", &caps).unwrap(),
            "{+sid2} is not the first use of sid2 (a fresh capture is; later uses are \
             written {sid2}) (sid2 holds \"s2\")"
        );
    }

    #[test]
    fn a_fresh_capture_accepts_a_value_no_placeholder_captured() {
        let mut caps = Captures::new();
        caps.insert("sid", b"s1");
        let p = Pattern::parse("{+sid2}").unwrap();
        assert!(p.matches_str("9f3e", &mut caps));
        assert_eq!(caps.get("sid2").unwrap(), "9f3e");
        assert_eq!(caps.get("sid").unwrap(), "s1");
        // With nothing captured before, any value is fresh.
        assert_eq!(m("id-{+n}", "id-7").unwrap().get("n").unwrap(), "7");
        // Part of a value, and in raw bytes (core_exact).
        let mut caps = Captures::new();
        caps.insert("sid", b"\xff");
        let p = Pattern::parse("<s id='{+sid2}'>").unwrap();
        assert!(p.matches(b"<s id='\xfe'>", &mut caps));
        assert_eq!(caps.get_bytes("sid2").unwrap(), b"\xfe");
        assert!(!p.matches(b"<s id='\xff'>", &mut caps.clone()));
    }

    #[test]
    fn a_fresh_capture_refuses_every_value_captured_before_it() {
        let mut caps = Captures::new();
        caps.insert("sid", b"s1");
        caps.insert("sid2", b"s2");
        caps.insert("res", b"balcony");
        for (earlier, value) in [("sid", "s1"), ("sid2", "s2"), ("res", "balcony")] {
            let p = Pattern::parse("id='{+sid3}'").unwrap();
            let before = caps.clone();
            assert!(
                !p.matches_str(&format!("id='{value}'"), &mut caps),
                "{value}"
            );
            assert_eq!(caps, before, "a refused match captures nothing");
            assert_eq!(
                p.why_not(format!("id='{value}'").as_bytes(), &caps)
                    .unwrap(),
                format!(
                    "{{+sid3}} must capture a value no placeholder captured before, but \
                     {value:?} is what {{{earlier}}} captured"
                )
            );
        }
        // Earlier in the same value counts too, and so does the empty run.
        assert!(m("{a}/{+b}", "x/x").is_none());
        let p = Pattern::parse("{a}/{+b}").unwrap();
        assert_eq!(
            p.why_not(b"x/x", &Captures::new()).unwrap(),
            "{+b} must capture a value no placeholder captured before, but \"x\" is what \
             {a} captured"
        );
        assert!(m("{a}/{+b}", "/").is_none());
        assert_eq!(m("{a}/{+b}", "x/y").unwrap().get("b").unwrap(), "y");
        // A value that does not match anyway has no freshness to blame.
        assert_eq!(p.why_not(b"x-y", &Captures::new()), None);
        assert_eq!(p.why_not(b"x/y", &Captures::new()), None);
        // {*} captures nothing, so a fresh capture may repeat what it matched.
        assert_eq!(m("{*}/{+b}", "x/x").unwrap().get("b").unwrap(), "x");
    }

    #[test]
    fn a_fresh_capture_takes_the_shortest_fresh_run() {
        let mut caps = Captures::new();
        caps.insert("id", b"1");
        let p = Pattern::parse("{+n}.{*}").unwrap();
        assert!(p.matches_str("1.2.3", &mut caps));
        assert_eq!(caps.get("n").unwrap(), "1.2");
        let mut caps = Captures::new();
        caps.insert("id", b"");
        assert!(
            Pattern::parse("{+n}{*}")
                .unwrap()
                .matches_str("ab", &mut caps)
        );
        assert_eq!(caps.get("n").unwrap(), "a");
    }

    #[test]
    fn later_uses_of_a_fresh_capture_stand_for_its_value() {
        let mut caps = Captures::new();
        caps.insert("sid", b"s1");
        assert!(
            Pattern::parse("id='{+sid2}'")
                .unwrap()
                .matches_str("id='s2'", &mut caps)
        );
        let later = Pattern::parse("{sid2}").unwrap();
        assert!(later.matches_str("s2", &mut caps));
        assert!(!later.matches_str("s3", &mut caps));
        assert_eq!(later.display(&caps), "{sid2=s2}");
        assert_eq!(
            Pattern::parse("<r sid='{sid2}'/>")
                .unwrap()
                .substitute(&caps)
                .unwrap(),
            b"<r sid='s2'/>"
        );
        // Within one value, too.
        let caps = m("{+a}/{a}", "x/x").unwrap();
        assert_eq!(caps.get("a").unwrap(), "x");
        assert!(m("{+a}/{a}", "x/y").is_none());
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
        let e = Pattern::parse("{+res2}")
            .unwrap()
            .substitute(&caps)
            .unwrap_err();
        assert_eq!(
            e.0,
            "{+res2} captures, which only a step that matches the core's output or events \
             can do (later uses are written {res2})"
        );
    }

    #[test]
    fn display_shows_fresh_captures_as_written() {
        let mut caps = Captures::new();
        caps.insert("a", b"1");
        let p = Pattern::parse("{a}-{+b}-{*}-{{").unwrap();
        assert_eq!(p.display(&caps), "{a=1}-{+b}-{*}-{");
        caps.insert("b", b"2");
        assert_eq!(p.display(&caps), "{a=1}-{+b=2}-{*}-{");
    }

    #[test]
    fn raw_bytes_match_for_core_exact() {
        let mut caps = Captures::new();
        let p = Pattern::parse("<a id='{id}'/>").unwrap();
        assert!(p.matches(b"<a id='\xff\xfe'/>", &mut caps));
        assert_eq!(caps.get_bytes("id").unwrap(), b"\xff\xfe");
    }
}
