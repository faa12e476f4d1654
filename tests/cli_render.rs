//! `jwt-policy render`: what it writes is accepted by `validate`, and a token from the keys
//! it was given passes `explain`; bad options are named.

mod common;

use common::{jwt_policy, temp_dir};
use serde_json::Value;

#[test]
fn a_rendered_config_validates_and_lets_its_tokens_through() {
    let dir = temp_dir("render");
    let key = dir.join("key.json");
    std::fs::write(
        &key,
        jwt_policy(&["keygen", "--alg", "PS256", "--kid", "ps"]).stdout,
    )
    .unwrap();
    let key = key.to_str().unwrap();
    let run = jwt_policy(&[
        "render",
        "--key",
        key,
        "--issuer",
        "https://idp",
        "--audience",
        "api",
        "--audience",
        "web",
        "--provider",
        "corp",
        "--from-header",
        "x-token",
        "--forward",
        "--claim-to-header",
        "sub:x-user",
        "--public",
        "/health",
        "--generation",
        "9",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let config: Value = serde_json::from_str(&run.stdout).unwrap();
    let provider = &config["providers"]["corp"];
    assert_eq!(provider["audiences"], serde_json::json!(["api", "web"]));
    assert_eq!(provider["from_headers"][0]["name"], "x-token");
    assert!(
        provider["jwks"]["keys"][0].get("d").is_none(),
        "no private member"
    );
    assert_eq!(config["generation"], 9);
    assert_eq!(
        config["rules"][0]["match"],
        serde_json::json!({"path_separated_prefix": "/health"})
    );

    let path = dir.join("config.json");
    std::fs::write(&path, &run.stdout).unwrap();
    let path = path.to_str().unwrap();
    let valid = jwt_policy(&["validate", path]);
    assert_eq!(valid.code, 0, "{}", valid.stderr);
    assert!(valid.stdout.contains("generation: 9"));

    let token = jwt_policy(&[
        "mint",
        "--key",
        key,
        "--claims",
        r#"{"iss":"https://idp","aud":"web","sub":"a"}"#,
    ]);
    let header = format!("x-token:{}", token.stdout.trim());
    for (open, path_asked) in [(true, "/health/live"), (false, "/healthz")] {
        let anonymous = jwt_policy(&["explain", path, "--path", path_asked]);
        assert_eq!(
            anonymous.code == 0,
            open,
            "{path_asked}: {}",
            anonymous.stdout
        );
    }
    let explained = jwt_policy(&["explain", path, "--header", &header, "--path", "/x"]);
    assert_eq!(explained.code, 0, "{}", explained.stdout);
    assert!(
        explained.stdout.contains("add header: x-user: a"),
        "{}",
        explained.stdout
    );
}

#[test]
fn a_pem_public_key_becomes_a_jwk_named_after_its_file() {
    let dir = temp_dir("render-pem");
    // An Ed25519 SubjectPublicKeyInfo (RFC 8410 §10.1's example key).
    let pem = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n";
    let file = dir.join("signer-2026.pem");
    std::fs::write(&file, pem).unwrap();
    let run = jwt_policy(&["render", "--pem", file.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let config: Value = serde_json::from_str(&run.stdout).unwrap();
    let jwk = &config["providers"]["idp"]["jwks"]["keys"][0];
    assert_eq!(jwk["kty"], "OKP");
    assert_eq!(jwk["kid"], "signer-2026");
    assert_eq!(jwk["x"], "Gb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE");

    std::fs::write(
        &file,
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
    )
    .unwrap();
    let bad = jwt_policy(&["render", "--pem", file.to_str().unwrap()]);
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.contains("signer-2026.pem: not a PEM public key"),
        "{}",
        bad.stderr
    );

    // RFC 8410 §10.3's example private key.
    std::fs::write(
        &file,
        "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let private = jwt_policy(&["render", "--pem", file.to_str().unwrap()]);
    assert_eq!(private.code, 2);
    assert!(
        private
            .stderr
            .contains("a private key: give the public key"),
        "{}",
        private.stderr
    );
}

#[test]
fn missing_keys_and_malformed_options_are_named() {
    let none = jwt_policy(&["render", "--issuer", "x"]);
    assert_eq!(none.code, 2);
    assert!(none.stderr.contains("no keys"), "{}", none.stderr);
    let bad = jwt_policy(&["render", "--claim-to-header", "sub"]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("is not CLAIM:HEADER"), "{}", bad.stderr);
}

#[test]
fn a_public_path_is_a_whole_path() {
    for bad in ["health", "/", "/a?b"] {
        let run = jwt_policy(&["render", "--public", bad]);
        assert_eq!(run.code, 2, "{bad}: {}", run.stderr);
    }
}

#[test]
fn an_open_issuer_or_audience_is_warned_of() {
    let dir = temp_dir("render-open");
    let key = dir.join("key.json");
    std::fs::write(&key, jwt_policy(&["keygen", "--alg", "ES256"]).stdout).unwrap();
    let key = key.to_str().unwrap();
    let open = jwt_policy(&["render", "--key", key]);
    assert_eq!(open.code, 0, "{}", open.stderr);
    assert!(open.stderr.contains("no --issuer"), "{}", open.stderr);
    assert!(open.stderr.contains("no --audience"), "{}", open.stderr);
    let closed = jwt_policy(&["render", "--key", key, "--issuer", "i", "--audience", "a"]);
    assert_eq!(closed.code, 0, "{}", closed.stderr);
    assert!(!closed.stderr.contains("no --"), "{}", closed.stderr);
}

#[test]
fn two_keys_with_one_kid_are_refused() {
    let dir = temp_dir("render-kids");
    let mut files = Vec::new();
    for name in ["a.json", "b.json"] {
        let path = dir.join(name);
        std::fs::write(
            &path,
            jwt_policy(&["keygen", "--alg", "ES256", "--kid", "same"]).stdout,
        )
        .unwrap();
        files.push(path.to_str().unwrap().to_string());
    }
    let run = jwt_policy(&["render", "--key", &files[0], "--key", &files[1]]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("two keys have the kid \"same\""),
        "{}",
        run.stderr
    );
}
