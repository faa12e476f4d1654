//! `jwt-policy`: keys and tokens for the demo and the tests, from the same crate the plugin is
//! built from.

use jwt_policy::alg::Algorithm;
use jwt_policy::mint::{self, SigningKey};
use serde_json::{json, Map, Value};
use std::io::Write;
use std::process::ExitCode;

const USAGE: &str = r#"usage:
  jwt-policy keygen --alg ALG [--kid KID]
      Prints a new private key as a JWK (RSA-2048 for RS*/PS*, the curve for ES*,
      Ed25519 for EdDSA, a secret as long as the hash for HS*).
  jwt-policy jwks KEY_FILE...
      Prints the public key set of the given private JWK files.
  jwt-policy mint --key KEY_FILE [--alg ALG] [--kid KID | --no-kid]
                  [--claims JSON] [--header JSON] [--count N]
      Prints a signed token. The claims (default {}) and, if given, the header are
      signed exactly as written; otherwise the header is {alg, typ, kid}.
      ALG and KID default to the key file's alg and kid. With --count, prints N
      distinct tokens, one per line, the claims of the i-th with "jti": "<i>".

ALG is one of RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 HS256 HS384 HS512 EdDSA."#;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(output) => {
            // A reader that went away (`| head`) is not an error worth a panic.
            let _ = writeln!(std::io::stdout(), "{output}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("jwt-policy: {message}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &[String]) -> Result<String, String> {
    if args.iter().any(|arg| arg == "--help" || arg == "-h") {
        return Ok(USAGE.to_string());
    }
    let (command, rest) = args.split_first().ok_or("no command given")?;
    let options = Options::parse(rest)?;
    match command.as_str() {
        "keygen" => {
            let alg = options.algorithm()?.ok_or("keygen needs --alg")?;
            let key = SigningKey::generate(alg)?;
            Ok(key
                .private_jwk(options.value("--kid"), Some(alg))
                .to_string())
        }
        "jwks" => {
            if options.files.is_empty() {
                return Err("jwks needs at least one key file".into());
            }
            let keys = options
                .files
                .iter()
                .map(|file| {
                    let jwk = read_jwk(file)?;
                    let key =
                        SigningKey::from_private_jwk(&jwk).map_err(|e| format!("{file}: {e}"))?;
                    Ok(key.public_jwk(string(&jwk, "kid"), algorithm(&jwk)?))
                })
                .collect::<Result<Vec<_>, String>>()?;
            Ok(json!({ "keys": keys }).to_string())
        }
        "mint" => {
            let file = options.value("--key").ok_or("mint needs --key")?;
            let jwk = read_jwk(file)?;
            let key = SigningKey::from_private_jwk(&jwk).map_err(|e| format!("{file}: {e}"))?;
            let alg = match options.algorithm()? {
                Some(alg) => alg,
                None => algorithm(&jwk)?.ok_or("the key has no alg: give --alg")?,
            };
            let kid = match (options.flag("--no-kid"), options.value("--kid")) {
                (true, _) => None,
                (false, Some(kid)) => Some(kid),
                (false, None) => string(&jwk, "kid"),
            };
            let claims = options.value("--claims").unwrap_or("{}");
            let count = match options.value("--count") {
                None => None,
                Some(n) => Some(
                    n.parse::<usize>()
                        .map_err(|_| format!("--count {n}: not a number"))?,
                ),
            };
            let header = match options.value("--header") {
                Some(header) => header.to_string(),
                None => {
                    let mut header = json!({"alg": alg.name(), "typ": "JWT"});
                    if let (Some(kid), Some(object)) = (kid, header.as_object_mut()) {
                        object.insert("kid".into(), Value::String(kid.into()));
                    }
                    header.to_string()
                }
            };
            let Some(count) = count else {
                return mint::sign_token(&key, alg, &header, claims);
            };
            let Ok(Value::Object(base)) = serde_json::from_str::<Value>(claims) else {
                return Err("--count needs --claims to be a JSON object".into());
            };
            let tokens = (0..count)
                .map(|i| {
                    let mut claims = base.clone();
                    claims.insert("jti".into(), Value::String(i.to_string()));
                    mint::sign_token(&key, alg, &header, &Value::Object(claims).to_string())
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(tokens.join("\n"))
        }
        "help" => Ok(USAGE.to_string()),
        other => Err(format!("unknown command \"{other}\"")),
    }
}

/// `--name value` pairs, `--flag`s and plain arguments.
struct Options {
    pairs: Vec<(String, String)>,
    flags: Vec<String>,
    files: Vec<String>,
}

impl Options {
    const FLAGS: [&'static str; 1] = ["--no-kid"];
    const VALUES: [&'static str; 6] =
        ["--alg", "--kid", "--key", "--claims", "--header", "--count"];

    fn parse(args: &[String]) -> Result<Options, String> {
        let mut options = Options {
            pairs: Vec::new(),
            flags: Vec::new(),
            files: Vec::new(),
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            if Self::FLAGS.contains(&arg.as_str()) {
                options.flags.push(arg.clone());
            } else if Self::VALUES.contains(&arg.as_str()) {
                let value = args.next().ok_or(format!("{arg} needs a value"))?;
                options.pairs.push((arg.clone(), value.clone()));
            } else if arg.starts_with("--") {
                return Err(format!("unknown option {arg}"));
            } else {
                options.files.push(arg.clone());
            }
        }
        Ok(options)
    }

    fn value(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn flag(&self, name: &str) -> bool {
        self.flags.iter().any(|f| f == name)
    }

    fn algorithm(&self) -> Result<Option<Algorithm>, String> {
        self.value("--alg").map(parse_algorithm).transpose()
    }
}

fn parse_algorithm(name: &str) -> Result<Algorithm, String> {
    Algorithm::from_name(name).ok_or(format!("unknown algorithm \"{name}\""))
}

fn read_jwk(file: &str) -> Result<Map<String, Value>, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))?;
    match serde_json::from_str(&text) {
        Ok(Value::Object(jwk)) => Ok(jwk),
        _ => Err(format!("{file}: not a JWK (a JSON object)")),
    }
}

fn string<'a>(jwk: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    jwk.get(name).and_then(Value::as_str)
}

fn algorithm(jwk: &Map<String, Value>) -> Result<Option<Algorithm>, String> {
    string(jwk, "alg").map(parse_algorithm).transpose()
}
