//! Running vectors (VECTORS.md, "Replay" and "The runner"): the replays of one vector, the
//! steps of one replay, and the verdict.
//!
//! Before any replay the runner checks everything it can without running: the role is
//! registered, the config is accepted, every event and action is one the role supports,
//! the XML and placeholders of every step are well formed, `peer` steps and actions hold
//! only placeholders that can be substituted, and every `{+name}` is the first use of its
//! name in the vector. A vector that fails these checks fails without a replay label.
//! Then each replay runs the steps in order against a fresh core; the first step that
//! does not hold fails the vector with the replay named.

use std::collections::VecDeque;
use std::fmt;

use crate::matching::{Difference, MatchMode, match_items};
use crate::pattern::{Captures, Pattern, fresh_reused};
use crate::role::{Action, ArgKind, CoreUnderTest, EventArg, KNOWN_ROLES, Role, VectorEvent};
use crate::vector::{Chunking, Step, StepKind, Vector};
use crate::xml::{NsContext, check_syntax, parse_fragment};

/// How many seeded random splits a `chunking = "any"` vector gets.
pub const RANDOM_REPLAYS: u64 = 8;

/// Which replays to run, from the CLI's `--chunking`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChunkingChoice {
    /// `any` (the default): whole, byte by byte and [`RANDOM_REPLAYS`] random splits.
    #[default]
    Any,
    /// `whole`: each `peer` step in one call.
    Whole,
    /// `bytes`: every byte in a call of its own.
    Bytes,
}

/// One way of feeding the peer's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// Each `peer`/`peer_hex` step in one call.
    Whole,
    /// Every byte in a call of its own.
    Bytes,
    /// Random cuts from this seed, anywhere (inside UTF-8 sequences too), with runs of
    /// adjacent peer steps sometimes joined.
    Random(u64),
}

impl fmt::Display for Replay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Replay::Whole => f.write_str("whole"),
            Replay::Bytes => f.write_str("bytes"),
            Replay::Random(seed) => write!(f, "random seed {seed}"),
        }
    }
}

/// The replays for a vector: `as-written` vectors are replayed only whole whatever the
/// choice (their meaning depends on what arrives together); others as `choice` says.
pub fn replays(chunking: Chunking, choice: ChunkingChoice) -> Vec<Replay> {
    match (chunking, choice) {
        (Chunking::AsWritten, _) | (Chunking::Any, ChunkingChoice::Whole) => vec![Replay::Whole],
        (Chunking::Any, ChunkingChoice::Bytes) => vec![Replay::Bytes],
        (Chunking::Any, ChunkingChoice::Any) => {
            let mut v = vec![Replay::Whole, Replay::Bytes];
            v.extend((1..=RANDOM_REPLAYS).map(Replay::Random));
            v
        }
    }
}

/// Where in the vector a failure is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// The vector as a whole (a load error, an unsupported role).
    File {
        /// The 1-based line in the file, if the problem has one.
        line: Option<usize>,
    },
    /// A step.
    Step {
        /// The 1-based index of the step.
        index: usize,
        /// The step key (`peer`, `event`, ...).
        kind: &'static str,
        /// The 1-based line of the step in the file.
        line: usize,
    },
    /// After the last step: what the core produced and no step consumed.
    End {
        /// The number of steps.
        after: usize,
    },
}

/// Why a vector failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// The file is not a valid vector, or a step is malformed.
    Invalid(String),
    /// The role, a config key, an event or an action is not supported (`unsupported: ...`).
    Unsupported(String),
    /// The core did something other than the vector says.
    Mismatch(Box<Mismatch>),
}

/// What the vector expected and what came instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// What the vector expected, as written.
    pub expected: String,
    /// What came instead.
    pub got: String,
    /// Where exactly they differ, when both are XML.
    pub difference: Option<Difference>,
}

/// A failed vector: where, why, and in which replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Where.
    pub location: Location,
    /// Why.
    pub reason: Reason,
    /// The replay that failed; `None` when the vector failed before any replay.
    pub replay: Option<Replay>,
}

impl Failure {
    fn file(line: Option<usize>, reason: Reason) -> Self {
        Failure {
            location: Location::File { line },
            reason,
            replay: None,
        }
    }

