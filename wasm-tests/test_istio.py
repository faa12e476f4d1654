"""The Istio manifests in envoy/istio/: each is well-formed YAML that kubectl reads the same
way, has the right apiVersion and kind, validates against the real Istio CRD schema (in
../shared/istio/, beside the repository), obeys the CEL rules the schema cannot express,
and carries a pluginConfig the module accepts in real Envoy. The negative tests break a
good manifest in one place each and show that the check catches it."""

import copy
import json
import pathlib
import re
import time
import urllib.request

import jsonschema
import pytest
import yaml

from harness import ROOT, Envoy

ISTIO_DIR = ROOT / "envoy" / "istio"
SCHEMA_DIR = ROOT.parent / "shared" / "istio"
MANIFESTS = sorted(ISTIO_DIR.glob("*.yaml"))
EXPECTED = {"wasmplugin-single.yaml", "wasmplugin-multi.yaml",
            "trafficextension-single.yaml", "trafficextension-multi.yaml"}

API_VERSION = "extensions.istio.io/v1alpha1"
SCHEMA_FILES = {"WasmPlugin": "wasmplugin.schema.json",
                "TrafficExtension": "trafficextension.schema.json"}
URL_SCHEMES = {"", "oci", "file", "http", "https"}
# JWK members that hold private key material (RFC 7518 §6.2.2, §6.3.2, §6.4.1; RFC 8037).
PRIVATE_JWK_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


class KubectlLoader(yaml.SafeLoader):
    """Reads YAML as kubectl does (go-yaml v2, YAML 1.1), where y, Y, n and N are booleans
    too, and a boolean key becomes "true" or "false" in the JSON sent to the API server.
    PyYAML alone reads them as strings, so it cannot see a JWK's bare `y:` turn into
    `"true":` on the way to the cluster."""

    bool_values = {**yaml.SafeLoader.bool_values, "y": True, "n": False}


KubectlLoader.yaml_implicit_resolvers = {
    first: list(resolvers) for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
KubectlLoader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:y|Y|n|N)$"), list("yYnN"))


