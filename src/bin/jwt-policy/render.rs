//! `render`: a plugin configuration for one provider, from its keys and a few options, as
//! the plugin's JSON, an Istio `WasmPlugin`, or an Envoy HTTP filter. What it writes is
//! compiled by the plugin's own compiler before it is printed, so it is never refused.

use crate::document::read_text;
use crate::{keys, pem, yaml11, Failure, Output};
use clap::{Args, ValueEnum};
use jwt_policy::policy::Policy;
use serde_json::{json, Map, Value};
use std::path::PathBuf;

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    /// The plugin's configuration, as JSON
    Config,
    /// An Istio WasmPlugin manifest (YAML), the configuration in spec.pluginConfig
    Wasmplugin,
    /// An Envoy HTTP filter (YAML), the configuration in its wasm StringValue
    Envoy,
}

/// Write a plugin configuration for one provider (checked as the plugin checks it).
///
/// Keys come from JWKS files, PEM public keys (RSA, EC, Ed25519; the kid is the file name
/// without its extension) or private JWK files made by keygen (only their public part is
/// written). The one rule requires the provider's token on every path but the --public
/// ones.
#[derive(Args)]
pub struct RenderArgs {
    /// A JWKS file; its keys are taken as they are
    #[arg(long, value_name = "FILE")]
    jwks: Vec<PathBuf>,
    /// A PEM public key file
    #[arg(long, value_name = "FILE")]
    pem: Vec<PathBuf>,
    /// A private JWK file made by keygen; its public key is written
    #[arg(long, value_name = "FILE")]
    key: Vec<PathBuf>,
    /// The provider's name in the configuration
    #[arg(long, value_name = "NAME", default_value = "idp")]
    provider: String,
    /// The iss every token must have
    #[arg(long)]
    issuer: Option<String>,
    /// An audience the token's aud may match; repeat for more
    #[arg(long = "audience", value_name = "AUDIENCE")]
    audiences: Vec<String>,
    /// A header that carries the token, NAME or NAME:PREFIX (e.g. "authorization:Bearer ")
    /// [default: authorization with Bearer, and the access_token query parameter]
    #[arg(long, value_name = "NAME[:PREFIX]")]
    from_header: Vec<String>,
    /// A query parameter that carries the token
    #[arg(long, value_name = "NAME")]
    from_param: Vec<String>,
    /// A cookie that carries the token
    #[arg(long, value_name = "NAME")]
    from_cookie: Vec<String>,
    /// Keep the token in the request after it verified
    #[arg(long)]
    forward: bool,
    /// A header that receives the token's payload (base64url)
    #[arg(long, value_name = "HEADER")]
    forward_payload_header: Option<String>,
    /// Copy a claim into a header; repeat for more
    #[arg(long, value_name = "CLAIM:HEADER", value_parser = claim_to_header)]
    claim_to_header: Vec<(String, String)>,
    /// A path that needs no token, with everything under it (/health opens /health and
    /// /health/live, not /healthz); repeat for more
    #[arg(long, value_name = "PATH", value_parser = public_path)]
    public: Vec<String>,
    /// The number the plugin reports as its jwt_policy_generation gauge
    #[arg(long, value_name = "N")]
    generation: Option<u32>,
    /// What to write
    #[arg(long, value_enum, default_value = "config")]
    format: Format,
    /// The WasmPlugin's (or filter's) name
    #[arg(long, value_name = "NAME", default_value = "jwt-policy")]
    name: String,
    /// The WasmPlugin's namespace
    #[arg(long, value_name = "NAMESPACE")]
    namespace: Option<String>,
    /// The module's url in the WasmPlugin (oci://, https://, file://); required there
    #[arg(long)]
    url: Option<String>,
    /// A WasmPlugin selector label KEY=VALUE; repeat for more
    #[arg(long, value_name = "KEY=VALUE")]
    selector: Vec<String>,
    /// Where Envoy finds the module, in the Envoy filter
    #[arg(
        long,
        value_name = "PATH",
        default_value = "/etc/envoy/jwt_policy.wasm"
    )]
    wasm_file: String,
}

fn claim_to_header(text: &str) -> Result<(String, String), String> {
    match text.split_once(':') {
        Some((claim, header)) if !claim.is_empty() && !header.is_empty() => {
            Ok((claim.to_string(), header.to_string()))
        }
        _ => Err(format!("\"{text}\" is not CLAIM:HEADER")),
    }
}

/// A `--public` path as a `path_separated_prefix`, which matches whole segments only, so
/// `/health` does not also open `/healthz`; the matcher takes no trailing `/`, `?` or `#`.
fn public_path(text: &str) -> Result<String, String> {
    if !text.starts_with('/') || text.contains(['?', '#']) {
        return Err(format!("\"{text}\" is not a path (/..., without ? or #)"));
    }
    let path = text.trim_end_matches('/');
    if path.is_empty() {
        return Err("/ would need no token anywhere".into());
    }
    Ok(path.to_string())
}

pub fn render(args: &RenderArgs) -> Result<Output, Failure> {
    let config = plugin_config(args)?;
    // Refuse to write what the plugin would refuse.
    let text = config.to_string();
    if let Err(error) = Policy::from_json(text.as_bytes()) {
        return Err(Failure::refused(format!(
            "the configuration would be refused: {error}"
        )));
    }
    let stdout = match args.format {
        Format::Config => serde_json::to_string_pretty(&config).map_err(|e| e.to_string())?,
        Format::Wasmplugin => yaml11::write(&wasm_plugin(args, config)?)?,
        Format::Envoy => yaml11::write(&envoy_filter(args, &text))?,
    };
    let mut output = Output::success(stdout.trim_end());
    // Written as asked, but a token from any issuer or for any service would then do.
    if args.issuer.is_none() {
        output
            .warnings
            .push("no --issuer: a token from any issuer signed by these keys passes".into());
    }
    if args.audiences.is_empty() {
        output
            .warnings
            .push("no --audience: a token for any audience passes".into());
    }
    Ok(output)
}

