//! `jwt-policy convert`: Istio RequestAuthentication and AuthorizationPolicy become a
//! configuration that behaves as Istio does (checked with `explain`), and what has no
//! equivalent is named, failing the conversion unless --lenient.

mod common;

use common::{jwt_policy, temp_dir};
use serde_json::{json, Value};
use std::path::Path;

const NOW: u64 = 1_800_000_000;

fn istio(dir: &Path, jwks: &str, extra_rule: &str) -> String {
    let text = format!(
        r#"apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {{name: idp}}
spec:
  selector: {{matchLabels: {{app: orders}}}}
  jwtRules:
  - issuer: https://idp.example.com
    audiences: [orders-api]
    jwks: '{jwks}'
    outputClaimToHeaders: [{{header: x-user, claim: sub}}]
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {{name: partner}}
spec:
  jwtRules:
  - issuer: https://partner.example
    jwksUri: https://partner.example:8443/keys
    fromHeaders: [{{name: x-partner, prefix: "Token "}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {{name: require-jwt}}
spec:
  rules:
  - from: [{{source: {{requestPrincipals: ["https://idp.example.com/alice", "https://idp.example.com/bob"]}}}}]
    to: [{{operation: {{paths: ["/orders*"], methods: [POST]}}}}]
    when:
    - {{key: "request.auth.claims[realm_access][roles]", values: [admin, ops]}}
{extra_rule}"#
    );
    let path = dir.join("istio.yaml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

fn setup(name: &str, extra_rule: &str) -> (std::path::PathBuf, String, String) {
    let dir = temp_dir(name);
    let key = dir.join("key.json");
    std::fs::write(&key, jwt_policy(&["keygen", "--alg", "ES256"]).stdout).unwrap();
    let key = key.to_str().unwrap().to_string();
    let jwks = jwt_policy(&["jwks", &key]).stdout.trim().to_string();
    let file = istio(&dir, &jwks, extra_rule);
    (dir, key, file)
}

#[test]
fn the_conversion_behaves_as_istio() {
    let (dir, key, file) = setup("convert", "");
    let run = jwt_policy(&["convert", &file]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let config: Value = serde_json::from_str(&run.stdout).unwrap();
    let partner = &config["providers"]["partner"];
    assert_eq!(
        partner["remote_jwks"]["http_uri"]["cluster"],
        "outbound|8443||partner.example"
    );
    assert_eq!(
        partner["from_headers"][0],
        json!({"name": "x-partner", "value_prefix": "Token "})
    );
    assert_eq!(
        config["providers"]["idp"]["claim_to_headers"][0]["header_name"],
        "x-user"
    );
    assert!(
        run.stderr.contains("spec.selector picks workloads"),
        "{}",
        run.stderr
    );
    let path = dir.join("config.json");
    std::fs::write(&path, &run.stdout).unwrap();
    let path = path.to_str().unwrap();

    let token = |claims: Value| {
        let mut all =
            json!({"iss": "https://idp.example.com", "aud": "orders-api", "exp": NOW + 600});
        all.as_object_mut()
            .unwrap()
            .extend(claims.as_object().unwrap().clone());
        jwt_policy(&["mint", "--key", &key, "--claims", &all.to_string()])
            .stdout
            .trim()
            .to_string()
    };
    let now = NOW.to_string();
    let status = |token: Option<&str>, method: &str, path_: &str| {
        let mut args = vec![
            "explain", path, "--json", "--now", &now, "--method", method, "--path", path_,
        ];
        if let Some(token) = token {
            args.push(token);
        }
        let e: Value = serde_json::from_str(&jwt_policy(&args).stdout).unwrap();
        e["verdict"]["status"].as_u64().unwrap_or(200)
    };
    let admin = token(json!({"sub": "alice", "realm_access": {"roles": ["ops"]}}));
    let carol = token(json!({"sub": "carol", "realm_access": {"roles": ["ops"]}}));
    let no_role = token(json!({"sub": "bob", "realm_access": {"roles": ["dev"]}}));
    assert_eq!(status(Some(&admin), "POST", "/orders/1"), 200);
    assert_eq!(
        status(Some(&carol), "POST", "/orders/1"),
        403,
        "sub not in requestPrincipals"
    );
    assert_eq!(
        status(Some(&no_role), "POST", "/orders/1"),
        403,
        "when condition"
    );
    assert_eq!(
        status(None, "POST", "/orders/1"),
        401,
        "requestPrincipals require a token"
    );
    // RequestAuthentication alone: no token passes, a bad one does not.
    assert_eq!(status(None, "GET", "/orders/1"), 200);
    assert_eq!(status(Some("not.a.token"), "GET", "/elsewhere"), 401);
}

#[test]
fn what_cannot_be_translated_is_named_and_fails_unless_lenient() {
    let extra = "  - to: [{operation: {paths: [/admin], hosts: [admin.example]}}]\n    from: [{source: {namespaces: [ops]}}]\n";
    let (dir, key, file) = setup("convert-untranslatable", extra);
    let strict = jwt_policy(&["convert", &file]);
    assert_eq!(strict.code, 1);
    assert!(strict.stdout.is_empty());
    for field in [
        "spec.rules[1].to[0].operation.hosts",
        "spec.rules[1].from[0].source.namespaces",
    ] {
        assert!(strict.stderr.contains(field), "{field}: {}", strict.stderr);
    }
    let lenient = jwt_policy(&["convert", "--lenient", &file]);
    assert_eq!(lenient.code, 0, "{}", lenient.stderr);
    assert!(
        lenient.stderr.contains("operation.hosts"),
        "{}",
        lenient.stderr
    );
    let config: Value = serde_json::from_str(&lenient.stdout).unwrap();
    assert_eq!(config["rules"][0]["match"], json!({"path": "/admin"}));
    // Without its hosts the rule would let every host's /admin through: it denies instead.
    let path = dir.join("config.json");
    std::fs::write(&path, &lenient.stdout).unwrap();
    let claims = json!({"iss": "https://idp.example.com", "aud": "orders-api", "sub": "alice", "exp": NOW + 600});
    let token = jwt_policy(&["mint", "--key", &key, "--claims", &claims.to_string()]).stdout;
    assert_eq!(status(&path, &["--path", "/admin", token.trim()]), 403);
    assert_eq!(status(&path, &["--path", "/admin"]), 401);
    assert!(
        lenient
            .stderr
            .contains("spec.rules[1]: has what cannot be translated, so it denies"),
        "{}",
        lenient.stderr
    );
}

fn status(config: &Path, args: &[&str]) -> u64 {
    let now = NOW.to_string();
    let mut all = vec!["explain", config.to_str().unwrap(), "--json", "--now", &now];
    all.extend_from_slice(args);
    let e: Value = serde_json::from_str(&jwt_policy(&all).stdout).unwrap();
    e["verdict"]["status"].as_u64().unwrap_or(200)
}

fn convert_text(name: &str, text: &str, args: &[&str]) -> (common::Run, Option<Value>) {
    let dir = temp_dir(name);
    let file = dir.join("istio.yaml");
    std::fs::write(&file, text).unwrap();
    let mut all = vec!["convert"];
    all.extend_from_slice(args);
    all.push(file.to_str().unwrap());
    let run = jwt_policy(&all);
    let config = serde_json::from_str(&run.stdout).ok();
    (run, config)
}

const JWKS: &str =
    r#"{"keys":[{"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI","alg":"HS256"}]}"#;

fn authentication(name: &str, namespace: &str, issuer: &str) -> String {
    format!("kind: RequestAuthentication\nmetadata: {{name: {name}, namespace: {namespace}}}\nspec:\n  jwtRules:\n  - issuer: {issuer}\n    jwks: '{JWKS}'\n---\n")
}

#[test]
fn same_named_request_authentications_of_two_namespaces_both_stay() {
    let text = authentication("idp", "a", "https://a.example")
        + &authentication("idp", "b", "https://b.example")
        + "kind: AuthorizationPolicy\nmetadata: {name: p}\nspec:\n  rules:\n  - from: [{source: {requestPrincipals: [\"https://b.example/*\"]}}]\n";
    let (run, config) = convert_text("convert-clash", &text, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let config = config.unwrap();
    assert_eq!(config["providers"]["a.idp"]["issuer"], "https://a.example");
    assert_eq!(config["providers"]["b.idp"]["issuer"], "https://b.example");
    assert_eq!(
        config["rules"][0]["requires"],
        json!({"provider_name": "b.idp"})
    );

    let same = authentication("idp", "a", "https://a.example")
        + &authentication("idp", "a", "https://b.example");
    let (run, _) = convert_text("convert-clash-same", &same, &["--lenient"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("make the provider \"a.idp\""),
        "{}",
        run.stderr
    );
}

#[test]
fn subjects_and_plain_claims_are_compared_whole_and_scope_split() {
    let (dir, key, file) = setup("convert-exact", "");
    let run = jwt_policy(&["convert", &file]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let path = dir.join("config.json");
    std::fs::write(&path, &run.stdout).unwrap();
    let token = |sub: &str| {
        let claims = json!({"iss": "https://idp.example.com", "aud": "orders-api", "sub": sub,
                            "realm_access": {"roles": ["ops"]}, "exp": NOW + 600});
        jwt_policy(&["mint", "--key", &key, "--claims", &claims.to_string()])
            .stdout
            .trim()
            .to_string()
    };
    let post = |token: &str| status(&path, &["--method", "POST", "--path", "/orders/1", token]);
    assert_eq!(post(&token("alice")), 200);
    assert_eq!(
        post(&token("mallory alice")),
        403,
        "Istio compares sub whole"
    );

    let text = authentication("idp", "a", "https://a.example")
        + "kind: AuthorizationPolicy\nmetadata: {name: p}\nspec:\n  rules:\n  - when:\n    - {key: \"request.auth.claims[group]\", values: [admins]}\n    - {key: \"request.auth.claims[scope]\", values: [read]}\n";
    let (run, config) = convert_text("convert-when", &text, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        config.unwrap()["rules"][0]["claims"],
        json!([{"name": "group", "equals_any": ["admins"]}, {"name": "scope", "contains_any": ["read"]}])
    );
}

#[test]
fn a_wildcard_subject_lets_every_subject_of_its_issuer_through() {
    let text = authentication("idp", "a", "https://a.example")
        + "kind: AuthorizationPolicy\nmetadata: {name: p}\nspec:\n  rules:\n  - from: [{source: {requestPrincipals: [\"https://a.example/alice\", \"https://a.example/*\"]}}]\n";
    let (run, config) = convert_text("convert-wildcard", &text, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let rule = &config.unwrap()["rules"][0];
    assert_eq!(rule["requires"], json!({"provider_name": "idp"}));
    assert!(rule.get("claims").is_none(), "{rule}");
}

#[test]
fn a_kubectl_list_is_unwrapped_and_yes_is_a_boolean() {
    let text = format!(
        "apiVersion: v1\nkind: List\nitems:\n- kind: RequestAuthentication\n  metadata: {{name: idp}}\n  spec:\n    jwtRules:\n    - issuer: https://a.example\n      jwks: '{JWKS}'\n      forwardOriginalToken: yes\n"
    );
    let (run, config) = convert_text("convert-list", &text, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(config.unwrap()["providers"]["idp"]["forward"], true);
}

#[test]
fn a_principal_of_an_unknown_issuer_is_named() {
    let extra = "  - from: [{source: {requestPrincipals: [\"https://nobody.example/*\"]}}]\n";
    let (_, _, file) = setup("convert-issuer", extra);
    let run = jwt_policy(&["convert", &file]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("requestPrincipals[0]: no jwtRule has the issuer \"https://nobody.example\""),
        "{}",
        run.stderr
    );
}

#[test]
fn a_public_path_beats_a_rule_for_every_path_as_istio_ors_its_rules() {
    let extra = "  - to: [{operation: {paths: [/health]}}]\n  - from: [{source: {requestPrincipals: [\"*\"]}}]\n";
    let (_, _, file) = setup("convert-order", extra);
    let strict = jwt_policy(&["convert", &file]);
    assert_eq!(
        strict.code, 1,
        "/orders* (alice, bob) overlaps * (any principal)"
    );
    assert!(
        strict
            .stderr
            .contains("spec.rules[0] and document 3 (AuthorizationPolicy require-jwt): spec.rules[2]: cannot be translated exactly"),
        "{}",
        strict.stderr
    );
    assert!(
        !strict.stderr.contains("spec.rules[1] and"),
        "{}",
        strict.stderr
    );
    let run = jwt_policy(&["convert", "--lenient", &file]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let config: Value = serde_json::from_str(&run.stdout).unwrap();
    let matches: Vec<&Value> = config["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["match"])
        .collect();
    assert_eq!(matches[0], &json!({"path": "/health"}));
    assert_eq!(matches[1]["prefix"], "/orders");
    assert_eq!(matches[2], &json!({"prefix": "/"}));
    assert_eq!(
        config["rules"][2]["requires"]["requires_any"]["requirements"][0],
        json!({"provider_name": "idp"})
    );
}

#[test]
fn claims_in_space_delimited_claims_are_split() {
    let text = format!(
        "kind: RequestAuthentication\nmetadata: {{name: idp}}\nspec:\n  jwtRules:\n  - issuer: https://a.example\n    jwks: '{JWKS}'\n    spaceDelimitedClaims: [groups]\n---\nkind: AuthorizationPolicy\nmetadata: {{name: p}}\nspec:\n  rules:\n  - when:\n    - {{key: \"request.auth.claims[groups]\", values: [admins]}}\n"
    );
    let (run, config) = convert_text("convert-space-delimited", &text, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        config.unwrap()["rules"][0]["claims"],
        json!([{"name": "groups", "contains_any": ["admins"]}])
    );
}
