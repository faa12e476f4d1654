//! `explain`: one request against a configuration, with the verdict the plugin would give
//! (from `Policy::check` itself) and the account of how it came about (`Policy::explain`).

use crate::document::read_text;
use crate::validate::load;
use crate::{describe, Failure, Output};
use clap::Args;
use jwt_policy::explain::{Attempt, Explanation, KeyOutcome, TokenTrace};
use jwt_policy::policy::{Edits, Policy, Verdict};
use jwt_policy::reason::Reason;
use jwt_policy::request::Request;
use serde_json::{json, Value};
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// Decide one request as the plugin would, and show why (exit 0 let through, 1 denied).
///
/// Prints the token's header and payload, the rule that matched, each provider and key
/// tried with every check (signature, issuer, audiences, time with skew, subject, lifetime,
/// claim conditions), and the verdict: the status, body and WWW-Authenticate the plugin
/// sends, or the header edits it makes on the way through. The verdict is the plugin's own
/// decision code run natively (signatures checked in Rust, as with use_host_signatures:
/// false). A remote key set is not fetched: give it with --remote-jwks.
#[derive(Args)]
pub struct ExplainArgs {
    /// The configuration, in any form validate reads
    #[arg(value_name = "CONFIG")]
    config: PathBuf,
    /// The token, sent as "authorization: Bearer TOKEN"; - reads it from stdin. Leave it out
    /// to send only the --header values
    #[arg(value_name = "TOKEN")]
    token: Option<String>,
    /// The request path, query string included: /... (or * for OPTIONS)
    #[arg(long, default_value = "/", value_parser = request_path)]
    path: String,
    /// The request method
    #[arg(long, default_value = "GET")]
    method: String,
    /// The request authority (the Host header), shown in the realm
    #[arg(long, default_value = "localhost")]
    authority: String,
    /// The request scheme, shown in the realm
    #[arg(long, default_value = "http")]
    scheme: String,
    /// A request header NAME:VALUE; repeat for more (a name may repeat)
    #[arg(long = "header", value_name = "NAME:VALUE", value_parser = header)]
    headers: Vec<(String, String)>,
    /// The time to decide at, in Unix seconds from 0 to 253402300799 (year 9999), a fraction
    /// allowed [default: now]
    #[arg(long, value_name = "UNIX", value_parser = unix_time)]
    now: Option<f64>,
    /// A key set for a provider with remote_jwks, as if the plugin had fetched it
    #[arg(long, value_name = "PROVIDER=JWKS_FILE", value_parser = remote_jwks)]
    remote_jwks: Vec<(String, PathBuf)>,
    /// Print the explanation as JSON
    #[arg(long)]
    json: bool,
}

fn header(text: &str) -> Result<(String, String), String> {
    // A pseudo-header's name starts with its own colon.
    let split = text
        .get(1..)
        .and_then(|rest| rest.find(':'))
        .map(|at| at + 1);
    let (name, value) = split
        .and_then(|at| Some((text.get(..at)?, text.get(at + 1..)?)))
        .ok_or(format!("\"{text}\" is not NAME:VALUE"))?;
    // Envoy refuses such a request before any filter sees it; a tab is allowed in a value.
    if value.chars().any(|c| c.is_control() && c != '\t') {
        return Err(format!(
            "\"{name}\": a header value holds no control characters"
        ));
    }
    Ok((name.to_ascii_lowercase(), value.trim_start().to_string()))
}

/// The last second of year 9999: a time past it is a typo, not a test of expiry.
const LATEST_TIME: f64 = 253_402_300_799.0;

fn unix_time(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(now) if (0.0..=LATEST_TIME).contains(&now) => Ok(now),
        _ => Err(format!(
            "\"{text}\" is not a Unix time from 0 to {LATEST_TIME}"
        )),
    }
}

/// What Envoy would hand the filter as :path: origin form, or `*` (OPTIONS * HTTP/1.1).
fn request_path(text: &str) -> Result<String, String> {
    if !(text.starts_with('/') || text == "*") {
        return Err(format!("\"{text}\" is not a request path (/... or *)"));
    }
    if text.chars().any(char::is_control) {
        return Err("a request path holds no control characters".into());
    }
    Ok(text.to_string())
}