    /// The step index, when the failure is at a step.
    pub fn step(&self) -> Option<usize> {
        match self.location {
            Location::Step { index, .. } => Some(index),
            _ => None,
        }
    }
}

/// Shortens text for a one-line verdict.
fn clip(s: &str) -> String {
    const MAX: usize = 400;
    let s: String = s
        .chars()
        .map(|c| match c {
            '\n' => '⏎',
            c if c.is_control() => '\u{FFFD}',
            c => c,
        })
        .collect();
    if s.chars().count() <= MAX {
        s
    } else {
        let head: String = s.chars().take(MAX).collect();
        format!("{head}…")
    }
}

impl fmt::Display for Failure {
    /// `step N (kind): expected …, got … [replay]`, or `line N: message` for problems of
    /// the file, or `after step N (end): ...` for what the core produced that no step
    /// asserted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Location::File { line: Some(l) } => write!(f, "line {l}: ")?,
            Location::File { line: None } => {}
            Location::Step { index, kind, .. } => write!(f, "step {index} ({kind}): ")?,
            Location::End { after } => write!(f, "after step {after} (end): ")?,
        }
        match &self.reason {
            Reason::Invalid(m) => f.write_str(m)?,
            Reason::Unsupported(m) => write!(f, "unsupported: {m}")?,
            Reason::Mismatch(m) => {
                write!(f, "expected {}, got {}", clip(&m.expected), clip(&m.got))?;
                if let Some(d) = &m.difference {
                    write!(f, " ({})", clip(&d.to_string()))?;
                }
            }
        }
        if let Some(r) = &self.replay {
            write!(f, " [{r}]")?;
        }
        Ok(())
    }
}

/// splitmix64: a small, good, deterministic generator for the random splits.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// The generator for replay seed `seed`.
    pub fn new(seed: u64) -> Self {
        // A fixed base so that seed 1 is not a trivially small state.
        SplitMix64(seed ^ 0x786d_7070_7665_6374)
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// Random cut points strictly inside `len` bytes, sorted, distinct.
fn random_cuts(rng: &mut SplitMix64, len: usize) -> Vec<usize> {
    if len < 2 {
        return Vec::new();
    }
    let max = (len - 1).min(1 + len / 3).min(64) as u64;
    let count = rng.below(max + 1);
    let mut cuts: Vec<usize> = (0..count)
        .map(|_| 1 + rng.below(len as u64 - 1) as usize)
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    cuts
}

/// The state of one replay.
struct Exec<'a> {
    vector: &'a Vector,
    role: &'a dyn Role,
    core: Box<dyn CoreUnderTest>,
    replay: Replay,
    rng: Option<SplitMix64>,
    caps: Captures,
    /// Events reported and not yet consumed by an `event` step.
    events: VecDeque<VectorEvent>,
    /// Output emitted and not yet consumed by a `core`/`core_exact` step.
    output: Vec<u8>,
    /// Totals of events and output bytes reported so far, and their values when the
    /// previous step began (for `silent`: what the previous step caused).
    produced: (usize, usize),
    mark: (usize, usize),
    /// Every byte fed so far (for the peer's stream header context).
    peer_log: Vec<u8>,
    /// The namespace context of the peer's stream header, once it was read.
    header_ctx: Option<NsContext>,
    /// The last peer step fed so far (a random replay feeds runs of them at once).
    fed_until: Option<usize>,
    /// Namespace contexts of the `core` direction: the vector's side and the core's side.
    expected_ctx: NsContext,
    actual_ctx: NsContext,
}

/// The reason a value that is not XML failed only because a `{+name}` would repeat a
/// capture, as a difference without a path.
fn why_not(p: &Pattern, actual: &[u8], caps: &Captures) -> Option<Difference> {
    p.why_not(actual, caps).map(|detail| Difference {
        path: String::new(),
        detail,
    })
}

fn mismatch(expected: impl Into<String>, got: impl Into<String>, d: Option<Difference>) -> Reason {
    Reason::Mismatch(Box::new(Mismatch {
        expected: expected.into(),
        got: got.into(),
        difference: d,
    }))
}

