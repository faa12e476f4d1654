"""jwt_verify_lib's and Envoy's token vectors through the built module in real Envoy: every
`verify` case whose answer does not depend on the day it runs on (Envoy's clock is the wall
clock), under the configuration the case describes, pushed over ECDS. The expected answer is
jwt_verify_lib's, or ours where CONFORMANCE.md lists the case as a difference."""

import base64
import json
import pathlib
import re
import time

import pytest

from harness import ROOT, EcdsEnvoy

VECTORS = ROOT.parent / "shared" / "conformance" / "jwt_verify_lib_vectors.json"

# jwt_verify_lib's messages (src/status.cc) for the statuses the verify cases expect.
MESSAGES = {
    "JwtMissed": "Jwt is missing",
    "JwtBadFormat": "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections",
    "JwtExpired": "Jwt is expired",
    "JwtNotYetValid": "Jwt not yet valid",
    "JwtUnknownIssuer": "Jwt issuer is not configured",
    "JwtAudienceNotAllowed": "Audiences in Jwt are not allowed",
    "JwtVerificationFail": "Jwt verification fails",
    "JwksKidAlgMismatch": "Jwks doesn't have key to match kid or alg from Jwt",
    "JwtEd25519SignatureWrongLength": "Jwt ED25519 signature is wrong length",
}


def documented():
    rows = re.findall(r"^\| `([^`]+)` \| `[^`]*` \| `([^`]+)` \|", (ROOT / "CONFORMANCE.md").read_text(), re.M)
    return dict(rows)


def claim_times(token):
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (AttributeError, IndexError, ValueError):
        return None, None
    return (claims.get("exp"), claims.get("nbf")) if isinstance(claims, dict) else (None, None)


def runs_on_the_wall_clock(case):
    """True when Envoy's wall clock gives the verdict the case was written for."""
    if case["clock"] == "wall":
        return True
    exp, nbf = claim_times(case.get("token"))
    skew = case.get("clock_skew") or 60
    now = time.time()
    numbers = all(isinstance(v, (int, float)) or v is None for v in (exp, nbf))
    return numbers and (exp is None or exp + skew >= now) and (nbf is None or nbf - skew <= now)


def plugin_config(case, generation):
    provider = {"clock_skew_seconds": case.get("clock_skew") or 60}
    if case.get("jwks") is None and case.get("jwks_text") is not None:
        provider["local_jwks"] = {"inline_string": case["jwks_text"]}
    else:
        provider["jwks"] = case["jwks"]
    if case.get("issuer"):
        provider["issuer"] = case["issuer"]
    if case.get("audiences") is not None:
        provider["audiences"] = case["audiences"]
    return {"generation": generation, "providers": {"p": provider},
            "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "p"}}]}


def cases():
    if not VECTORS.exists():
        return []
    return [c for c in json.loads(VECTORS.read_text())["cases"]
            if c["scope"] == "verify" and not c.get("pem") and runs_on_the_wall_clock(c)]


@pytest.fixture(scope="module")
def envoy(upstream):
    envoy = EcdsEnvoy({"providers": {}}, upstream.port)
    yield envoy
    envoy.stop()


def test_the_token_vectors_in_envoy(envoy, report):
    selected = cases()
    if not selected:
        pytest.skip(f"no conformance vectors: {VECTORS} is missing (it is beside the repository in CI)")
    differences = documented()
    checked = refused_configs = 0
    groups = {}
    for case in selected:
        groups.setdefault(json.dumps(plugin_config(case, 0), sort_keys=True), []).append(case)
    for generation, (key, group) in enumerate(groups.items(), start=2):
        config = dict(json.loads(key), generation=generation)
        failures = envoy.ecds_stat("config_fail")
        envoy.push(config)
        deadline = time.monotonic() + 10
        while len(envoy.applied(generation)) < 3 and envoy.ecds_stat("config_fail") == failures:
            assert time.monotonic() < deadline, f"generation {generation} neither applied nor refused"
            time.sleep(0.02)
        applied = len(envoy.applied(generation)) >= 3
        for case in group:
            # A key set status means the key set is refused when it is applied (see CONFORMANCE.md).
            refusal = case["expect"].startswith("Jwks") and case["expect"] != "JwksKidAlgMismatch"
            if differences.get(case["id"]) == "config refused" or refusal or not applied:
                assert not applied, (case["id"], "the configuration should have been refused")
                assert differences.get(case["id"]) == "config refused" or refusal, (case["id"], "refused")
                refused_configs += 1
                continue
            if case.get("authorization", "absent") is None:
                headers = []
            elif "authorization" in case:
                headers = [("authorization", case["authorization"])]
            else:
                headers = [("authorization", f"Bearer {case['token']}")] if case["token"] else []
            want = (200, None) if case["expect"] == "ok" else (case["http_status"], MESSAGES[case["expect"]])
            for _ in range(2):  # both workers
                response = envoy.request("/", headers)
                got = (response.status, None if response.status == 200 else response.text)
                assert got == want, (case["id"], got, want)
            checked += 1
    report(f"conformance in Envoy: {checked} token vectors answered as jwt_verify_lib does, "
           f"{refused_configs} key sets refused as CONFORMANCE.md says, in {len(groups)} pushed configurations")
    assert checked > 30
