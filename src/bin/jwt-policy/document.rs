//! Reading a configuration in each shape it is written: the plugin's JSON, the same as YAML,
//! an Istio `WasmPlugin` or `TrafficExtension` (the configuration is its `pluginConfig`), or
//! an Envoy HTTP filter whose wasm `configuration` is a `StringValue`. What comes out is the
//! exact bytes the plugin would be handed.

use crate::{yaml11, Failure};
use jwt_policy::json;
use serde::de::DeserializeSeed;
use serde_json::Value;
use std::io::Read;
use std::path::Path;

const STRING_VALUE: &str = "type.googleapis.com/google.protobuf.StringValue";

/// A configuration document, and where in the file it was found.
pub struct PluginConfig {
    /// The bytes the plugin would receive.
    pub bytes: Vec<u8>,
    /// What held it: "plugin configuration", "WasmPlugin spec.pluginConfig", ...
    pub found_in: String,
    /// What the plugin would accept but is likely not what was meant.
    pub warnings: Vec<String>,
}

/// The text of a file, or of stdin for `-`.
pub fn read_text(path: &Path) -> Result<String, String> {
    String::from_utf8(read_bytes(path)?)
        .map_err(|e| format!("{}: not UTF-8 text: {e}", path.display()))
}

/// A configuration's text: a file that cannot be read is a usage error (exit 2), but one
/// that is not UTF-8 is read and refused (exit 1), as the plugin refuses it.
pub fn read_config_text(path: &Path) -> Result<String, Failure> {
    String::from_utf8(read_bytes(path)?).map_err(|e| {
        Failure::refused(format!(
            "{}: not UTF-8 text, so not JSON or YAML: {e}",
            path.display()
        ))
    })
}

fn read_bytes(path: &Path) -> Result<Vec<u8>, String> {
    if path == Path::new("-") {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|e| format!("stdin: {e}"))?;
        return Ok(bytes);
    }
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// The plugin configuration in a file's text. JSON is passed on byte for byte (so the
/// plugin's own parser sees duplicate members and the like); YAML is turned into JSON, as
/// istiod turns `pluginConfig` into JSON.
pub fn plugin_config(text: &str) -> Result<PluginConfig, String> {
    if serde_json::from_str::<Value>(text).is_ok_and(|value| !is_wrapper(&value)) {
        return Ok(PluginConfig {
            bytes: text.as_bytes().to_vec(),
            found_in: "plugin configuration".into(),
            warnings: Vec::new(),
        });
    }
    let documents = yaml_documents(text)?;
    let [document] = documents.as_slice() else {
        return Err(format!(
            "expected one YAML document, found {}",
            documents.len()
        ));
    };
    let mut config = unwrap(document)?;
    let bare = yaml11::misread_scalars(text, &[]);
    if !bare.is_empty() {
        let why = format!(
            "bare scalars kubectl reads as YAML 1.1 does, as booleans or numbers, not strings (quote them): {}",
            bare.join(", ")
        );
        // A manifest goes through kubectl; a plain YAML file may not.
        if document.get("kind").is_some() {
            return Err(why);
        }
        config.warnings.push(why);
    }
    Ok(config)
}

/// Every document of a YAML (or JSON) text, as JSON values; empty documents are left out.
/// A key given twice in one mapping is refused, as the plugin refuses it in JSON.
pub fn yaml_documents(text: &str) -> Result<Vec<Value>, String> {
    let mut documents = Vec::new();
    for document in serde_yaml_ng::Deserializer::from_str(text) {
        // No depth limit here: the plugin's own parser applies its limit to what this gives.
        let value = json::StrictValue::within(usize::MAX)
            .deserialize(document)
            .map_err(|e| format!("not valid YAML: {e}"))?;
        if !value.is_null() {
            documents.push(value);
        }
    }
    Ok(documents)
}

/// istiod sends an empty `pluginConfig` Struct as no configuration at all, which the plugin
/// refuses ("the configuration is empty"), so `{}` there is not the empty policy it is in JSON.
fn refuse_empty(config: &Value, member: &str) -> Result<(), String> {
    if config.as_object().is_some_and(serde_json::Map::is_empty) {
        return Err(format!(
            "{member} is empty: Istio then sends the plugin no configuration, which it refuses"
        ));
    }
    Ok(())
}

/// A document that holds a plugin configuration rather than being one.
fn is_wrapper(value: &Value) -> bool {
    value.get("kind").is_some()
        || value.get("typed_config").is_some()
        || value.get("@type").is_some()
}