fn remote_jwks(text: &str) -> Result<(String, PathBuf), String> {
    let (name, file) = text
        .split_once('=')
        .ok_or(format!("\"{text}\" is not PROVIDER=JWKS_FILE"))?;
    Ok((name.to_string(), PathBuf::from(file)))
}

pub fn explain(args: &ExplainArgs) -> Result<Output, Failure> {
    let loaded = load(&args.config)?;
    let policy = &loaded.compiled.policy;
    let now = match args.now {
        Some(now) => now,
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|e| e.to_string())?
            .as_secs_f64(),
    };
    for (name, file) in &args.remote_jwks {
        deliver(policy, name, file, now)?;
    }
    let mut warnings = loaded.warnings;
    for provider in policy.providers().iter().filter(|p| p.remote().is_some()) {
        if !args
            .remote_jwks
            .iter()
            .any(|(name, _)| *name == provider.name)
        {
            warnings.push(format!(
                "provider {0} has remote_jwks, which explain does not fetch: its tokens fail \
                 as jwks_fetch unless --remote-jwks {0}=JWKS_FILE gives the key set",
                provider.name
            ));
        }
    }
    let pairs = request_headers(args)?;
    let request = Request::new(&pairs);
    let explanation = policy.explain(&request, now);
    let rule = explanation.rule.and_then(|i| {
        let rule = loaded.config.rules.get(i)?;
        Some((
            i,
            describe::route(&rule.route),
            describe::rule_requirement(rule),
        ))
    });
    let code = match explanation.verdict {
        Verdict::Deny { .. } => 1,
        _ => 0,
    };
    let stdout = if args.json {
        let value = as_json(&explanation, &pairs, rule.as_ref());
        serde_json::to_string_pretty(&value).map_err(|e| e.to_string())?
    } else {
        as_text(&explanation, policy, now, rule.as_ref())
    };
    Ok(Output {
        stdout,
        warnings,
        code,
    })
}

/// Gives a remote provider the key set in `file`, as a successful fetch would.
fn deliver(policy: &Policy, name: &str, file: &Path, now: f64) -> Result<(), String> {
    let remote = policy
        .providers()
        .iter()
        .find(|p| p.name == name)
        .and_then(|p| p.remote())
        .ok_or(format!(
            "--remote-jwks: no provider {name} with remote_jwks"
        ))?;
    let text = read_text(file)?;
    let document: Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    let keys = jwt_policy::jwks::KeySet::parse(&document)
        .map_err(|e| format!("{}: {}: {}", file.display(), e.path, e.message))?;
    remote.started(1, now);
    remote.succeeded(now, text.as_bytes(), keys.keys);
    Ok(())
}

/// The request as Envoy hands it to the filter: pseudo-headers first, names in lower case.
fn request_headers(args: &ExplainArgs) -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut authority = args.authority.clone();
    let mut others = Vec::new();
    for (name, value) in &args.headers {
        match name.as_str() {
            "host" | ":authority" => authority = value.clone(),
            _ => others.push((name.clone(), value.clone().into_bytes())),
        }
    }
    let mut pairs = vec![
        (":method".to_string(), args.method.clone().into_bytes()),
        (":scheme".to_string(), args.scheme.clone().into_bytes()),
        (":authority".to_string(), authority.into_bytes()),
        (":path".to_string(), args.path.clone().into_bytes()),
    ];
    pairs.extend(others);
    if let Some(token) = &args.token {
        let token = if token == "-" {
            read_text(Path::new("-"))?.trim().to_string()
        } else {
            token.clone()
        };
        pairs.push((
            "authorization".into(),
            format!("Bearer {token}").into_bytes(),
        ));
    }
    Ok(pairs)
}

fn result(result: &Result<(), Reason>) -> String {
    match result {
        Ok(()) => "ok".into(),
        Err(reason) => reason.to_string(),
    }
}

