//! `jwt-policy keygen`, `jwks` and `mint` as a user runs them: exit codes, stderr, and tokens
//! the plugin's own verifier accepts.

mod common;

use common::{jwt_policy, temp_dir};
use jwt_policy::alg::Algorithm;
use jwt_policy::jwks::KeySet;
use jwt_policy::jws::Jws;
use serde_json::Value;

#[test]
fn every_algorithm_makes_a_key_whose_tokens_verify() {
    let dir = temp_dir("keys");
    for alg in Algorithm::ALL {
        let key = dir.join(format!("{}.json", alg.name()));
        let made = jwt_policy(&["keygen", "--alg", alg.name(), "--kid", "k1"]);
        assert_eq!(made.code, 0, "{}: {}", alg.name(), made.stderr);
        std::fs::write(&key, &made.stdout).unwrap();
        let key = key.to_str().unwrap();
        let set: Value = serde_json::from_str(&jwt_policy(&["jwks", key]).stdout).unwrap();
        let token = jwt_policy(&["mint", "--key", key, "--claims", r#"{"sub":"a"}"#]).stdout;
        let jws = Jws::parse(token.trim()).unwrap();
        assert_eq!(jws.header.kid.as_deref(), Some("k1"));
        let keys = KeySet::parse(&set).unwrap().keys;
        assert_eq!(keys.verify(&jws, None), Ok(()), "{}", alg.name());
    }
}

#[test]
fn mint_count_makes_distinct_tokens() {
    let dir = temp_dir("count");
    let key = dir.join("k.json");
    std::fs::write(&key, jwt_policy(&["keygen", "--alg", "HS256"]).stdout).unwrap();
    let out = jwt_policy(&[
        "mint",
        "--key",
        key.to_str().unwrap(),
        "--count",
        "3",
        "--no-kid",
    ]);
    let tokens: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(tokens.len(), 3);
    assert_ne!(tokens[0], tokens[1]);
    assert!(Jws::parse(tokens[2]).unwrap().header.kid.is_none());
}

#[test]
fn usage_errors_exit_2_and_name_the_option() {
    let bad_alg = jwt_policy(&["keygen", "--alg", "none"]);
    assert_eq!(bad_alg.code, 2);
    assert!(
        bad_alg.stderr.contains("invalid value 'none' for '--alg"),
        "{}",
        bad_alg.stderr
    );
    let missing = jwt_policy(&["mint"]);
    assert_eq!(missing.code, 2);
    assert!(missing.stderr.contains("--key"), "{}", missing.stderr);
    let unreadable = jwt_policy(&["jwks", "/nonexistent/key.json"]);
    assert_eq!(unreadable.code, 2);
    assert!(
        unreadable.stderr.contains("/nonexistent/key.json"),
        "{}",
        unreadable.stderr
    );
}

#[test]
fn help_lists_every_command_and_all_13_algorithms() {
    let help = jwt_policy(&["--help"]);
    assert_eq!(help.code, 0);
    for command in ["keygen", "jwks", "mint"] {
        assert!(help.stdout.contains(command), "{command}");
    }
    let keygen = jwt_policy(&["keygen", "--help"]);
    for alg in Algorithm::ALL {
        assert!(keygen.stdout.contains(alg.name()), "{}", alg.name());
    }
}
