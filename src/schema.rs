//! A JSON Schema (draft-07) of the configuration `config` reads, for editors and CI checks
//! of manifests, published as `envoy/jwt-policy.schema.json` and printed by
//! `jwt-policy schema`. It is written by hand beside the types, and the tests keep the two
//! from drifting: the member names of every object are exactly the ones the parser takes
//! (read from the parser's own "expected one of" list), and the committed file is this one.
//!
//! Envoy fields the plugin recognises only to refuse are `false`: named, never valid.
//! What the schema cannot express (a key set's keys being usable, a regex compiling) is left
//! to `jwt-policy validate`.

use serde_json::{json, Value};

/// Where the schema is published in the repository.
pub const PUBLISHED_PATH: &str = "envoy/jwt-policy.schema.json";

pub fn schema() -> Value {
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": "urn:jwt-policy:configuration",
        "title": "jwt-policy plugin configuration",
        "description": "Envoy's jwt_authn JwtAuthentication in its JSON form (snake_case), plus jwt-policy's additions. WasmPlugin spec.pluginConfig, or the wasm filter's configuration StringValue.",
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "providers": {
                "description": "Who issues tokens and how to check them, by name.",
                "type": "object",
                "propertyNames": {"minLength": 1},
                "additionalProperties": {"$ref": "#/definitions/provider"}
            },
            "rules": {
                "description": "Tried in order; the first whose match fits decides. No match: no token needed.",
                "type": "array",
                "items": {"$ref": "#/definitions/rule"}
            },
            "requirement_map": {
                "description": "Named requirements, for rules[].requirement_name.",
                "type": "object",
                "additionalProperties": {"$ref": "#/definitions/requirement"}
            },
            "bypass_cors_preflight": {"type": "boolean"},
            "strip_failure_response": {"description": "Refusals carry only the status code.", "type": "boolean"},
            "use_host_signatures": {"description": "Ours: let Envoy check RS* and ES* signatures (default true).", "type": "boolean"},
            "generation": {"description": "Ours: reported as the gauge jwt_policy_generation.", "$ref": "#/definitions/uint32"},
            "filter_state_rules": false,
            "stat_prefix": false
        },
        "definitions": {
            "uint32": {"type": "integer", "minimum": 0, "maximum": 4_294_967_295_u64},
            "duration": {
                "description": "A protobuf Duration: decimal seconds with an s suffix (\"300s\", \"1.5s\").",
                "type": "string",
                "pattern": "^[0-9]+(\\.[0-9]{0,9})?s$"
            },
            "strings": {"type": "array", "items": {"type": "string"}},
            "provider": {
                "type": "object",
                "additionalProperties": false,
                "oneOf": [
                    {"required": ["local_jwks"]},
                    {"required": ["jwks"]},
                    {"required": ["remote_jwks"]}
                ],
                "properties": {
                    "issuer": {"description": "iss must equal it; absent: any iss, or none.", "type": "string"},
                    "audiences": {"description": "One of the token's aud must match.", "$ref": "#/definitions/strings"},
                    "subjects": {"description": "sub must match.", "$ref": "#/definitions/string_matcher"},
                    "require_expiration": {"type": "boolean"},
                    "max_lifetime": {"$ref": "#/definitions/duration"},
                    "local_jwks": {"$ref": "#/definitions/data_source"},
                    "jwks": {
                        "description": "Ours: the key set as a JSON object (plain YAML under Istio).",
                        "type": "object",
                        "required": ["keys"],
                        "properties": {"keys": {"type": "array", "items": {"type": "object"}}}
                    },
                    "remote_jwks": {"$ref": "#/definitions/remote_jwks"},
                    "forward": {"description": "Keep the token in the request after it verified.", "type": "boolean"},
                    "from_headers": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "additionalProperties": false,
                            "required": ["name"],
                            "properties": {"name": {"type": "string"}, "value_prefix": {"type": "string"}}
                        }
                    },
                    "from_params": {"$ref": "#/definitions/strings"},
                    "from_cookies": {"$ref": "#/definitions/strings"},
                    "forward_payload_header": {"type": "string"},
                    "pad_forward_payload_header": {"type": "boolean"},
                    "claim_to_headers": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "additionalProperties": false,
                            "required": ["header_name", "claim_name"],
                            "properties": {"header_name": {"type": "string"}, "claim_name": {"type": "string", "minLength": 1}}
                        }
                    },
                    "clock_skew_seconds": {"description": "Leeway on exp and nbf; 0 or absent means 60.", "$ref": "#/definitions/uint32"},
                    "clear_route_cache": {"type": "boolean"},
                    "payload_in_metadata": false,
                    "header_in_metadata": false,
                    "failed_status_in_metadata": false,
                    "normalize_payload_in_metadata": false,
                    "jwt_cache_config": {
                        "description": "The verified-token cache, on by default; jwt_cache_size 0 turns it off.",
                        "type": "object",
                        "additionalProperties": false,
                        "properties": {
                            "jwt_cache_size": {"$ref": "#/definitions/uint32"},
                            "jwt_max_token_size": {"$ref": "#/definitions/uint32"}
                        }
                    }
                }
            },
            "data_source": {
                "type": "object",
                "additionalProperties": false,
                "oneOf": [{"required": ["inline_string"]}, {"required": ["inline_bytes"]}],
                "properties": {
                    "inline_string": {"description": "The key set as a JSON string.", "type": "string"},
                    "inline_bytes": {"description": "The key set as standard base64.", "type": "string"},
                    "filename": false,
                    "environment_variable": false
                }
            },
            "remote_jwks": {
                "type": "object",
                "additionalProperties": false,
                "required": ["http_uri"],
                "properties": {
                    "http_uri": {
                        "type": "object",
                        "additionalProperties": false,
                        "required": ["uri", "cluster"],
                        "properties": {
                            "uri": {"type": "string", "pattern": "^https?://[^/]"},
                            "cluster": {"type": "string", "minLength": 1},
                            "timeout": {"$ref": "#/definitions/duration"}
                        }
                    },
                    "cache_duration": {"$ref": "#/definitions/duration"},
                    "async_fetch": {
                        "type": "object",
                        "additionalProperties": false,
                        "properties": {
                            "fast_listener": {"type": "boolean"},
                            "failed_refetch_duration": {"$ref": "#/definitions/duration"}
                        }
                    },
                    "retry_policy": false,
                    "unknown_kid_refetch_interval": {"description": "Ours.", "$ref": "#/definitions/duration"}
                }
            },
            "rule": {
                "type": "object",
                "additionalProperties": false,
                "required": ["match"],
                "not": {"required": ["requires", "requirement_name"]},
                "properties": {
                    "match": {"$ref": "#/definitions/route_match"},
                    "requires": {"$ref": "#/definitions/requirement"},
                    "requirement_name": {"type": "string"},
                    "claims": {
                        "description": "Ours: conditions on the verified token's claims; a failed one answers 403.",
                        "type": "array",
                        "items": {"$ref": "#/definitions/claim_condition"}
                    }
                }
            },
            "requirement": {
                "description": "At most one member; an empty object requires nothing.",
                "type": "object",
                "additionalProperties": false,
                "maxProperties": 1,
                "properties": {
                    "provider_name": {"type": "string"},
                    "provider_and_audiences": {
                        "type": "object",
                        "additionalProperties": false,
                        "required": ["provider_name"],
                        "properties": {
                            "provider_name": {"type": "string"},
                            "audiences": {"$ref": "#/definitions/strings"}
                        }
                    },
                    "requires_any": {"$ref": "#/definitions/requirement_list"},
                    "requires_all": {"$ref": "#/definitions/requirement_list"},
                    "allow_missing_or_failed": {"$ref": "#/definitions/empty"},
                    "allow_missing": {"$ref": "#/definitions/empty"},
                    "extract_only_without_validation": false
                }
            },
            "requirement_list": {
                "type": "object",
                "additionalProperties": false,
                "required": ["requirements"],
                "properties": {
                    "requirements": {"type": "array", "minItems": 2, "items": {"$ref": "#/definitions/requirement"}}
                }
            },
            "empty": {"type": "object", "additionalProperties": false, "properties": {}},
            "route_match": {
                "type": "object",
                "additionalProperties": false,
                "oneOf": [
                    {"required": ["prefix"]},
                    {"required": ["path"]},
                    {"required": ["safe_regex"]},
                    {"required": ["path_separated_prefix"]}
                ],
                "properties": {
                    "prefix": {"type": "string"},
                    "path": {"type": "string"},
                    "safe_regex": {"$ref": "#/definitions/regex_matcher"},
                    "path_separated_prefix": {"type": "string"},
                    "case_sensitive": {"type": "boolean"},
                    "headers": {"type": "array", "items": {"$ref": "#/definitions/header_matcher"}},
                    "query_parameters": {"type": "array", "items": {"$ref": "#/definitions/query_parameter_matcher"}},
                    "connect_matcher": false,
                    "path_match_policy": false,
                    "runtime_fraction": false,
                    "grpc": false,
                    "tls_context": false,
                    "dynamic_metadata": false,
                    "filter_state": false
                }
            },
            "regex_matcher": {
                "type": "object",
                "additionalProperties": false,
                "required": ["regex"],
                "properties": {
                    "regex": {"description": "A full match, RE2 syntax.", "type": "string"},
                    "google_re2": {"description": "Accepted and ignored, as in Envoy."}
                }
            },
            "header_matcher": {
                "type": "object",
                "additionalProperties": false,
                "required": ["name"],
                "properties": {
                    "name": {"type": "string"},
                    "exact_match": {"type": "string"},
                    "prefix_match": {"type": "string"},
                    "suffix_match": {"type": "string"},
                    "contains_match": {"type": "string"},
                    "safe_regex_match": {"$ref": "#/definitions/regex_matcher"},
                    "present_match": {"type": "boolean"},
                    "string_match": {"$ref": "#/definitions/string_matcher"},
                    "range_match": false,
                    "invert_match": {"type": "boolean"},
                    "treat_missing_header_as_empty": {"type": "boolean"}
                }
            },
            "query_parameter_matcher": {
                "type": "object",
                "additionalProperties": false,
                "required": ["name"],
                "properties": {
                    "name": {"type": "string"},
                    "string_match": {"$ref": "#/definitions/string_matcher"},
                    "present_match": {"type": "boolean"}
                }
            },
            "string_matcher": {
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "exact": {"type": "string"},
                    "prefix": {"type": "string"},
                    "suffix": {"type": "string"},
                    "contains": {"type": "string"},
                    "safe_regex": {"$ref": "#/definitions/regex_matcher"},
                    "ignore_case": {"type": "boolean"},
                    "custom": false
                }
            },
            "claim_condition": {
                "description": "Ours: one test on a claim, found by name, else by dotted path.",
                "type": "object",
                "additionalProperties": false,
                "required": ["name"],
                "oneOf": [
                    {"required": ["equals"]},
                    {"required": ["contains"]},
                    {"required": ["contains_any"]},
                    {"required": ["contains_all"]},
                    {"required": ["equals_any"]},
                    {"required": ["present"]}
                ],
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "equals": {"description": "Any JSON value; numbers compare by value."},
                    "contains": {"type": "string"},
                    "contains_any": {"type": "array", "minItems": 1, "items": {"type": "string"}},
                    "contains_all": {"type": "array", "minItems": 1, "items": {"type": "string"}},
                    "equals_any": {"type": "array", "minItems": 1, "items": {"type": "string"}},
                    "present": {"type": "boolean"}
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;
    use std::collections::BTreeSet;

    /// One step from an object schema to a nested one, in an instance document.
    #[derive(Clone)]
    enum Step {
        Member(String),
        Entry,
        Item,
    }

    /// The document with `leaf` at `path`.
    fn document(path: &[Step], leaf: Value) -> Value {
        path.iter().rev().fold(leaf, |inner, step| match step {
            Step::Member(name) => json!({ name.as_str(): inner }),
            Step::Entry => json!({ "p": inner }),
            Step::Item => json!([inner]),
        })
    }

    fn resolve<'s>(root: &'s Value, node: &'s Value) -> (&'s Value, Option<&'s str>) {
        match node.get("$ref").and_then(Value::as_str) {
            Some(reference) => {
                let name = reference.trim_start_matches("#/definitions/");
                (&root["definitions"][name], Some(name))
            }
            None => (node, None),
        }
    }

    /// The member names the parser takes at `path`, from its refusal of an unknown one.
    fn parser_members(path: &[Step]) -> BTreeSet<String> {
        let probe = document(path, json!({"zz_unknown": 1}));
        let error = config::parse(probe.to_string().as_bytes()).unwrap_err();
        let message = error.message;
        assert!(
            message.starts_with("unknown field `zz_unknown`"),
            "{probe}: {message}"
        );
        message
            .split('`')
            .skip(3)
            .step_by(2)
            .map(str::to_string)
            .collect()
    }

    /// Compares every object schema reachable from `node` with the parser.
    fn compare(
        root: &Value,
        node: &Value,
        path: Vec<Step>,
        seen: &mut Vec<String>,
        count: &mut usize,
    ) {
        let (node, reference) = resolve(root, node);
        if let Some(name) = reference {
            if seen.iter().any(|s| s == name) {
                return;
            }
            seen.push(name.to_string());
        }
        if let Some(properties) = node.get("properties").and_then(Value::as_object) {
            if node.get("additionalProperties") == Some(&json!(false)) {
                let schema: BTreeSet<String> = properties.keys().cloned().collect();
                assert_eq!(
                    schema,
                    parser_members(&path),
                    "at {}",
                    document(&path, json!("HERE"))
                );
                *count += 1;
            }
            for (name, property) in properties {
                let mut next = path.clone();
                next.push(Step::Member(name.clone()));
                if let Some(sample) = sample(root, property) {
                    type_agrees(&next, sample);
                }
                compare(root, property, next, seen, count);
            }
        }
        if let Some(entries) = node.get("additionalProperties").filter(|v| v.is_object()) {
            let mut next = path.clone();
            next.push(Step::Entry);
            compare(root, entries, next, seen, count);
        }
        if let Some(items) = node.get("items") {
            let mut next = path;
            next.push(Step::Item);
            compare(root, items, next, seen, count);
        }
        if let Some(name) = reference {
            seen.retain(|s| s != name);
        }
    }

    /// A value of a leaf property's type, where the schema gives one.
    fn sample(root: &Value, property: &Value) -> Option<Value> {
        let (property, reference) = resolve(root, property);
        if reference == Some("duration") {
            return Some(json!("1.5s"));
        }
        match property.get("type").and_then(Value::as_str)? {
            "string" => Some(json!("x")),
            "boolean" => Some(json!(true)),
            "integer" => Some(json!(7)),
            "array" if property.pointer("/items/type") == Some(&json!("string")) => {
                Some(json!(["x"]))
            }
            _ => None,
        }
    }

    /// The parser takes `sample` where the schema puts it: whatever else it refuses in the
    /// probe (a missing member, say), it does not name this member.
    fn type_agrees(path: &[Step], sample: Value) {
        let probe = document(path, sample);
        let at = path.iter().fold(String::new(), |at, step| match step {
            Step::Member(name) if at.is_empty() => name.clone(),
            Step::Member(name) => format!("{at}.{name}"),
            Step::Entry => format!("{at}.p"),
            Step::Item => format!("{at}[0]"),
        });
        if let Err(error) = config::parse(probe.to_string().as_bytes()) {
            assert!(
                error.path != at,
                "{probe}: the schema's type is refused: {error}"
            );
        }
    }

    #[test]
    fn every_object_has_exactly_the_members_the_parser_takes() {
        let root = schema();
        let mut count = 0;
        compare(&root, &root, Vec::new(), &mut Vec::new(), &mut count);
        // Every closed object in the schema was compared, each definition once per path.
        assert!(count >= 20, "compared {count} objects");
    }

    #[test]
    fn the_published_file_is_this_schema() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/envoy/jwt-policy.schema.json");
        let published = std::fs::read_to_string(path).unwrap_or_default();
        let expected = format!("{}\n", serde_json::to_string_pretty(&schema()).unwrap());
        assert!(
            published == expected,
            "{PUBLISHED_PATH} is stale: run `jwt-policy schema > {PUBLISHED_PATH}`"
        );
    }
}