fn outcome(outcome: KeyOutcome) -> &'static str {
    match outcome {
        KeyOutcome::OtherAlgorithm => "not tried: not a key for the token's alg",
        KeyOutcome::OtherKid => "not tried: the token names another kid",
        KeyOutcome::Valid => "signature valid",
        KeyOutcome::Invalid => "signature invalid",
    }
}

type RuleLine = (usize, String, String);

fn as_text(e: &Explanation, policy: &Policy, now: f64, rule: Option<&RuleLine>) -> String {
    let mut out = String::new();
    if !e.spoofed_outputs.is_empty() {
        let _ = writeln!(
            out,
            "removed first (output headers the client sent): {}",
            e.spoofed_outputs.join(", ")
        );
    }
    if e.cors_preflight {
        let _ = writeln!(out, "CORS preflight: let through unchecked");
    }
    match rule {
        Some((i, route, requires)) => {
            let _ = writeln!(out, "rule: rules[{i}] {route}: {requires}");
        }
        None if !e.cors_preflight => {
            let _ = writeln!(out, "rule: none matches, no token required");
        }
        None => {}
    }
    if e.requires && e.tokens.is_empty() {
        let _ = writeln!(out, "tokens: none found");
    }
    for (t, token) in e.tokens.iter().enumerate() {
        token_text(&mut out, t, token, policy, now);
    }
    if !e.conditions.is_empty() {
        let _ = writeln!(out, "claim conditions:");
        for condition in &e.conditions {
            let _ = writeln!(
                out,
                "  token {}: {}: {}",
                condition.token + 1,
                condition.condition,
                result(&condition.result)
            );
        }
    }
    verdict_text(&mut out, &e.verdict);
    out.trim_end().to_string()
}

fn token_text(out: &mut String, t: usize, token: &TokenTrace, policy: &Policy, now: f64) {
    let places: Vec<String> = token
        .found_in
        .iter()
        .map(|(provider, place)| format!("{place} (provider {provider})"))
        .collect();
    let _ = writeln!(out, "token {}: found in {}", t + 1, places.join(", "));
    let show = |value: &Option<Value>| {
        value
            .as_ref()
            .map_or("(not JSON)".to_string(), Value::to_string)
    };
    let _ = writeln!(out, "  header: {}", show(&token.header));
    let _ = writeln!(out, "  payload: {}", show(&token.payload));
    let _ = writeln!(out, "  parse: {}", result(&token.parsed));
    for attempt in &token.attempts {
        attempt_text(out, attempt, token.payload.as_ref(), policy, now);
    }
}

fn attempt_text(
    out: &mut String,
    attempt: &Attempt,
    payload: Option<&Value>,
    policy: &Policy,
    now: f64,
) {
    let audiences = attempt
        .audiences
        .as_ref()
        .map_or(String::new(), |a| format!(" with audiences {a:?}"));
    let _ = writeln!(
        out,
        "  provider {}{audiences}: {}",
        attempt.provider,
        result(&attempt.result)
    );
    for (name, check) in &attempt.checks {
        let detail = if *name == "time" {
            let skew = policy
                .providers()
                .iter()
                .find(|p| p.name == attempt.provider)
                .map_or(0.0, |p| p.clock_skew_seconds());
            let claim = |name| {
                payload
                    .and_then(|p| p.get(name))
                    .map_or("-".to_string(), Value::to_string)
            };
            format!(
                " (now {now}, nbf {}, exp {}, skew {skew}s)",
                claim("nbf"),
                claim("exp")
            )
        } else {
            String::new()
        };
        let _ = writeln!(out, "    {name}: {}{detail}", result(check));
    }
    for key in &attempt.keys {
        let _ = writeln!(
            out,
            "    key {} ({}): {}",
            key.kid.as_deref().unwrap_or("without kid"),
            key.algorithms.join(" "),
            outcome(key.outcome)
        );
    }
    let _ = writeln!(out, "    signature: {}", result(&attempt.signature));
}

