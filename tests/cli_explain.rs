//! `jwt-policy explain`: the verdict and the account of it, as text and as JSON, with the
//! exit code saying whether the request gets through.

mod common;

use common::{jwt_policy, jwt_policy_with_stdin, temp_dir};
use serde_json::{json, Value};
use std::path::PathBuf;

const NOW: u64 = 1_800_000_000;

struct Setup {
    config: PathBuf,
    key: String,
}

fn setup(name: &str) -> Setup {
    let dir = temp_dir(name);
    let key = dir.join("key.json");
    std::fs::write(
        &key,
        jwt_policy(&["keygen", "--alg", "EdDSA", "--kid", "k1"]).stdout,
    )
    .unwrap();
    let key = key.to_str().unwrap().to_string();
    let jwks: Value = serde_json::from_str(&jwt_policy(&["jwks", &key]).stdout).unwrap();
    let config = json!({
        "providers": {"idp": {"issuer": "https://idp", "audiences": ["api"], "jwks": jwks,
                              "claim_to_headers": [{"header_name": "x-user", "claim_name": "sub"}]}},
        "rules": [
            {"match": {"prefix": "/public"}},
            {"match": {"prefix": "/"}, "requires": {"provider_name": "idp"},
             "claims": [{"name": "scope", "contains": "write"}]}
        ]
    });
    let path = dir.join("config.json");
    std::fs::write(&path, config.to_string()).unwrap();
    Setup { config: path, key }
}

fn token(setup: &Setup, claims: Value) -> String {
    let mut all = json!({"iss": "https://idp", "aud": "api", "sub": "alice", "exp": NOW + 600});
    all.as_object_mut()
        .unwrap()
        .extend(claims.as_object().unwrap().clone());
    let out = jwt_policy(&["mint", "--key", &setup.key, "--claims", &all.to_string()]);
    out.stdout.trim().to_string()
}

fn explain(setup: &Setup, extra: &[&str]) -> (i32, Value) {
    let now = NOW.to_string();
    let mut args = vec![
        "explain",
        setup.config.to_str().unwrap(),
        "--now",
        &now,
        "--json",
    ];
    args.extend_from_slice(extra);
    let run = jwt_policy(&args);
    assert!(run.code == 0 || run.code == 1, "{}", run.stderr);
    (run.code, serde_json::from_str(&run.stdout).unwrap())
}

#[test]
fn an_allowed_request_shows_the_forwarded_headers_and_exits_0() {
    let s = setup("explain-allow");
    let t = token(&s, json!({"scope": "read write"}));
    let (code, e) = explain(&s, &[&t, "--path", "/orders", "--header", "x-user: root"]);
    assert_eq!(code, 0);
    assert_eq!(e["verdict"]["decision"], "allow");
    assert_eq!(e["verdict"]["add_headers"], json!([["x-user", "alice"]]));
    let mut removed: Vec<String> =
        serde_json::from_value(e["verdict"]["remove_headers"].clone()).unwrap();
    removed.sort();
    assert_eq!(removed, ["authorization", "x-user"]);
    assert_eq!(e["rule"]["index"], 1);
    assert_eq!(e["tokens"][0]["payload"]["sub"], "alice");
    assert_eq!(
        e["tokens"][0]["attempts"][0]["keys"][0]["outcome"],
        "signature valid"
    );
}

#[test]
fn a_denied_request_shows_status_body_and_challenge_and_exits_1() {
    let s = setup("explain-deny");
    let expired = token(&s, json!({"exp": NOW - 3600, "scope": "write"}));
    let (code, e) = explain(
        &s,
        &[&expired, "--path", "/orders", "--authority", "api.example"],
    );
    assert_eq!(code, 1);
    assert_eq!(e["verdict"]["status"], 401);
    assert_eq!(e["verdict"]["body"], "Jwt is expired");
    assert_eq!(
        e["verdict"]["headers"]["www-authenticate"],
        "Bearer realm=\"http://api.example/orders\", error=\"invalid_token\""
    );
    let checks = &e["tokens"][0]["attempts"][0]["checks"];
    assert_eq!(
        checks[1],
        json!({"check": "time", "result": "Jwt is expired"})
    );

    let no_scope = token(&s, json!({"scope": "read"}));
    let (_, e) = explain(&s, &[&no_scope, "--path", "/orders"]);
    assert_eq!(e["verdict"]["status"], 403);
    assert_eq!(
        e["conditions"][0]["result"],
        "Jwt claim [scope] does not satisfy the rule"
    );
}

#[test]
fn the_token_may_come_from_stdin_or_a_header_and_text_is_the_default() {
    let s = setup("explain-stdin");
    let t = token(&s, json!({"scope": "write"}));
    let now = NOW.to_string();
    let config = s.config.to_str().unwrap();
    let run = jwt_policy_with_stdin(&["explain", config, "-", "--now", &now], &t);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("rule: rules[1] prefix /"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("key k1 (EdDSA): signature valid"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("verdict: allowed"), "{}", run.stdout);

    let header = format!("authorization: Bearer {t}");
    let run = jwt_policy(&["explain", config, "--header", &header, "--now", &now]);
    assert_eq!(run.code, 0, "{}", run.stderr);

    let public = jwt_policy(&["explain", config, "--path", "/public/x"]);
    assert_eq!(public.code, 0);
    assert!(
        public.stdout.contains("no token required"),
        "{}",
        public.stdout
    );

    let missing = jwt_policy(&["explain", config]);
    assert_eq!(missing.code, 1);
    assert!(
        missing.stdout.contains("verdict: denied 401 (missing)"),
        "{}",
        missing.stdout
    );
}

#[test]
fn an_absurd_time_path_or_header_is_exit_2() {
    let setup = setup("explain-bad-input");
    let config = setup.config.to_str().unwrap();
    for now in ["nan", "inf", "1e300", "-1"] {
        let run = jwt_policy(&["explain", config, "--now", now]);
        assert_eq!(run.code, 2, "--now {now}: {}", run.stderr);
    }
    for path in ["x", "", "/a\u{7f}"] {
        let run = jwt_policy(&["explain", config, "--path", path]);
        assert_eq!(run.code, 2, "--path {path:?}: {}", run.stderr);
    }
    let run = jwt_policy(&["explain", config, "--header", "x-a:b\u{1}c"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
}

#[test]
fn a_fractional_now_is_shown_as_given() {
    let setup = setup("explain-fractional-now");
    let t = token(&setup, json!({}));
    let now = format!("{}.5", NOW + 1000);
    let config = setup.config.to_str().unwrap();
    let run = jwt_policy(&["explain", config, &t, "--now", &now]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout.contains(&format!("now {now},")),
        "{}",
        run.stdout
    );
}

#[test]
fn a_remote_key_set_it_was_not_given_is_pointed_out() {
    let dir = temp_dir("explain-remote");
    let config = dir.join("remote.json");
    let document = json!({
        "providers": {"idp": {"issuer": "https://idp",
                              "remote_jwks": {"http_uri": {"uri": "https://idp/jwks", "cluster": "idp"}}}},
        "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "idp"}}]
    });
    std::fs::write(&config, document.to_string()).unwrap();
    let run = jwt_policy(&["explain", config.to_str().unwrap(), "a.b.c", "--path", "/x"]);
    assert!(
        run.stderr
            .contains("provider idp has remote_jwks, which explain does not fetch")
            && run.stderr.contains("--remote-jwks idp=JWKS_FILE"),
        "{}",
        run.stderr
    );
}