def as_sent_by_kubectl(value):
    """`value` with boolean keys turned into strings, as sigs.k8s.io/yaml converts them."""
    if isinstance(value, dict):
        return {(str(k).lower() if isinstance(k, bool) else k): as_sent_by_kubectl(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_sent_by_kubectl(v) for v in value]
    return value


def parse(text):
    """The one document in `text`, read as kubectl would send it; refuses a text that
    means something else to PyYAML than to kubectl."""
    documents = list(yaml.safe_load_all(text))
    assert len(documents) == 1, f"expected one YAML document, found {len(documents)}"
    kubectl = as_sent_by_kubectl(yaml.load(text, Loader=KubectlLoader))
    assert kubectl == documents[0], "kubectl (YAML 1.1: bare y/n are booleans) reads this differently"
    assert isinstance(kubectl, dict), "the document is not a mapping"
    return kubectl


def load(path):
    return parse(pathlib.Path(path).read_text())


def wasm_fields(manifest):
    """The object holding url, sha256, pluginConfig...: spec, or spec.wasm."""
    spec = manifest.get("spec") or {}
    return spec.get("wasm") or {} if manifest.get("kind") == "TrafficExtension" else spec


def plugin_config_json(manifest):
    """pluginConfig as the JSON istiod hands the module."""
    return json.dumps(wasm_fields(manifest)["pluginConfig"])


def identity_errors(manifest):
    errors = []
    if manifest.get("apiVersion") != API_VERSION:
        errors.append(f"apiVersion is {manifest.get('apiVersion')!r}, not {API_VERSION}")
    if manifest.get("kind") not in SCHEMA_FILES:
        errors.append(f"kind is {manifest.get('kind')!r}, not one of {sorted(SCHEMA_FILES)}")
    name = (manifest.get("metadata") or {}).get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?", name):
        errors.append(f"metadata.name {name!r} is not a DNS subdomain name")
    return errors


def schema_errors(manifest, schemas):
    validator = schemas[manifest["kind"]]
    return [f"{'.'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}"
            for error in validator.iter_errors(manifest)]


def cel_errors(manifest):
    """The CRDs' x-kubernetes-validations (CEL) rules, which a JSON Schema validator skips,
    and istiod's rule that sha256 matches a digest in url."""
    errors = []
    spec = manifest.get("spec") or {}
    kind = manifest.get("kind")
    targets = [key for key in ("selector", "targetRef", "targetRefs") if key in spec]
    if len(targets) > 1:
        errors.append(f"only one of targetRefs or selector can be set, found {', '.join(targets)}")
    labels = (spec.get("selector") or {}).get("matchLabels") or {}
    if any("*" in key or "*" in str(value) for key, value in labels.items()):
        errors.append("wildcard not allowed in selector.matchLabels")
    refs = spec.get("targetRefs") or ([spec["targetRef"]] if "targetRef" in spec else [])
    if any(ref.get("namespace") for ref in refs if isinstance(ref, dict)):
        errors.append("targetRefs[].namespace must be empty (cross-namespace references are not allowed)")
    if kind == "TrafficExtension" and ("wasm" in spec) == ("lua" in spec):
        errors.append("exactly one of wasm or lua must be set")
    wasm = wasm_fields(manifest)
    url = wasm.get("url")
    if isinstance(url, str):
        scheme = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://", url)
        scheme = scheme.group(1) if scheme else ""
        if scheme not in URL_SCHEMES:
            errors.append(f"url must have schema one of [http, https, file, oci], not {scheme!r}")
        digest = re.search(r"@sha256:([^/]*)$", url)
        if digest:
            if not re.fullmatch(r"[0-9a-f]{64}", digest.group(1)):
                errors.append(f"url digest sha256:{digest.group(1)} is not 64 lowercase hex digits")
            elif wasm.get("sha256") and wasm["sha256"] != digest.group(1):
                errors.append(f"sha256 {wasm['sha256']} does not match the digest in url ({digest.group(1)})")
    for i, env in enumerate(((wasm.get("vmConfig") or {}).get("env")) or []):
        if env.get("valueFrom") == "HOST" and env.get("value"):
            errors.append(f"vmConfig.env[{i}]: value may only be set when valueFrom is INLINE")
    return errors


def private_key_members(config):
    """Paths of private JWK members anywhere in a pluginConfig."""
    found = []

    def walk(value, path):
        if isinstance(value, dict):
            if "kty" in value:
                found.extend(f"{path}.{m}" for m in sorted(PRIVATE_JWK_MEMBERS & value.keys()))
            for key, item in value.items():
                walk(item, f"{path}.{key}")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                walk(item, f"{path}[{i}]")

    walk(config, "pluginConfig")
    return found


@pytest.fixture(scope="module")
def schemas():
    if not SCHEMA_DIR.is_dir():
        pytest.skip(f"no Istio CRD schemas: {SCHEMA_DIR} is missing (it is the shared/istio folder "
                    "beside the repository)")
    validators = {}
    for kind, name in SCHEMA_FILES.items():
        schema = json.loads((SCHEMA_DIR / name).read_text())
        jsonschema.Draft7Validator.check_schema(schema)
        validators[kind] = jsonschema.Draft7Validator(schema)
    return validators


def start(config, upstream):
    """Envoy with the module configured so; raises RuntimeError (with the log) if the module
    refuses the configuration."""
    return Envoy(config, upstream.port)


def applied(envoy):
    return [line for line in envoy.log().splitlines() if "configuration applied" in line]


def gauge(envoy, name):
    """A gauge from /stats/prometheus once the VMs have reported (they do every second)."""
    deadline = time.monotonic() + 10
    while True:
        with urllib.request.urlopen(f"http://127.0.0.1:{envoy.admin_port}/stats/prometheus") as r:
            found = re.search(rf"^{name}\{{\}} (\S+)$", r.read().decode(), re.MULTILINE)
        if found and float(found.group(1)) or time.monotonic() > deadline:
            return float(found.group(1)) if found else None
        time.sleep(0.2)


def manifest_ids(paths):
    return [path.name for path in paths]


# --- the manifests ----------------------------------------------------------------------

def test_the_manifests_are_all_there():
    assert EXPECTED <= {path.name for path in MANIFESTS}


@pytest.mark.parametrize("path", MANIFESTS, ids=manifest_ids(MANIFESTS))
def test_yaml_parses_the_same_for_kubectl(path):
    assert load(path)


@pytest.mark.parametrize("path", MANIFESTS, ids=manifest_ids(MANIFESTS))
def test_api_version_and_kind(path):
    manifest = load(path)
    assert identity_errors(manifest) == []
    expected_kind = "TrafficExtension" if path.name.startswith("trafficextension") else "WasmPlugin"
    assert manifest["kind"] == expected_kind


@pytest.mark.parametrize("path", MANIFESTS, ids=manifest_ids(MANIFESTS))
def test_matches_the_istio_schema(path, schemas):
    assert schema_errors(load(path), schemas) == []


@pytest.mark.parametrize("path", MANIFESTS, ids=manifest_ids(MANIFESTS))
def test_obeys_the_rules_the_schema_cannot_express(path):
    assert cel_errors(load(path)) == []


@pytest.mark.parametrize("path", MANIFESTS, ids=manifest_ids(MANIFESTS))
def test_holds_no_private_key_material(path):
    assert private_key_members(wasm_fields(load(path))["pluginConfig"]) == []


@pytest.mark.parametrize("path", MANIFESTS, ids=manifest_ids(MANIFESTS))
def test_the_module_accepts_the_plugin_config_in_envoy(path, upstream):
    manifest = load(path)
    config = wasm_fields(manifest)["pluginConfig"]
    envoy = start(plugin_config_json(manifest), upstream)
    try:
        lines = applied(envoy)
        assert lines, envoy.log()[-3000:]
        providers = config.get("providers", {})
        assert f"{len(providers)} provider(s)" in lines[0], lines[0]
        if "generation" in config:
            assert gauge(envoy, "jwt_policy_generation") == config["generation"]
    finally:
        envoy.stop()


@pytest.mark.parametrize("kind", ["single", "multi"])
def test_traffic_extension_is_the_wasm_plugin_moved(kind):
    """The TrafficExtension form carries the same plugin, configuration and targets."""
    plugin = load(ISTIO_DIR / f"wasmplugin-{kind}.yaml")
    extension = load(ISTIO_DIR / f"trafficextension-{kind}.yaml")
    assert wasm_fields(extension) == {k: v for k, v in plugin["spec"].items()
                                      if k not in ("selector", "targetRefs", "phase", "priority", "match")}
    for key in ("selector", "targetRefs", "phase", "priority", "match"):
        assert extension["spec"].get(key) == plugin["spec"].get(key), key
    assert extension["metadata"] == plugin["metadata"]


def test_single_rules_do_what_their_comments_say(upstream):
    envoy = start(plugin_config_json(load(ISTIO_DIR / "wasmplugin-single.yaml")), upstream)
    try:
        assert envoy.request("/healthz").status == 200
        assert envoy.request("/orders").status == 401
        assert envoy.request("/orders", [("authorization", "Bearer a.b.c")]).status == 401
    finally:
        envoy.stop()


def test_multi_rules_do_what_their_comments_say(upstream):
    envoy = start(plugin_config_json(load(ISTIO_DIR / "wasmplugin-multi.yaml")), upstream)
    try:
        public = envoy.request("/public/catalog", [("x-user", "mallory"), ("x-partner-client", "evil")])
        assert public.status == 200
        # claim_to_headers: headers a client sends under those names never reach the upstream.
        assert public.forwarded("x-user") == [] and public.forwarded("x-partner-client") == []
        # allow_missing: a token that is present must verify.
        assert envoy.request("/public/catalog", [("authorization", "Bearer a.b.c")]).status == 401
        assert envoy.request("/public/catalog", [("x-partner-token", "a.b.c")]).status == 401
        assert envoy.request("/admin/users").status == 401
        assert envoy.request("/orders", method="POST").status == 401
        assert envoy.request("/orders").status == 401
    finally:
        envoy.stop()


# --- the checks catch broken manifests --------------------------------------------------

def good(name="wasmplugin-single.yaml"):
    return copy.deepcopy(load(ISTIO_DIR / name))


def test_both_selector_and_target_refs_are_caught(schemas):
    manifest = good()
    manifest["spec"]["targetRefs"] = [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "edge"}]
    assert schema_errors(manifest, schemas) == []  # the schema alone lets it through
    assert cel_errors(manifest) == ["only one of targetRefs or selector can be set, found selector, targetRefs"]
    extension = good("trafficextension-multi.yaml")
    extension["spec"]["selector"] = {"matchLabels": {"app": "edge"}}
    assert "only one of targetRefs or selector" in cel_errors(extension)[0]


