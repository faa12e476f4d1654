//! `validate`: a configuration compiled exactly as the plugin compiles it, and a summary of
//! what it holds, or every error with its JSON path.

use crate::document::{plugin_config, read_config_text};
use crate::{describe, Failure, Output};
use clap::Args;
use jwt_policy::config::{self, JwtAuthentication};
use jwt_policy::policy::{Compiled, Policy};
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// Check a configuration exactly as the plugin does (exit 0 valid, 1 refused).
///
/// CONFIG is the plugin's JSON, the same as YAML, an Istio WasmPlugin or TrafficExtension
/// manifest (its pluginConfig is checked), or an Envoy HTTP filter whose wasm
/// configuration is a StringValue; `-` reads stdin. A document that does not parse is
/// refused at its first error, as the parser reads it in one pass; one that parses is
/// compiled part by part, and every provider, named requirement and rule that is wrong is
/// named (the first error in each).
#[derive(Args)]
pub struct ValidateArgs {
    /// The configuration file, or - for stdin
    #[arg(value_name = "CONFIG")]
    config: PathBuf,
}

/// A configuration as the plugin would run it, and the document it came from.
pub struct Loaded {
    pub config: JwtAuthentication,
    pub compiled: Compiled,
    pub found_in: String,
    pub warnings: Vec<String>,
}

/// Reads and compiles a configuration; a refusal lists every error found, one per line.
pub fn load(path: &Path) -> Result<Loaded, Failure> {
    let text = read_config_text(path)?;
    let name = path.display();
    let document = plugin_config(&text).map_err(|e| Failure::refused(format!("{name}: {e}")))?;
    let refused = |errors: Vec<config::ConfigError>| {
        let mut message = format!(
            "{name} ({}): refused with {} error(s):",
            document.found_in,
            errors.len()
        );
        for error in &errors {
            let _ = write!(message, "\n  {error}");
        }
        Failure::refused(message)
    };
    let config = config::parse(&document.bytes).map_err(|e| refused(vec![e]))?;
    let compiled = Policy::compile_all(&config).map_err(refused)?;
    Ok(Loaded {
        config,
        compiled,
        found_in: document.found_in,
        warnings: document.warnings,
    })
}

pub fn validate(args: &ValidateArgs) -> Result<Output, Failure> {
    let loaded = load(&args.config)?;
    let policy = &loaded.compiled.policy;
    let keys: usize = policy.providers().iter().map(|p| p.key_count()).sum();
    let mut out = format!(
        "{}: valid ({})\ngeneration: {}\n{} provider(s), {keys} key(s), {} rule(s)",
        args.config.display(),
        loaded.found_in,
        policy
            .generation()
            .map_or("none".to_string(), |g| g.to_string()),
        policy.providers().len(),
        loaded.config.rules.len(),
    );
    for provider in policy.providers() {
        let _ = write!(
            out,
            "\n  provider {}: {}",
            provider.name,
            describe::provider(provider)
        );
    }
    for (i, rule) in loaded.config.rules.iter().enumerate() {
        let _ = write!(
            out,
            "\n  rules[{i}] {}: {}",
            describe::route(&rule.route),
            describe::rule_requirement(rule)
        );
    }
    let mut output = Output::success(out);
    output.warnings = loaded.warnings;
    output.warnings.extend(loaded.compiled.notes);
    Ok(output)
}