impl Exec<'_> {
    /// Takes what the core reported and emitted.
    fn drain(&mut self) {
        while let Some(e) = self.core.poll_event() {
            self.events.push_back(e);
            self.produced.0 += 1;
        }
        let out = self.core.take_output();
        self.produced.1 += out.len();
        self.output.extend_from_slice(&out);
    }

    fn peer_bytes(&self, step: &Step) -> Result<Vec<u8>, Reason> {
        match &step.kind {
            StepKind::Peer(s) => Pattern::parse(s)
                .and_then(|p| p.substitute(&self.caps))
                .map_err(|e| Reason::Invalid(e.0)),
            StepKind::PeerHex(b) => Ok(b.clone()),
            _ => Ok(Vec::new()),
        }
    }

    /// Feeds the peer step `i`, and with a random replay maybe the peer steps right after
    /// it in the same calls. A peer step right before a `silent` step is never joined to
    /// an earlier one, so that `silent` always checks what that one step caused.
    fn feed_from(&mut self, i: usize) -> Result<(), Reason> {
        let steps = &self.vector.steps;
        let mut last = i;
        if let Some(rng) = &mut self.rng {
            while last + 1 < steps.len()
                && steps[last + 1].kind.is_peer()
                && !steps
                    .get(last + 2)
                    .is_some_and(|s| s.kind == StepKind::Silent)
                && rng.below(2) == 0
            {
                last += 1;
            }
        }
        let mut data = Vec::new();
        for step in &steps[i..=last] {
            data.extend(self.peer_bytes(step)?);
        }
        self.fed_until = Some(last);
        self.peer_log.extend_from_slice(&data);
        match self.replay {
            Replay::Whole => self.core.feed(&data),
            Replay::Bytes => {
                if data.is_empty() {
                    self.core.feed(&data);
                }
                for b in data.chunks(1) {
                    self.core.feed(b);
                }
            }
            Replay::Random(_) => {
                let cuts = match &mut self.rng {
                    Some(rng) => random_cuts(rng, data.len()),
                    None => Vec::new(),
                };
                let mut from = 0;
                for cut in cuts.into_iter().chain([data.len()]) {
                    self.core.feed(&data[from..cut]);
                    from = cut;
                }
            }
        }
        self.drain();
        Ok(())
    }

    /// The namespace context of the peer's stream header: vectors' event XML is read in
    /// it, and what the core reported is rendered relative to its default namespace.
    fn peer_context(&mut self) -> NsContext {
        if let Some(ctx) = &self.header_ctx {
            return ctx.clone();
        }
        // A framed stream's `<open/>` declares nothing for the elements after it.
        if crate::role::is_websocket(&self.vector.config) {
            return NsContext::new();
        }
        let mut ctx = NsContext::of_stream_header(&self.peer_log);
        ctx.escape_for_patterns();
        if ctx.depth() > 0 {
            self.header_ctx = Some(ctx.clone());
        }
        ctx
    }

    fn run_step(&mut self, i: usize) -> Result<(), Reason> {
        let step = &self.vector.steps[i];
        let mode = self.vector.match_mode;
        match &step.kind {
            StepKind::Peer(_) | StepKind::PeerHex(_) => {
                if self.fed_until.is_none_or(|f| i > f) {
                    self.feed_from(i)?;
                }
                Ok(())
            }
            StepKind::Action(line) => {
                let line = Pattern::parse(line)
                    .and_then(|p| p.substitute(&self.caps))
                    .map_err(|e| Reason::Invalid(e.0))?;
                let action = Action::parse(&String::from_utf8_lossy(&line));
                self.core
                    .act(&action)
                    .map_err(|u| Reason::Unsupported(u.0))?;
                self.drain();
                Ok(())
            }
            StepKind::Silent => {
                let events = self.produced.0 - self.mark.0;
                let bytes = self.produced.1 - self.mark.1;
                if events == 0 && bytes == 0 {
                    return Ok(());
                }
                let ns = self.peer_context().lookup("").unwrap_or("").to_owned();
                let mut got = Vec::new();
                if events > 0 {
                    let new = self
                        .events
                        .iter()
                        .skip(self.events.len().saturating_sub(events));
                    got.extend(new.map(|e| format!("event {}", e.render(&ns))));
                }
                if bytes > 0 {
                    let out = &self.output[self.output.len().saturating_sub(bytes)..];
                    got.push(format!("output {:?}", String::from_utf8_lossy(out)));
                }
                Err(mismatch("nothing", got.join(", "), None))
            }
            StepKind::Event(line) => self.check_event(line, mode),
            StepKind::Core(xml) => {
                let out = std::mem::take(&mut self.output);
                let got_text = String::from_utf8_lossy(&out).into_owned();
                let got_label = if out.is_empty() {
                    "no output".to_owned()
                } else {
                    got_text.clone()
                };
                let expected = parse_fragment(xml, &mut self.expected_ctx)
                    .map_err(|e| Reason::Invalid(format!("XML of the step: {e}")))?;
                if std::str::from_utf8(&out).is_err() {
                    return Err(mismatch(
                        xml,
                        format!("output that is not UTF-8: {got_text}"),
                        None,
                    ));
                }
                let actual = match parse_fragment(&got_text, &mut self.actual_ctx) {
                    Ok(a) => a,
                    Err(e) => {
                        return Err(mismatch(
                            xml,
                            format!("output that is not XML ({e}): {got_text}"),
                            None,
                        ));
                    }
                };
                match_items(&expected, &actual, mode, &mut self.caps)
                    .map_err(|d| mismatch(xml, got_label, Some(d)))
            }
            StepKind::CoreExact(text) => {
                let out = std::mem::take(&mut self.output);
                let p = Pattern::parse(text).map_err(|e| Reason::Invalid(e.0))?;
                if p.matches(&out, &mut self.caps) {
                    Ok(())
                } else if out.is_empty() {
                    Err(mismatch(text, "no output", None))
                } else {
                    let why = why_not(&p, &out, &self.caps);
                    Err(mismatch(text, String::from_utf8_lossy(&out), why))
                }
            }
        }
    }

    fn check_event(&mut self, line: &str, mode: MatchMode) -> Result<(), Reason> {
        let ctx = self.peer_context();
        let ns = ctx.lookup("").unwrap_or("").to_owned();
        let Some(got) = self.events.pop_front() else {
            return Err(mismatch(line, "no event", None));
        };
        let rendered = match &got.note {
            Some(note) => format!("{} ({note})", got.render(&ns)),
            None => got.render(&ns),
        };
        let (name, arg) = line.split_once(' ').unwrap_or((line, ""));
        if got.name != name {
            return Err(mismatch(line, rendered, None));
        }
        match (self.role.event_arg(name), &got.arg) {
            (Some(ArgKind::Xml), EventArg::Xml(actual)) => {
                let mut ctx = ctx;
                let expected = parse_fragment(arg, &mut ctx)
                    .map_err(|e| Reason::Invalid(format!("XML of the event: {e}")))?;
                match_items(&expected, actual, mode, &mut self.caps)
                    .map_err(|d| mismatch(line, rendered, Some(d)))
            }
            (Some(ArgKind::Plain | ArgKind::OptionalPlain), EventArg::Plain(actual))
                if !arg.is_empty() =>
            {
                let p = Pattern::parse(arg).map_err(|e| Reason::Invalid(e.0))?;
                if p.matches_str(actual, &mut self.caps) {
                    Ok(())
                } else {
                    let why = why_not(&p, actual.as_bytes(), &self.caps);
                    Err(mismatch(line, rendered, why))
                }
            }
            (Some(ArgKind::None | ArgKind::OptionalPlain), EventArg::None) if arg.is_empty() => {
                Ok(())
            }
            _ => Err(mismatch(line, rendered, None)),
        }
    }

    /// What the core produced that no step consumed.
    fn leftovers(&mut self) -> Result<(), Reason> {
        self.drain();
        let ns = self.peer_context().lookup("").unwrap_or("").to_owned();
        if let Some(e) = self.events.front() {
            let mut got = format!("event {}", e.render(&ns));
            if let Some(note) = &e.note {
                got.push_str(&format!(" ({note})"));
            }
            if self.events.len() > 1 {
                got.push_str(&format!(" and {} more", self.events.len() - 1));
            }
            return Err(mismatch("no more events", got, None));
        }
        if !self.output.is_empty() {
            return Err(mismatch(
                "no more output",
                format!("{:?}", String::from_utf8_lossy(&self.output)),
                None,
            ));
        }
        Ok(())
    }
}

