//! `keygen` and `jwks`: private keys as JWK files, and the public key set they make.

use crate::{algorithm, Failure, Output};
use clap::Args;
use jwt_policy::alg::Algorithm;
use jwt_policy::mint::SigningKey;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

/// Print a new private key as a JWK.
///
/// RSA-2048 for RS*/PS*, the algorithm's curve for ES*, Ed25519 for EdDSA, and a random
/// secret as long as the hash output for HS*. The JWK carries `alg` (and `kid` if given),
/// so `mint` and `jwks` need nothing else.
#[derive(Args)]
pub struct KeygenArgs {
    /// The algorithm the key signs with
    #[arg(long, value_parser = algorithm::parser())]
    alg: Algorithm,
    /// The key id to put in the JWK (and, by `mint`, in each token's header)
    #[arg(long)]
    kid: Option<String>,
}

/// Print the public key set (JWKS) of private JWK files.
///
/// Each key keeps its `kid` and `alg`. An `oct` (HMAC) key is a secret: its "public" form
/// is the secret itself.
#[derive(Args)]
pub struct JwksArgs {
    /// Private JWK files, as `keygen` writes them
    #[arg(required = true, value_name = "KEY_FILE")]
    files: Vec<PathBuf>,
}

pub fn keygen(args: &KeygenArgs) -> Result<Output, Failure> {
    let key = SigningKey::generate(args.alg)?;
    Ok(Output::success(
        key.private_jwk(args.kid.as_deref(), Some(args.alg))
            .to_string(),
    ))
}

pub fn jwks(args: &JwksArgs) -> Result<Output, Failure> {
    let keys = args
        .files
        .iter()
        .map(|file| public_jwk(file))
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Output::success(json!({ "keys": keys }).to_string()))
}

/// The public JWK of a private JWK file.
pub fn public_jwk(file: &Path) -> Result<Value, String> {
    let (key, jwk) = signing_key(file)?;
    let kid = jwk.get("kid").and_then(Value::as_str);
    let alg = algorithm::of_jwk(&jwk).map_err(|e| format!("{}: {e}", file.display()))?;
    Ok(key.public_jwk(kid, alg))
}

/// A private JWK file, as a key and as the JSON object it was read from.
pub fn signing_key(file: &Path) -> Result<(SigningKey, Map<String, Value>), String> {
    let jwk = read_jwk(file)?;
    let key = SigningKey::from_private_jwk(&jwk).map_err(|e| format!("{}: {e}", file.display()))?;
    Ok((key, jwk))
}

fn read_jwk(file: &Path) -> Result<Map<String, Value>, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    match serde_json::from_str(&text) {
        Ok(Value::Object(jwk)) => Ok(jwk),
        _ => Err(format!("{}: not a JWK (a JSON object)", file.display())),
    }
}
