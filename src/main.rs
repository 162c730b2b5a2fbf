//! The `wssniff` binary: parse flags, run, map the outcome to an exit status.
//! 0 = capture read, 1 = a handshake tripped `--fail-on`, 2 = usage or input error.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;
use wssniff::cli::Cli;
use wssniff::run::{self, RunError};

/// mimalloc instead of the system allocator (see Cargo.toml for why): the library and its
/// tests keep whatever allocator their binary has.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(kind) = cli.generate {
        let mut out = std::io::stdout().lock();
        return match wssniff::cli::generate(kind, &mut out).and_then(|()| out.flush()) {
            Ok(()) => ExitCode::SUCCESS,
            // `wssniff --generate man | head` is not an error.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("wssniff: writing --generate output: {e}");
                ExitCode::from(2)
            }
        };
    }
    if cli.list_findings {
        print!("{}", run::findings_table());
        return ExitCode::SUCCESS;
    }
    if cli.list_interfaces {
        return match wssniff::capture::live::list_interfaces() {
            Ok(list) => {
                print!("{list}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("wssniff: {e}");
                ExitCode::from(2)
            }
        };
    }
    let config = match cli.into_config(std::io::stdout().is_terminal()) {
        Ok(c) => c,
        Err(msg) => {
            eprintln!("wssniff: {msg}");
            return ExitCode::from(2);
        }
    };
    if config.tui {
        return match wssniff::tui::run(&config) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("wssniff: {e:#}");
                ExitCode::from(2)
            }
        };
    }
    match run::run(&config) {
        Ok(outcome) => {
            if let Some(why) = outcome.stopped {
                eprintln!("wssniff: {why}");
                return ExitCode::from(3);
            }
            if let Some(err) = outcome.input_error {
                eprintln!("wssniff: {err}");
                return ExitCode::from(2);
            }
            if outcome.tripped {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        // A closed pipe (`wssniff … | head`) is how the reader says it has enough: not an error.
        Err(RunError::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            let _ = std::io::stdout().flush();
            eprintln!("wssniff: {e}");
            ExitCode::from(2)
        }
    }
}
