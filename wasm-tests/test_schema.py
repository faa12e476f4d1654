"""The published JSON Schema of the configuration (envoy/jwt-policy.schema.json) is the one
the tool prints, is a valid draft-07 schema, and agrees with `jwt-policy validate` on every
example configuration in the repository; the examples in the README, whose keys are
elided ("..."), are checked against the schema only."""

import json
import re
import subprocess

import jsonschema
import pytest
import yaml

import demo
from harness import ROOT, tool_bin
from test_istio import MANIFESTS, load, wasm_fields

SCHEMA_PATH = ROOT / "envoy" / "jwt-policy.schema.json"


@pytest.fixture(scope="module")
def validator():
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def schema_errors(validator, config):
    return [f"{'.'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in validator.iter_errors(config)]


def validate(config, tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return subprocess.run([str(tool_bin()), "validate", str(path)], capture_output=True, text=True)


def test_the_published_schema_is_the_printed_one():
    printed = subprocess.run([str(tool_bin()), "schema"], capture_output=True, text=True, check=True).stdout
    assert printed == SCHEMA_PATH.read_text()


@pytest.mark.parametrize("path", MANIFESTS, ids=[p.name for p in MANIFESTS])
def test_the_istio_examples_pass_the_schema_and_validate(path, validator, tmp_path):
    config = wasm_fields(load(path))["pluginConfig"]
    assert schema_errors(validator, config) == []
    result = validate(config, tmp_path)
    assert result.returncode == 0, result.stderr


def test_the_demo_configuration_passes_the_schema_and_validate(keys, validator, tmp_path):
    config = demo.config(keys.jwks(*demo.KEYS))
    assert schema_errors(validator, config) == []
    assert validate(config, tmp_path).returncode == 0


def readme_configs():
    """The plugin configurations in the README's yaml blocks: a WasmPlugin's pluginConfig,
    and the JSON inside an Envoy filter's configuration StringValue."""
    found = []

    def walk(value):
        if isinstance(value, dict):
            if value.get("kind") == "WasmPlugin":
                found.append(value["spec"]["pluginConfig"])
            if value.get("@type") == "type.googleapis.com/google.protobuf.StringValue":
                found.append(json.loads(value["value"]))
            for inner in value.values():
                walk(inner)
        elif isinstance(value, list):
            for inner in value:
                walk(inner)

    for block in re.findall(r"```yaml\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL):
        walk(yaml.safe_load(block))
    return found


def test_the_readme_examples_pass_the_schema(validator):
    configs = readme_configs()
    assert len(configs) >= 2
    for config in configs:
        assert schema_errors(validator, config) == []


@pytest.mark.parametrize("mistake, field", [
    ({"providers": {"p": {"isuer": "x", "jwks": {"keys": []}}}}, "isuer"),
    ({"providers": {"p": {"jwks": {"keys": []}, "payload_in_metadata": "x"}}}, "payload_in_metadata"),
    ({"rules": [{"match": {"prefix": "/"}, "claims": [{"name": "scope", "contains": "a", "present": True}]}]},
     "claims"),
    ({"providers": {"p": {"jwks": {"keys": []}, "max_lifetime": "1h"}}}, "max_lifetime"),
])
def test_a_mistake_fails_both_the_schema_and_validate(mistake, field, validator, tmp_path):
    assert schema_errors(validator, mistake) != []
    result = validate(mistake, tmp_path)
    assert result.returncode == 1
    assert field in result.stderr