/// Runs vectors against the registered roles.
pub struct Runner {
    roles: Vec<Box<dyn Role>>,
    chunking: ChunkingChoice,
}

impl Default for Runner {
    fn default() -> Self {
        Runner::new()
    }
}

impl fmt::Debug for Runner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runner")
            .field(
                "roles",
                &self.roles.iter().map(|r| r.name()).collect::<Vec<_>>(),
            )
            .field("chunking", &self.chunking)
            .finish()
    }
}

impl Runner {
    /// A runner with the roles the core implements ([`crate::role::ParserRole`],
    /// [`crate::client::ClientRole`], [`crate::server::ServerRole`], the two XEP-0114 roles, the two
    /// s2s roles, the RFC 6121 `im-server` role) and all replays.
    pub fn new() -> Self {
        Runner {
            roles: vec![
                Box::new(crate::role::ParserRole),
                Box::new(crate::client::ClientRole),
                Box::new(crate::server::ServerRole),
                Box::new(crate::component::ComponentRole),
                Box::new(crate::component::ComponentServerRole),
                Box::new(crate::s2s::S2sOutRole),
                Box::new(crate::s2s::S2sInRole),
                Box::new(crate::im::ImServerRole),
            ],
            chunking: ChunkingChoice::Any,
        }
    }

