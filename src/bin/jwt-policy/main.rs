//! `jwt-policy`: the command-line side of the plugin, built from the same crate, so that what
//! it says about a configuration or a request is what the plugin would do.
//!
//! Exit codes: 0 when the command did its job and the answer is yes (a configuration is
//! valid, a request is let through); 1 when the answer is no (a configuration is refused, a
//! request is denied, a manifest has something that cannot be converted); 2 when the
//! command could not run (a usage error, an unreadable file). Errors go to stderr.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented
    )
)]

mod algorithm;
mod convert;
mod describe;
mod document;
mod explain;
mod keys;
mod mint;
mod pem;
mod render;
mod schema;
mod validate;
mod yaml11;

use clap::{Parser, Subcommand};
use std::io::Write;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "jwt-policy",
    version,
    about = "Keys, tokens and configurations for the jwt-policy Envoy/Istio plugin",
    long_about = None,
    after_help = "Exit codes: 0 yes (valid, allowed), 1 no (refused, denied), 2 the command could not run."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Keygen(keys::KeygenArgs),
    Jwks(keys::JwksArgs),
    Mint(mint::MintArgs),
    Validate(validate::ValidateArgs),
    Explain(explain::ExplainArgs),
    // Boxed: its many options would make every command's arguments as large.
    Render(Box<render::RenderArgs>),
    Schema(schema::SchemaArgs),
    Convert(convert::ConvertArgs),
}

/// What a command printed, and how it ends.
pub struct Output {
    pub stdout: String,
    /// Lines for stderr that do not make the command fail.
    pub warnings: Vec<String>,
    pub code: u8,
}

impl Output {
    /// Success with `stdout`.
    pub fn success(stdout: impl Into<String>) -> Output {
        Output {
            stdout: stdout.into(),
            warnings: Vec::new(),
            code: 0,
        }
    }
}

/// Why a command did not produce its output; `code` is 1 for a "no", 2 for could not run.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    /// The answer is no (exit code 1).
    pub fn refused(message: impl Into<String>) -> Failure {
        Failure {
            code: 1,
            message: message.into(),
        }
    }
}

/// Anything else that stops a command: it could not run (exit code 2).
impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure { code: 2, message }
    }
}

impl From<&str> for Failure {
    fn from(message: &str) -> Failure {
        Failure::from(message.to_string())
    }
}

fn run(command: Command) -> Result<Output, Failure> {
    match command {
        Command::Keygen(args) => keys::keygen(&args),
        Command::Jwks(args) => keys::jwks(&args),
        Command::Mint(args) => mint::mint(&args),
        Command::Validate(args) => validate::validate(&args),
        Command::Explain(args) => explain::explain(&args),
        Command::Render(args) => render::render(&args),
        Command::Schema(args) => schema::schema(&args),
        Command::Convert(args) => convert::convert(&args),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(output) => {
            for warning in &output.warnings {
                eprintln!("jwt-policy: {warning}");
            }
            // A reader that went away (`| head`) is not an error worth a panic.
            let _ = writeln!(std::io::stdout(), "{}", output.stdout);
            ExitCode::from(output.code)
        }
        Err(failure) => {
            eprintln!("jwt-policy: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}
