//! `xmpp-conformance run [--chunking any|whole|bytes] [--format text|json|junit] [--tag T]
//! PATH...`: runs every `*.toml` vector under the given files and folders and reports.
//!
//! `xmpp-conformance coverage [--chunking any|whole|bytes] [--format text|json] PATH...`:
//! runs them the same way and reports, for each conformance feature of RFC 6120 section 15,
//! how many vectors show it for the client and the server side and how many passed
//! ([`xmpp_conformance::coverage`]). A feature no vector shows is reported, not an error.
//!
//! Exit status (both commands): 0 when no vector failed, 1 when one did (or could not be
//! loaded), 2 for a usage error.

use std::path::PathBuf;
use std::process::ExitCode;

use xmpp_conformance::{ChunkingChoice, Coverage, Runner};

const USAGE: &str = "usage: xmpp-conformance run [--chunking any|whole|bytes] \
[--format text|json|junit] [--tag T]... PATH...
       xmpp-conformance coverage [--chunking any|whole|bytes] [--format text|json] PATH...";

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

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
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