    /// Adds a role, or replaces the one of the same name.
    pub fn with_role(mut self, role: Box<dyn Role>) -> Self {
        self.roles.retain(|r| r.name() != role.name());
        self.roles.push(role);
        self
    }

    /// Restricts the replays (the CLI's `--chunking`).
    pub fn with_chunking(mut self, chunking: ChunkingChoice) -> Self {
        self.chunking = chunking;
        self
    }

    /// Runs every replay of `vector`; returns how many ran, or the first failure.
    pub fn run_vector(&self, vector: &Vector) -> Result<usize, Failure> {
        let role = self.roles.iter().find(|r| r.name() == vector.role);
        let Some(role) = role else {
            return Err(if KNOWN_ROLES.contains(&vector.role.as_str()) {
                Failure::file(None, Reason::Unsupported(format!("role {}", vector.role)))
            } else {
                Failure::file(
                    Some(vector.role_line),
                    Reason::Invalid(format!(
                        "unknown role {:?} (expected one of {})",
                        vector.role,
                        KNOWN_ROLES.join(", ")
                    )),
                )
            });
        };
        let role = role.as_ref();
        // The config, once, before any replay.
        if let Err(e) = role.start(&vector.config) {
            let line = vector.config.get(&e.key).map(|c| c.line);
            let reason = if e.unsupported {
                Reason::Unsupported(e.message)
            } else {
                Reason::Invalid(format!("config {}: {}", e.key, e.message))
            };
            return Err(Failure::file(line, reason));
        }
        // Names used so far, in the order written: a `{+name}` must be the first use.
        let mut used: Vec<String> = Vec::new();
        for (i, step) in vector.steps.iter().enumerate() {
            let fail = |reason| Failure {
                location: step_location(i, step),
                reason,
                replay: None,
            };
            for p in check_step(role, step).map_err(fail)? {
                for (name, fresh) in p.names() {
                    if fresh && used.iter().any(|u| u == name) {
                        return Err(fail(Reason::Invalid(format!(
                            "line {}: {}",
                            step.line,
                            fresh_reused(name)
                        ))));
                    }
                    if !used.iter().any(|u| u == name) {
                        used.push(name.to_owned());
                    }
                }
            }
        }
        let mut plan = replays(vector.chunking, self.chunking);
        // Over WebSocket each peer step is one message, and a message cannot be cut or
        // joined: every replay would be the first (vectors/README.md, "Config key
        // `framing`"). The parser's split invariance inside a message is the TCP vectors'.
        if !vector.steps.iter().any(|s| s.kind.is_peer())
            || crate::role::is_websocket(&vector.config)
        {
            plan.retain(|r| *r == Replay::Whole);
            if plan.is_empty() {
                plan.push(Replay::Whole);
            }
        }
        for &replay in &plan {
            self.run_replay(vector, role, replay).map_err(|f| Failure {
                replay: Some(replay),
                ..f
            })?;
        }
        Ok(plan.len())
    }