def test_a_misspelled_phase_is_caught(schemas):
    manifest = good()
    manifest["spec"]["phase"] = "AUTHENTICATION"
    assert any(error.startswith("spec.phase:") for error in schema_errors(manifest, schemas))
    # WasmPlugin's first phase value is no TrafficExtension phase.
    extension = good("trafficextension-single.yaml")
    extension["spec"]["phase"] = "UNSPECIFIED_PHASE"
    assert any(error.startswith("spec.phase:") for error in schema_errors(extension, schemas))
    extension["spec"]["phase"] = "UNSPECIFIED"
    assert schema_errors(extension, schemas) == []


def test_a_bad_sha256_is_caught(schemas):
    sha256 = good()["spec"]["sha256"]
    for bad in (sha256.upper(), sha256[:8], "sha256:" + sha256):
        manifest = good()
        manifest["spec"]["sha256"] = bad
        assert any(error.startswith("spec.sha256:") for error in schema_errors(manifest, schemas)), bad
    manifest = good("wasmplugin-multi.yaml")
    manifest["spec"]["sha256"] = "0" * 64
    assert schema_errors(manifest, schemas) == []
    assert cel_errors(manifest) == [
        f"sha256 {'0' * 64} does not match the digest in url ({good('wasmplugin-multi.yaml')['spec']['sha256']})"]
    manifest["spec"]["url"] = "oci://registry.example.com/jwt-policy@sha256:abc"
    assert "is not 64 lowercase hex digits" in cel_errors(manifest)[0]


