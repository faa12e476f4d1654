"""`jwt-policy render` writes what Istio and the module take: a WasmPlugin that passes the
real CRD schema (read as kubectl reads YAML) and whose pluginConfig the module applies and
enforces in Envoy, and an Envoy filter whose configuration the module applies."""

import subprocess

import pytest
import yaml

from conftest import ISSUER, bearer, claims
from harness import Envoy, tool_bin
from test_istio import (cel_errors, gauge, identity_errors, parse, plugin_config_json,
                        private_key_members, schema_errors, schemas)  # noqa: F401 (fixture)


def render(keys, *options):
    args = [str(tool_bin()), "render", "--key", str(keys.key("ES256", "render-es")),
            "--key", str(keys.key("RS256", "render-rs")), "--issuer", ISSUER, "--audience", "api",
            "--claim-to-header", "sub:x-user", "--public", "/health", *options]
    result = subprocess.run(args, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


def validate(text, tmp_path):
    path = tmp_path / "rendered.yaml"
    path.write_text(text)
    return subprocess.run([str(tool_bin()), "validate", str(path)], capture_output=True, text=True)


def test_the_wasm_plugin_passes_istios_schema_and_works_in_envoy(keys, upstream, schemas, tmp_path):
    text = render(keys, "--format", "wasmplugin", "--url", "oci://registry.example.com/jwt-policy:0.1.0",
                  "--namespace", "orders", "--selector", "app=orders", "--generation", "5")
    manifest = parse(text)
    assert identity_errors(manifest) == []
    assert schema_errors(manifest, schemas) == []
    assert cel_errors(manifest) == []
    assert private_key_members(manifest["spec"]["pluginConfig"]) == []
    assert validate(text, tmp_path).returncode == 0

    envoy = Envoy(plugin_config_json(manifest), upstream.port)
    try:
        for alg, kid in (("ES256", "render-es"), ("RS256", "render-rs")):
            response = envoy.request("/orders", bearer(keys.token(alg, kid, claims(aud="api"))))
            assert response.status == 200, response
            assert response.forwarded("x-user") == ["alice"]
        assert envoy.request("/orders", bearer(keys.token("ES256", "render-es", claims(aud="web")))).status == 403
        assert envoy.request("/orders").status == 401
        assert envoy.request("/health").status == 200
        assert gauge(envoy, "jwt_policy_generation") == 5
    finally:
        envoy.stop()


def test_the_envoy_filter_carries_a_configuration_the_module_applies(keys, upstream, tmp_path):
    text = render(keys, "--format", "envoy")
    assert validate(text, tmp_path).returncode == 0
    wasm = yaml.safe_load(text)["typed_config"]
    assert wasm["@type"] == "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm"
    envoy = Envoy(wasm["config"]["configuration"]["value"], upstream.port)
    try:
        assert envoy.request("/x", bearer(keys.token("RS256", "render-rs", claims(aud="api")))).status == 200
        assert envoy.request("/x").status == 401
    finally:
        envoy.stop()


def test_a_wasm_plugin_without_url_is_refused(keys):
    result = subprocess.run([str(tool_bin()), "render", "--key", str(keys.key("ES256", "render-es")),
                             "--format", "wasmplugin"], capture_output=True, text=True)
    assert result.returncode == 2
    assert "--url" in result.stderr