    fn run_replay(&self, vector: &Vector, role: &dyn Role, replay: Replay) -> Result<(), Failure> {
        let core = role
            .start(&vector.config)
            .map_err(|e| Failure::file(None, Reason::Invalid(e.to_string())))?;
        let mut exec = Exec {
            vector,
            role,
            core,
            replay,
            rng: match replay {
                Replay::Random(seed) => Some(SplitMix64::new(seed)),
                _ => None,
            },
            caps: Captures::new(),
            events: VecDeque::new(),
            output: Vec::new(),
            produced: (0, 0),
            mark: (0, 0),
            peer_log: Vec::new(),
            header_ctx: None,
            fed_until: None,
            expected_ctx: NsContext::new(),
            actual_ctx: NsContext::new(),
        };
        let mut started = (0, 0);
        for (i, step) in vector.steps.iter().enumerate() {
            // A run of peer steps fed at once is one step for `silent`: what it caused is
            // counted from where the run began.
            let joined = step.kind.is_peer() && exec.fed_until.is_some_and(|f| i <= f);
            if !joined {
                exec.mark = started;
                started = exec.produced;
            }
            exec.run_step(i).map_err(|reason| Failure {
                location: step_location(i, step),
                reason,
                replay: None,
            })?;
        }
        exec.leftovers().map_err(|reason| Failure {
            location: Location::End {
                after: vector.steps.len(),
            },
            reason,
            replay: None,
        })
    }
}

fn step_location(i: usize, step: &Step) -> Location {
    Location::Step {
        index: i + 1,
        kind: step.kind.key(),
        line: step.line,
    }
}

/// Checks a step before any replay: supported events and actions, well-formed XML and
/// placeholders, and nothing in a substituted step that only matching can fill. Returns
/// the step's patterns in the order written.
fn check_step(role: &dyn Role, step: &Step) -> Result<Vec<Pattern>, Reason> {
    let at = |m: String| Reason::Invalid(format!("line {}: {m}", step.line));
    let pattern = |text: &str| Pattern::parse(text).map_err(|e| at(e.0));
    let substituted = |text: &str| {
        let p = pattern(text)?;
        p.check_substitutable().map_err(|e| at(e.0))?;
        Ok(vec![p])
    };
    let xml = |text: &str, one_element: bool| -> Result<Vec<Pattern>, Reason> {
        let values = check_syntax(text, one_element).map_err(|e| at(format!("bad XML: {e}")))?;
        values.iter().map(|v| pattern(v)).collect()
    };
    match &step.kind {
        StepKind::Peer(s) => substituted(s),
        StepKind::CoreExact(s) => Ok(vec![pattern(s)?]),
        StepKind::PeerHex(_) | StepKind::Silent => Ok(Vec::new()),
        StepKind::Core(s) => xml(s, false),
        StepKind::Action(s) => {
            let patterns = substituted(s)?;
            role.check_action(&Action::parse(s))
                .map_err(|u| Reason::Unsupported(u.0))?;
            Ok(patterns)
        }
        StepKind::Event(s) => {
            let (name, arg) = s.split_once(' ').unwrap_or((s, ""));
            match role.event_arg(name) {
                None => Err(Reason::Unsupported(format!(
                    "event {name} (role {})",
                    role.name()
                ))),
                Some(ArgKind::None) if !arg.is_empty() => {
                    Err(at(format!("event {name} takes no argument, got {arg:?}")))
                }
                Some(ArgKind::None) => Ok(Vec::new()),
                Some(ArgKind::Plain) if arg.is_empty() => {
                    Err(at(format!("event {name} needs an argument")))
                }
                Some(ArgKind::OptionalPlain) if arg.is_empty() => Ok(Vec::new()),
                Some(ArgKind::Plain | ArgKind::OptionalPlain) => Ok(vec![pattern(arg)?]),
                Some(ArgKind::Xml) if arg.trim().is_empty() => {
                    Err(at(format!("event {name} needs an XML argument")))
                }
                Some(ArgKind::Xml) => xml(arg, true),
            }
        }
    }
}
