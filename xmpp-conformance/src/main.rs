//! `xmpp-conformance run [--chunking any|whole|bytes] [--format text|json|junit] [--tag T]
//! PATH...`: runs every `*.toml` vector under the given files and folders and reports.
//!
//! `xmpp-conformance coverage [--chunking any|whole|bytes] [--format text|json] PATH...`:
//! runs them the same way and reports, for each conformance feature of RFC 6120 section 15,
//! how many vectors show it for the client and the server side and how many passed
//! ([`xmpp_conformance::coverage`]). A feature no vector shows is reported, not an error.
//!
//! `xmpp-conformance live server --connect HOST:PORT [--tls starttls|direct|none] [--insecure]
//! [--ca FILE] [--site FILE] [--timeout-ms N] PATH...`: plays the client side of every
//! `server` vector under PATH against a running server ([`xmpp_conformance::live`]): one line
//! per vector (`ok`, `FAIL` with the step and why, or `skip` with the reason it cannot run
//! live), then `N passed, N failed, N skipped`. `live client --listen HOST:PORT [--cert FILE
//! --key FILE] [--tls starttls|direct|none] [--accept-timeout-ms N]` plays the server side of
//! every `client` vector for a client under test that connects once per vector;
//! `live component-server --connect HOST:PORT --site FILE` plays the component of every
//! `component-server` vector against a server's XEP-0114 port, and `live component --listen
//! HOST:PORT --site FILE` the server of every `component` vector for a component under test
//! (the site file gives the component's `domain` and `secret`). `live s2s-in --connect
//! HOST:PORT --listen HOST:PORT --site FILE [--tls starttls|none] [--cert FILE --key FILE]`
//! plays the originating server of every `s2s-in` vector against a server's s2s port, as the
//! site's `peer_domain`, and that domain's authoritative server on `--listen`, where the
//! server under test must reach `peer_domain` (offering STARTTLS there with `--cert` and
//! `--key`). `live s2s-out --listen HOST:PORT --trigger COMMAND --site FILE [--cert FILE --key
//! FILE]` plays the receiving server of every `s2s-out` vector: per vector it runs COMMAND
//! (`sh -c`), which must make the server under test send a stanza carrying
//! `live-s2s-out-trigger` to `peer_domain`, and accepts the stream that follows.
//! `--format markdown` prints instead a section
//! of `vectors/LIVE.md` headed `--name` (with `--describe` under it): the counts, each failing
//! vector with the RFC sentence from `--findings FILE`, and the reasons for skipping.
//!
//! Exit status (all commands): 0 when no vector failed, 1 when one did (or could not be
//! loaded), 2 for a usage error.

use std::path::PathBuf;
use std::process::ExitCode;

use xmpp_conformance::{ChunkingChoice, Coverage, Runner};

const USAGE: &str = "usage: xmpp-conformance run [--chunking any|whole|bytes] \
[--format text|json|junit] [--tag T]... PATH...
       xmpp-conformance coverage [--chunking any|whole|bytes] [--format text|json] PATH...
       xmpp-conformance live server --connect HOST:PORT [--tls starttls|direct|none] [--insecure] \
[--ca FILE] [--site FILE] [--timeout-ms N] \
[--format text|markdown [--name NAME] [--describe TEXT] [--findings FILE]] PATH...
       xmpp-conformance live client --listen HOST:PORT [--cert FILE --key FILE] \
[--tls starttls|direct|none] [--accept-timeout-ms N] [--site FILE] [--timeout-ms N] [--format ...] PATH...
       xmpp-conformance live component-server --connect HOST:PORT --site FILE [--timeout-ms N] \
[--format ...] PATH...
       xmpp-conformance live component --listen HOST:PORT --site FILE [--accept-timeout-ms N] \
[--timeout-ms N] [--format ...] PATH...
       xmpp-conformance live s2s-in --connect HOST:PORT --listen HOST:PORT --site FILE \
[--tls starttls|none] [--insecure] [--ca FILE] [--cert FILE --key FILE] [--timeout-ms N] \
[--format ...] PATH...
       xmpp-conformance live s2s-out --listen HOST:PORT --trigger COMMAND --site FILE \
[--cert FILE --key FILE] [--accept-timeout-ms N] [--timeout-ms N] [--format ...] PATH...";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Command {
    Run,
    Coverage,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Text,
    Json,
    Junit,
}

