//! `mint`: signed tokens, including the malformed ones a filter must refuse.

use crate::keys::signing_key;
use crate::{algorithm, Failure, Output};
use clap::Args;
use jwt_policy::alg::Algorithm;
use jwt_policy::mint::sign_token;
use serde_json::{json, Value};
use std::path::PathBuf;

/// Print a signed token.
///
/// The claims and, if given, the header are signed exactly as written (so duplicate members,
/// `crit` or odd claim types can be tested); otherwise the header is {alg, typ, kid}.
#[derive(Args)]
pub struct MintArgs {
    /// Private JWK file to sign with, as `keygen` writes it
    #[arg(long, value_name = "KEY_FILE")]
    key: PathBuf,
    /// Algorithm to sign with [default: the key's alg]
    #[arg(long, value_parser = algorithm::parser())]
    alg: Option<Algorithm>,
    /// The kid to put in the header [default: the key's kid]
    #[arg(long, conflicts_with = "no_kid")]
    kid: Option<String>,
    /// Put no kid in the header, even if the key has one
    #[arg(long)]
    no_kid: bool,
    /// The payload, signed as written
    #[arg(long, value_name = "JSON", default_value = "{}")]
    claims: String,
    /// The header, signed as written, instead of {alg, typ, kid}
    #[arg(long, value_name = "JSON")]
    header: Option<String>,
    /// Print N distinct tokens, one per line; the claims of the i-th get "jti": "<i>"
    #[arg(long, value_name = "N")]
    count: Option<usize>,
}

pub fn mint(args: &MintArgs) -> Result<Output, Failure> {
    let (key, jwk) = signing_key(&args.key)?;
    let alg = match args.alg {
        Some(alg) => alg,
        None => algorithm::of_jwk(&jwk)?.ok_or("the key has no alg: give --alg")?,
    };
    let kid = match (args.no_kid, &args.kid) {
        (true, _) => None,
        (false, Some(kid)) => Some(kid.as_str()),
        (false, None) => jwk.get("kid").and_then(Value::as_str),
    };
    let header = match &args.header {
        Some(header) => header.clone(),
        None => {
            let mut header = json!({"alg": alg.name(), "typ": "JWT"});
            if let (Some(kid), Some(object)) = (kid, header.as_object_mut()) {
                object.insert("kid".into(), Value::String(kid.into()));
            }
            header.to_string()
        }
    };
    let Some(count) = args.count else {
        return Ok(Output::success(sign_token(
            &key,
            alg,
            &header,
            &args.claims,
        )?));
    };
    let Ok(Value::Object(base)) = serde_json::from_str::<Value>(&args.claims) else {
        return Err("--count needs --claims to be a JSON object".into());
    };
    let tokens = (0..count)
        .map(|i| {
            let mut claims = base.clone();
            claims.insert("jti".into(), Value::String(i.to_string()));
            sign_token(&key, alg, &header, &Value::Object(claims).to_string())
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Output::success(tokens.join("\n")))
}