fn unwrap(document: &Value) -> Result<PluginConfig, String> {
    let found = |value: &Value, found_in: &str| -> Result<PluginConfig, String> {
        Ok(PluginConfig {
            bytes: serde_json::to_vec(value).map_err(|e| e.to_string())?,
            found_in: found_in.into(),
            warnings: Vec::new(),
        })
    };
    match document.get("kind").and_then(Value::as_str) {
        Some("WasmPlugin") => {
            let config = document
                .pointer("/spec/pluginConfig")
                .ok_or("the WasmPlugin has no spec.pluginConfig")?;
            refuse_empty(config, "spec.pluginConfig")?;
            return found(config, "WasmPlugin spec.pluginConfig");
        }
        Some("TrafficExtension") => {
            let config = document
                .pointer("/spec/wasm/pluginConfig")
                .ok_or("the TrafficExtension has no spec.wasm.pluginConfig")?;
            refuse_empty(config, "spec.wasm.pluginConfig")?;
            return found(config, "TrafficExtension spec.wasm.pluginConfig");
        }
        Some(other) => {
            return Err(format!(
                "a {other} holds no plugin configuration (WasmPlugin and TrafficExtension do)"
            ))
        }
        None => {}
    }
    let wasm = document.get("typed_config").unwrap_or(document);
    if let Some(configuration) = wasm.pointer("/config/configuration") {
        if configuration.get("@type").and_then(Value::as_str) != Some(STRING_VALUE) {
            return Err(format!(
                "config.configuration must be a {STRING_VALUE}, as the plugin reads it"
            ));
        }
        let text = configuration
            .get("value")
            .and_then(Value::as_str)
            .ok_or("config.configuration.value must be a string")?;
        return Ok(PluginConfig {
            bytes: text.as_bytes().to_vec(),
            found_in: "the wasm filter's config.configuration.value".into(),
            warnings: Vec::new(),
        });
    }
    if document.get("typed_config").is_some() || document.get("@type").is_some() {
        return Err("an Envoy filter without config.configuration".into());
    }
    found(document, "plugin configuration")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> String {
        String::from_utf8(plugin_config(text).unwrap().bytes).unwrap()
    }

    #[test]
    fn json_is_passed_on_byte_for_byte() {
        let text = r#"{"providers": {"p": {}, "p": {}}}"#;
        assert_eq!(config(text), text);
    }

    #[test]
    fn yaml_becomes_json() {
        assert_eq!(
            config("generation: 3\nrules: []\n"),
            r#"{"generation":3,"rules":[]}"#
        );
    }

    #[test]
    fn manifests_and_filters_are_unwrapped() {
        let manifest = "apiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\n\
                        spec:\n  url: oci://x\n  pluginConfig:\n    generation: 1\n";
        assert_eq!(config(manifest), r#"{"generation":1}"#);
        let extension = "kind: TrafficExtension\nspec:\n  wasm:\n    pluginConfig: {rules: []}\n";
        assert_eq!(config(extension), r#"{"rules":[]}"#);
        let filter = r#"{"name": "jwt_policy", "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {"configuration": {"@type": "type.googleapis.com/google.protobuf.StringValue", "value": "{\"rules\": []}"}}}}"#;
        assert_eq!(config(filter), r#"{"rules": []}"#);
    }

    #[test]
    fn a_bare_y_refuses_a_manifest_and_warns_in_plain_yaml() {
        let manifest = "kind: WasmPlugin\nspec:\n  pluginConfig:\n    jwks: {keys: [{y: a}]}\n";
        let error = plugin_config(manifest).err().unwrap();
        assert!(
            error.contains("as booleans or numbers, not strings (quote them): line 4: y"),
            "{error}"
        );
        let plain =
            plugin_config("providers:\n  p:\n    jwks:\n      keys:\n      - y: a\n").unwrap();
        assert_eq!(plain.warnings.len(), 1);
    }

    #[test]
    fn a_yaml_key_given_twice_is_refused_with_its_path() {
        let error = plugin_config("generation: 1\ngeneration: 2\n")
            .err()
            .unwrap();
        assert!(
            error.contains("the key \"generation\" is given twice"),
            "{error}"
        );
        let manifest = "kind: WasmPlugin\nspec:\n  pluginConfig:\n    rules:\n    - requires: {}\n      requires: {}\n";
        let error = plugin_config(manifest).err().unwrap();
        assert!(
            error.contains("spec.pluginConfig.rules[0]: the key \"requires\" is given twice"),
            "{error}"
        );
    }

    #[test]
    fn what_holds_no_configuration_is_named() {
        let error = plugin_config("kind: WasmPlugin\nspec: {url: x}\n")
            .err()
            .unwrap();
        assert!(error.contains("spec.pluginConfig"), "{error}");
        let error = plugin_config("kind: WasmPlugin\nspec: {pluginConfig: {}}\n")
            .err()
            .unwrap();
        assert!(error.contains("spec.pluginConfig is empty"), "{error}");
        let error = plugin_config("kind: TrafficExtension\nspec: {wasm: {pluginConfig: {}}}\n")
            .err()
            .unwrap();
        assert!(error.contains("spec.wasm.pluginConfig is empty"), "{error}");
        let error = plugin_config("kind: Service\n").err().unwrap();
        assert!(
            error.contains("a Service holds no plugin configuration"),
            "{error}"
        );
        let error = plugin_config("a: 1\n---\nb: 2\n").err().unwrap();
        assert!(error.contains("found 2"), "{error}");
    }
}