fn plugin_config(args: &RenderArgs) -> Result<Value, String> {
    let mut keys = Vec::new();
    for file in &args.jwks {
        let document: Value = serde_json::from_str(&read_text(file)?)
            .map_err(|e| format!("{}: {e}", file.display()))?;
        let Some(Value::Array(set)) = document.get("keys") else {
            return Err(format!("{}: not a JWKS (no \"keys\" list)", file.display()));
        };
        keys.extend(set.iter().cloned());
    }
    for file in &args.pem {
        let kid = file
            .file_stem()
            .map(|stem| stem.to_string_lossy().into_owned())
            .unwrap_or_default();
        keys.push(
            pem::jwk(&read_text(file)?, &kid).map_err(|e| format!("{}: {e}", file.display()))?,
        );
    }
    for file in &args.key {
        keys.push(keys::public_jwk(file)?);
    }
    if keys.is_empty() {
        return Err("no keys: give --jwks, --pem or --key".into());
    }
    // Two keys under one kid make every token naming it try both: after a rotation nobody
    // can tell which key signs. (The plugin takes it, as Envoy does; a rendered set need not.)
    let mut kids = std::collections::BTreeSet::new();
    for kid in keys
        .iter()
        .filter_map(|key| key.get("kid").and_then(Value::as_str))
    {
        if !kids.insert(kid) {
            return Err(format!(
                "two keys have the kid \"{kid}\": give each key its own kid"
            ));
        }
    }
    let mut provider = Map::new();
    if let Some(issuer) = &args.issuer {
        provider.insert("issuer".into(), json!(issuer));
    }
    if !args.audiences.is_empty() {
        provider.insert("audiences".into(), json!(args.audiences));
    }
    provider.insert("jwks".into(), json!({ "keys": keys }));
    if !args.from_header.is_empty() {
        let headers: Vec<Value> = args
            .from_header
            .iter()
            .map(|h| match h.split_once(':') {
                Some((name, prefix)) => json!({"name": name, "value_prefix": prefix}),
                None => json!({"name": h}),
            })
            .collect();
        provider.insert("from_headers".into(), json!(headers));
    }
    if !args.from_param.is_empty() {
        provider.insert("from_params".into(), json!(args.from_param));
    }
    if !args.from_cookie.is_empty() {
        provider.insert("from_cookies".into(), json!(args.from_cookie));
    }
    if args.forward {
        provider.insert("forward".into(), json!(true));
    }
    if let Some(header) = &args.forward_payload_header {
        provider.insert("forward_payload_header".into(), json!(header));
    }
    if !args.claim_to_header.is_empty() {
        let entries: Vec<Value> = args
            .claim_to_header
            .iter()
            .map(|(claim, header)| json!({"header_name": header, "claim_name": claim}))
            .collect();
        provider.insert("claim_to_headers".into(), json!(entries));
    }
    let mut rules: Vec<Value> = args
        .public
        .iter()
        .map(|path| json!({"match": {"path_separated_prefix": path}}))
        .collect();
    rules.push(json!({"match": {"prefix": "/"}, "requires": {"provider_name": args.provider}}));
    let mut config = Map::new();
    if let Some(generation) = args.generation {
        config.insert("generation".into(), json!(generation));
    }
    config.insert("providers".into(), json!({ &args.provider: provider }));
    config.insert("rules".into(), json!(rules));
    Ok(Value::Object(config))
}

fn wasm_plugin(args: &RenderArgs, config: Value) -> Result<Value, String> {
    let url = args
        .url
        .as_ref()
        .ok_or("--format wasmplugin needs --url (where Istio pulls the module from)")?;
    let mut metadata = json!({"name": args.name});
    if let (Some(namespace), Some(object)) = (&args.namespace, metadata.as_object_mut()) {
        object.insert("namespace".into(), json!(namespace));
    }
    let mut spec = Map::new();
    if !args.selector.is_empty() {
        let labels = args
            .selector
            .iter()
            .map(|label| {
                let (key, value) = label
                    .split_once('=')
                    .ok_or(format!("--selector \"{label}\" is not KEY=VALUE"))?;
                Ok((key.to_string(), json!(value)))
            })
            .collect::<Result<Map<String, Value>, String>>()?;
        spec.insert("selector".into(), json!({ "matchLabels": labels }));
    }
    spec.insert("url".into(), json!(url));
    // Before Istio's own authentication, and closed: a plugin that cannot run refuses.
    spec.insert("phase".into(), json!("AUTHN"));
    spec.insert("failStrategy".into(), json!("FAIL_CLOSE"));
    spec.insert("pluginConfig".into(), config);
    Ok(json!({
        "apiVersion": "extensions.istio.io/v1alpha1",
        "kind": "WasmPlugin",
        "metadata": metadata,
        "spec": spec,
    }))
}

fn envoy_filter(args: &RenderArgs, config: &str) -> Value {
    json!({
        "name": args.name,
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {
                "name": args.name,
                "root_id": "jwt_policy",
                "vm_config": {
                    "vm_id": "jwt_policy",
                    "runtime": "envoy.wasm.runtime.v8",
                    "code": {"local": {"filename": args.wasm_file}}
                },
                "configuration": {
                    "@type": "type.googleapis.com/google.protobuf.StringValue",
                    "value": config
                },
                "failure_policy": "FAIL_CLOSED"
            }
        }
    })
}