struct Args {
    command: Command,
    chunking: ChunkingChoice,
    format: Format,
    tags: Vec<String>,
    paths: Vec<PathBuf>,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let command = match args.next().as_deref() {
        Some("run") => Command::Run,
        Some("coverage") => Command::Coverage,
        Some("-h" | "--help" | "help") => return Ok(None),
        Some(other) => return Err(format!("unknown command {other:?}")),
        None => return Err("missing command".into()),
    };
    let mut out = Args {
        command,
        chunking: ChunkingChoice::Any,
        format: Format::Text,
        tags: Vec::new(),
        paths: Vec::new(),
    };
    let mut flags = true;
    while let Some(arg) = args.next() {
        if !flags || !arg.starts_with("--") {
            out.paths.push(PathBuf::from(arg));
            continue;
        }
        if arg == "--" {
            flags = false;
            continue;
        }
        if arg == "--help" {
            return Ok(None);
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f.to_owned(), Some(v.to_owned())),
            None => (arg.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--chunking" => {
                out.chunking = match value()?.as_str() {
                    "any" => ChunkingChoice::Any,
                    "whole" => ChunkingChoice::Whole,
                    "bytes" => ChunkingChoice::Bytes,
                    v => return Err(format!("--chunking {v:?}: expected any, whole or bytes")),
                }
            }
            "--format" => {
                out.format = match value()?.as_str() {
                    "text" => Format::Text,
                    "json" => Format::Json,
                    "junit" if command == Command::Run => Format::Junit,
                    "junit" => return Err("coverage has no junit format".into()),
                    v => return Err(format!("--format {v:?}: expected text, json or junit")),
                }
            }
            "--tag" if command == Command::Run => out.tags.push(value()?),
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    if out.paths.is_empty() {
        return Err("no PATH given".into());
    }
    Ok(Some(out))
}

/// `live server ...`: see the crate documentation.
fn live(mut args: impl Iterator<Item = String>) -> Result<ExitCode, String> {
    use std::time::Duration;
    use xmpp_conformance::live::report::{self, LiveResult};
    use xmpp_conformance::live::{
        Authority, LiveClientOptions, LiveOptions, LiveOutcome, Site, TlsMode, run_client_vector,
        run_component_server_vector, run_component_vector, run_s2s_in_vector, run_s2s_out_vector,
        run_server_vector, server_tls_config,
    };
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Mode {
        Server,
        Client,
        ComponentServer,
        Component,
        S2sIn,
        S2sOut,
    }
    let mode = match args.next().as_deref() {
        Some("server") => Mode::Server,
        Some("client") => Mode::Client,
        Some("component-server") => Mode::ComponentServer,
        Some("component") => Mode::Component,
        Some("s2s-in") => Mode::S2sIn,
        Some("s2s-out") => Mode::S2sOut,
        Some(other) => {
            return Err(format!(
                "live {other:?}: expected 'server', 'client', 'component-server', 'component', \
                 's2s-in' or 's2s-out'"
            ));
        }
        None => return Err("live: which side? ('live server', 'live client', ...)".into()),
    };
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Tls {
        Starttls,
        Direct,
        None,
    }
    let (mut connect, mut insecure, mut ca, mut site) = (None, false, None, None);
    let mut tls: Option<Tls> = None;
    let (mut listen, mut cert, mut key, mut trigger) = (None, None, None, None);
    let mut accept_timeout = Duration::from_secs(10);
    let mut timeout = Duration::from_secs(3);
    let mut paths = Vec::new();
    let (mut format, mut name, mut findings, mut how) =
        (LiveFormat::Text, None, None, String::new());
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--connect" => connect = Some(value()?),
            "--listen" => listen = Some(value()?),
            "--trigger" => trigger = Some(value()?),
            "--cert" => cert = Some(PathBuf::from(value()?)),
            "--key" => key = Some(PathBuf::from(value()?)),
            "--accept-timeout-ms" => {
                let ms = value()?
                    .parse()
                    .map_err(|e| format!("--accept-timeout-ms: {e}"))?;
                accept_timeout = Duration::from_millis(ms);
            }
            "--tls" => {
                tls = Some(match value()?.as_str() {
                    "starttls" => Tls::Starttls,
                    "direct" => Tls::Direct,
                    "none" => Tls::None,
                    v => return Err(format!("--tls {v:?}: expected starttls, direct or none")),
                })
            }
            "--insecure" => insecure = true,
            "--ca" => ca = Some(PathBuf::from(value()?)),
            "--site" => site = Some(PathBuf::from(value()?)),
            "--format" => {
                format = match value()?.as_str() {
                    "text" => LiveFormat::Text,
                    "markdown" => LiveFormat::Markdown,
                    v => return Err(format!("--format {v:?}: expected text or markdown")),
                }
            }
            "--name" => name = Some(value()?),
            "--describe" => how = value()?,
            "--findings" => findings = Some(PathBuf::from(value()?)),
            "--timeout-ms" => {
                let ms = value()?.parse().map_err(|e| format!("--timeout-ms: {e}"))?;
                timeout = Duration::from_millis(ms);
            }
            a if a.starts_with("--") => return Err(format!("unknown option {a}")),
            _ => paths.push(PathBuf::from(arg)),
        }
    }
    let site = match site {
        Some(p) => {
            let text = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
            Site::parse(&text)?
        }
        None => Site::default(),
    };
    if paths.is_empty() {
        return Err("no PATH given".into());
    }
    // The side the runner plays: it connects to a server under test, or it listens for a
    // client or component under test (one connection per vector that can run).
    enum Side {
        Server(LiveOptions),
        Client(std::net::TcpListener, LiveClientOptions),
        S2sIn(LiveOptions, Authority),
        S2sOut(std::net::TcpListener, LiveClientOptions, String),
    }
    let component = matches!(mode, Mode::ComponentServer | Mode::Component);
    if component && tls.is_some_and(|t| t != Tls::None) {
        return Err("XEP-0114 component streams have no TLS: --tls is for c2s runs".into());
    }
    if component && site.secret.is_none() {
        return Err("the component modes need a --site file with the component's secret".into());
    }
    let tls = tls.unwrap_or(if component { Tls::None } else { Tls::Starttls });
    // The listening modes: the runner waits on --listen for the implementation under test,
    // presenting --cert/--key at STARTTLS (or at once with --tls direct).
    let listening = |what: &str| -> Result<(std::net::TcpListener, LiveClientOptions), String> {
        let listen = listen
            .clone()
            .ok_or(format!("{what} needs --listen HOST:PORT"))?;
        let listener =
            std::net::TcpListener::bind(&listen).map_err(|e| format!("--listen {listen}: {e}"))?;
        let config = match (&cert, &key, tls) {
            (Some(c), Some(k), Tls::Starttls | Tls::Direct) => Some(server_tls_config(c, k)?),
            (None, None, Tls::Direct) => {
                return Err("--tls direct needs --cert and --key".into());
            }
            (None, None, _) | (_, _, Tls::None) => None,
            _ => return Err("--cert and --key go together".into()),
        };
        let opts = LiveClientOptions {
            tls: config,
            direct: tls == Tls::Direct,
            site: site.clone(),
            step_timeout: timeout,
            accept_timeout,
        };
        Ok((listener, opts))
    };
    let side = if mode == Mode::S2sOut {
        if tls == Tls::Direct {
            return Err(
                "live s2s-out: s2s streams start unencrypted (--tls starttls or none)".into(),
            );
        }
        if site.peer_domain.is_none() {
            return Err("live s2s-out needs a --site file with the runner's peer_domain".into());
        }
        let trigger = trigger.ok_or(
            "live s2s-out needs --trigger COMMAND (makes the server under test send a stanza \
             to peer_domain)",
        )?;
        let (listener, opts) = listening("live s2s-out")?;
        Side::S2sOut(listener, opts, trigger)
    } else if mode == Mode::S2sIn {
        if tls == Tls::Direct {
            return Err(
                "live s2s-in: s2s streams start unencrypted (--tls starttls or none)".into(),
            );
        }
        if site.peer_domain.is_none() {
            return Err("live s2s-in needs a --site file with the runner's peer_domain".into());
        }
        let connect = connect.ok_or("live s2s-in needs --connect HOST:PORT (the s2s port)")?;
        let listen = listen.ok_or(
            "live s2s-in needs --listen HOST:PORT (where the server under test reaches \
             peer_domain)",
        )?;
        let listener =
            std::net::TcpListener::bind(&listen).map_err(|e| format!("--listen {listen}: {e}"))?;
        let authority_tls = match (cert, key) {
            (Some(c), Some(k)) => Some(server_tls_config(&c, &k)?),
            (None, None) => None,
            _ => return Err("--cert and --key go together".into()),
        };
        Side::S2sIn(
            LiveOptions {
                connect,
                tls: match tls {
                    Tls::Starttls => TlsMode::StartTls { ca, insecure },
                    _ => TlsMode::None,
                },
                site,
                step_timeout: timeout,
            },
            Authority {
                listener,
                tls: authority_tls,
            },
        )
    } else if matches!(mode, Mode::Client | Mode::Component) {
        let (listener, opts) = listening(if mode == Mode::Client {
            "live client"
        } else {
            "live component"
        })?;
        Side::Client(listener, opts)
    } else {
        let what = if mode == Mode::Server {
            "live server"
        } else {
            "live component-server"
        };
        let connect = connect.ok_or(format!("{what} needs --connect HOST:PORT"))?;
        Side::Server(LiveOptions {
            connect,
            tls: match tls {
                Tls::Starttls => TlsMode::StartTls { ca, insecure },
                Tls::Direct => TlsMode::Direct { ca, insecure },
                Tls::None => TlsMode::None,
            },
            site,
            step_timeout: timeout,
        })
    };
    let files = xmpp_conformance::collect_files(&paths).map_err(|e| e.to_string())?;
    let mut results = Vec::new();
    for file in files {
        let path = file.display().to_string();
        let (title, source, outcome) = match xmpp_conformance::vector::load(&file) {
            Ok(v) => {
                let outcome = match (&side, mode) {
                    (Side::Server(opts), Mode::ComponentServer) => {
                        run_component_server_vector(&v, opts)
                    }
                    (Side::Server(opts), _) => run_server_vector(&v, opts),
                    (Side::S2sIn(opts, authority), _) => run_s2s_in_vector(&v, opts, authority),
                    (Side::S2sOut(listener, opts, command), _) => {
                        run_s2s_out_vector(&v, listener, opts, &mut || Triggered::start(command))
                    }
                    (Side::Client(listener, opts), Mode::Component) => {
                        run_component_vector(&v, listener, opts)
                    }
                    (Side::Client(listener, opts), _) => run_client_vector(&v, listener, opts),
                };
                (v.title, v.source, outcome)
            }
            Err(e) => (
                String::new(),
                None,
                LiveOutcome::Failed {
                    step: 0,
                    why: e.to_string(),
                },
            ),
        };
        let result = LiveResult {
            path,
            title,
            source,
            outcome,
        };
        if format == LiveFormat::Text {
            // As it happens, for a long run.
            print!("{}", report::line(&result));
        }
        results.push(result);
    }
    let (_, passed, failed, skipped) = report::counts(&results);
    match format {
        LiveFormat::Text => println!("{passed} passed, {failed} failed, {skipped} skipped"),
        LiveFormat::Markdown => {
            let findings = match &findings {
                Some(p) => {
                    let text =
                        std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
                    report::parse_findings(&text)?
                }
                None => Default::default(),
            };
            print!(
                "{}",
                report::to_markdown(
                    name.as_deref().unwrap_or("live run"),
                    &how,
                    &results,
                    &findings
                )
            );
        }
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The `--trigger` command of `live s2s-out`, running for one vector (`sh -c`, output
/// discarded); ended, if still running, when the vector is over.
struct Triggered(std::process::Child);

impl Triggered {
    fn start(command: &str) -> Result<Triggered, String> {
        std::process::Command::new("sh")
            .args(["-c", command])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map(Triggered)
            .map_err(|e| format!("{command}: {e}"))
    }
}

impl Drop for Triggered {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LiveFormat {
    Text,
    Markdown,
}

fn main() -> ExitCode {
    let mut raw = std::env::args().skip(1).peekable();
    if raw.peek().map(String::as_str) == Some("live") {
        raw.next();
        return live(raw).unwrap_or_else(|e| {
            eprintln!("xmpp-conformance: {e}\n{USAGE}");
            ExitCode::from(2)
        });
    }
    let args = match parse_args(raw) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("xmpp-conformance: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runner = Runner::new().with_chunking(args.chunking);
    let report = match runner.run_paths(&args.paths, &args.tags) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("xmpp-conformance: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if report.results.is_empty() {
        eprintln!("xmpp-conformance: warning: no vector found");
    }
    let out = match (args.command, args.format) {
        (Command::Run, Format::Text) => report.to_text(None),
        (Command::Run, Format::Json) => report.to_json(None),
        (Command::Run, Format::Junit) => report.to_junit(None),
        (Command::Coverage, Format::Json) => Coverage::of(&report).to_json(None),
        (Command::Coverage, _) => Coverage::of(&report).to_text(&report, None),
    };
    print!("{out}");
    if report.failed() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