fn verdict_text(out: &mut String, verdict: &Verdict) {
    let edits_text = |out: &mut String, edits: &Edits| {
        for name in &edits.remove_headers {
            let _ = writeln!(out, "  remove header: {name}");
        }
        for (name, value) in &edits.add_headers {
            let _ = writeln!(out, "  add header: {name}: {value}");
        }
        if let Some(path) = &edits.path {
            let _ = writeln!(out, "  new :path: {path}");
        }
        if edits.clear_route_cache {
            let _ = writeln!(out, "  route cache cleared");
        }
    };
    match verdict {
        Verdict::NotRequired(edits) => {
            let _ = writeln!(out, "verdict: let through, no token required");
            edits_text(out, edits);
        }
        Verdict::Allow(edits) => {
            let _ = writeln!(out, "verdict: allowed");
            edits_text(out, edits);
        }
        Verdict::Wait(_) => {
            let _ = writeln!(out, "verdict: waits for a key set fetch");
        }
        Verdict::Deny { reason, response } => {
            let _ = writeln!(
                out,
                "verdict: denied {} ({})",
                response.status,
                reason.code()
            );
            let _ = writeln!(out, "  body: {}", response.body);
            for (name, value) in &response.headers {
                let _ = writeln!(out, "  {name}: {value}");
            }
        }
    }
}

fn as_json(e: &Explanation, pairs: &[(String, Vec<u8>)], rule: Option<&RuleLine>) -> Value {
    let request: Vec<Value> = pairs
        .iter()
        .map(|(k, v)| json!([k, String::from_utf8_lossy(v)]))
        .collect();
    let tokens: Vec<Value> = e.tokens.iter().map(token_json).collect();
    let conditions: Vec<Value> = e
        .conditions
        .iter()
        .map(|c| json!({"token": c.token, "condition": c.condition, "result": result(&c.result)}))
        .collect();
    json!({
        "request": request,
        "spoofed_outputs_removed": e.spoofed_outputs,
        "cors_preflight": e.cors_preflight,
        "rule": rule.map(|(i, route, requires)| json!({"index": i, "match": route, "requires": requires})),
        "tokens": tokens,
        "conditions": conditions,
        "verdict": verdict_json(&e.verdict),
    })
}

fn token_json(token: &TokenTrace) -> Value {
    let attempts: Vec<Value> = token
        .attempts
        .iter()
        .map(|a| {
            let checks: Vec<Value> = a
                .checks
                .iter()
                .map(|(name, r)| json!({"check": name, "result": result(r)}))
                .collect();
            let keys: Vec<Value> = a
                .keys
                .iter()
                .map(|k| json!({"kid": k.kid, "algorithms": k.algorithms, "outcome": outcome(k.outcome)}))
                .collect();
            json!({"provider": a.provider, "audiences": a.audiences, "checks": checks,
                   "keys": keys, "signature": result(&a.signature), "result": result(&a.result)})
        })
        .collect();
    let found_in: Vec<Value> = token
        .found_in
        .iter()
        .map(|(provider, place)| json!({"provider": provider, "place": place}))
        .collect();
    json!({"token": token.token, "found_in": found_in, "header": token.header,
           "payload": token.payload, "parse": result(&token.parsed), "attempts": attempts})
}

fn verdict_json(verdict: &Verdict) -> Value {
    let edits_json = |decision: &str, edits: &Edits| {
        let add: Vec<Value> = edits
            .add_headers
            .iter()
            .map(|(k, v)| json!([k, v]))
            .collect();
        json!({"decision": decision, "remove_headers": edits.remove_headers,
               "add_headers": add, "path": edits.path, "clear_route_cache": edits.clear_route_cache})
    };
    match verdict {
        Verdict::NotRequired(edits) => edits_json("not_required", edits),
        Verdict::Allow(edits) => edits_json("allow", edits),
        Verdict::Wait(_) => json!({"decision": "wait"}),
        Verdict::Deny { reason, response } => {
            let headers: serde_json::Map<String, Value> = response
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            json!({"decision": "deny", "status": response.status, "reason": reason.code(),
                   "body": response.body, "headers": headers})
        }
    }
}
