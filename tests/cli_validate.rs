//! `jwt-policy validate`: every shape of configuration the repository ships is accepted, and
//! a refusal names each field at fault on stderr with exit code 1.

mod common;

use common::{jwt_policy, jwt_policy_with_stdin};

#[test]
fn the_istio_manifests_are_valid() {
    for manifest in [
        "envoy/istio/wasmplugin-single.yaml",
        "envoy/istio/wasmplugin-multi.yaml",
        "envoy/istio/trafficextension-single.yaml",
        "envoy/istio/trafficextension-multi.yaml",
    ] {
        let run = jwt_policy(&["validate", manifest]);
        assert_eq!(run.code, 0, "{manifest}: {}", run.stderr);
        assert!(run.stdout.contains("pluginConfig"), "{}", run.stdout);
    }
    let multi = jwt_policy(&["validate", "envoy/istio/wasmplugin-multi.yaml"]).stdout;
    assert!(multi.contains("generation: 7"), "{multi}");
    assert!(
        multi.contains("2 provider(s), 3 key(s), 4 rule(s)"),
        "{multi}"
    );
    assert!(multi.contains("provider partner: issuer https://id.partner.example.net"));
}

#[test]
fn every_compile_error_is_named_with_its_path() {
    let config = r#"{"providers": {"a": {"issuer": "x"}, "b": {"jwks": {"keys": []}}},
        "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "zz"}}]}"#;
    let run = jwt_policy_with_stdin(&["validate", "-"], config);
    assert_eq!(run.code, 1);
    assert!(run.stdout.is_empty());
    for expected in [
        "refused with 3 error(s)",
        "providers.a: a provider needs local_jwks, jwks or remote_jwks",
        "providers.b.jwks: the key set has no key",
        "rules[0].requires.provider_name: required provider [\"zz\"] is not configured",
    ] {
        assert!(run.stderr.contains(expected), "{expected}: {}", run.stderr);
    }
}

#[test]
fn a_parse_error_names_its_path_in_yaml_and_in_a_filter() {
    let yaml = "providers:\n  p:\n    isuer: https://idp\n";
    let run = jwt_policy_with_stdin(&["validate", "-"], yaml);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("providers.p.isuer: unknown field `isuer`"),
        "{}",
        run.stderr
    );

    let filter = r#"{"name": "jwt_policy", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
        "config": {"configuration": {"@type": "type.googleapis.com/google.protobuf.StringValue",
                                     "value": "{\"rules\": [{\"match\": {\"prefix\": 1}}]}"}}}}"#;
    let run = jwt_policy_with_stdin(&["validate", "-"], filter);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("config.configuration.value"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("rules[0].match.prefix"),
        "{}",
        run.stderr
    );
}

#[test]
fn an_unreadable_file_is_exit_2() {
    let run = jwt_policy(&["validate", "/nonexistent.yaml"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("/nonexistent.yaml"), "{}", run.stderr);
}

#[test]
fn a_file_that_is_not_utf8_is_refused() {
    let path = common::temp_dir("validate-not-utf8").join("config.json");
    std::fs::write(&path, b"{\"generation\": \"\xff\"}").unwrap();
    let run = jwt_policy(&["validate", path.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("not UTF-8"), "{}", run.stderr);
}