def test_a_bad_url_scheme_is_caught():
    manifest = good()
    manifest["spec"]["url"] = "ftp://registry.example.com/jwt_policy.wasm"
    assert cel_errors(manifest) == ["url must have schema one of [http, https, file, oci], not 'ftp'"]
    for url in ("registry.example.com/jwt-policy:0.1.0", "file:///opt/jwt_policy.wasm",
                "https://example.com/jwt_policy.wasm"):
        manifest["spec"]["url"] = url
        assert cel_errors(manifest) == [], url


def test_traffic_extension_needs_exactly_one_of_wasm_and_lua(schemas):
    neither = good("trafficextension-single.yaml")
    del neither["spec"]["wasm"]
    assert schema_errors(neither, schemas) == []  # the generated oneOf accepts neither
    assert cel_errors(neither) == ["exactly one of wasm or lua must be set"]
    both = good("trafficextension-single.yaml")
    both["spec"]["lua"] = {"inlineCode": "function envoy_on_request(h) end"}
    assert schema_errors(both, schemas) != []
    assert cel_errors(both) == ["exactly one of wasm or lua must be set"]


def test_wasm_fields_left_at_the_top_of_a_traffic_extension_are_caught(schemas):
    manifest = good()
    manifest["kind"] = "TrafficExtension"  # a WasmPlugin relabelled, not converted
    assert cel_errors(manifest) == ["exactly one of wasm or lua must be set"]


def test_wrong_api_version_or_kind_is_caught():
    manifest = good()
    manifest["apiVersion"] = "networking.istio.io/v1alpha3"
    assert identity_errors(manifest) == [
        "apiVersion is 'networking.istio.io/v1alpha3', not extensions.istio.io/v1alpha1"]
    manifest = good()
    manifest["kind"] = "WasmPlugins"
    assert len(identity_errors(manifest)) == 1


def test_private_key_material_is_caught():
    config = good()["spec"]["pluginConfig"]
    config["providers"]["idp"]["jwks"]["keys"][0]["d"] = "c2VjcmV0"
    assert private_key_members(config) == ["pluginConfig.providers.idp.jwks.keys[0].d"]


def test_a_bare_y_in_a_jwk_is_caught_and_would_break_the_key_set(upstream):
    text = (ISTIO_DIR / "wasmplugin-single.yaml").read_text()
    bare, count = re.subn(r'^(\s+)"y": ', r"\1y: ", text, count=1, flags=re.MULTILINE)
    assert count == 1
    with pytest.raises(AssertionError, match="kubectl"):
        parse(bare)
    # What the module would get from a cluster: the EC key without "y" (it became "true").
    config = as_sent_by_kubectl(yaml.load(bare, Loader=KubectlLoader))["spec"]["pluginConfig"]
    assert "true" in config["providers"]["idp"]["jwks"]["keys"][0]
    with pytest.raises(RuntimeError, match="configuration rejected"):
        start(json.dumps(config), upstream).stop()


def test_a_plugin_config_the_module_refuses_fails_in_envoy(upstream):
    manifest = good("wasmplugin-multi.yaml")
    manifest["spec"]["pluginConfig"]["rules"][1]["claims"][0] = {"name": "realm_access.roles", "contain": "admin"}
    with pytest.raises(RuntimeError, match=r"configuration rejected: rules\[1\]\.claims\[0\]"):
        start(plugin_config_json(manifest), upstream).stop()
