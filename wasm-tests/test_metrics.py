"""The module's metrics, as a user reads them from Envoy's /stats/prometheus."""

import re
import time
import urllib.request

import pytest

from conftest import ISSUER, bearer, claims


def prometheus(envoy):
    with urllib.request.urlopen(f"http://127.0.0.1:{envoy.admin_port}/stats/prometheus") as r:
        text = r.read().decode()
    return {m.group(1): float(m.group(2))
            for m in re.finditer(r"^(jwt_policy_\w+)\{\} (\S+)$", text, re.MULTILINE)}


def settled(envoy, expect):
    """Metrics once the VMs have handed them over (they do every second)."""
    deadline = time.monotonic() + 10
    while True:
        metrics = prometheus(envoy)
        if all(metrics.get(name, 0) >= value for name, value in expect.items()) or time.monotonic() > deadline:
            return metrics
        time.sleep(0.2)


@pytest.fixture(scope="module")
def envoy(keys, start_envoy):
    return start_envoy({
        "generation": 42,
        "providers": {"idp": {
            "issuer": ISSUER, "audiences": ["api"], "jwks": keys.jwks(("ES256", "m1")),
        }},
        "rules": [
            {"match": {"prefix": "/public"}},
            {"match": {"prefix": "/write"}, "requires": {"provider_name": "idp"},
             "claims": [{"name": "scope", "contains": "write"}]},
            {"match": {"prefix": "/"}, "requires": {"provider_name": "idp"}},
        ],
    })


def test_every_outcome_is_counted_by_reason(envoy, keys):
    def token(**extra):
        return keys.token("ES256", "m1", claims(**{"aud": "api", **extra}))

    good = token()
    now = time.time()
    sent = {
        "allowed": [envoy.request("/", bearer(good)) for _ in range(4)],
        "not_required": [envoy.request("/public")],
        "denied_missing": [envoy.request("/"), envoy.request("/x")],
        "denied_expired": [envoy.request("/", bearer(token(exp=now - 600)))],
        "denied_not_yet_valid": [envoy.request("/", bearer(token(nbf=now + 600)))],
        "denied_issuer": [envoy.request("/", bearer(token(iss="https://other")))],
        "denied_audience": [envoy.request("/", bearer(token(aud="other")))],
        "denied_malformed": [envoy.request("/", bearer("a.b"))],
        "denied_unknown_key": [envoy.request("/", bearer(keys.token("ES256", "m1", claims(aud="api"), token_kid="old")))],
        "denied_bad_signature": [envoy.request("/", bearer(keys.token("ES256", "other", claims(aud="api"), token_kid="m1")))],
        "denied_claims": [envoy.request("/write", bearer(good))],
        "denied_multiple_tokens": [envoy.request("/", bearer(good) + bearer(token(jti="2")))],
    }
    expected = {f"jwt_policy_{name}": len(responses) for name, responses in sent.items()}
    expected["jwt_policy_denied"] = sum(v for k, v in expected.items() if k.startswith("jwt_policy_denied_"))
    metrics = settled(envoy, expected)
    for name, count in expected.items():
        assert metrics.get(name) == count, (name, metrics)
    # The first good request on each worker misses the cache; later ones hit it.
    assert metrics["jwt_policy_jwt_cache_hit"] >= 2
    assert metrics["jwt_policy_jwt_cache_miss"] >= 2


def test_rollout_gauges(envoy):
    metrics = settled(envoy, {"jwt_policy_config_applied": 3})
    assert metrics["jwt_policy_generation"] == 42
    # One configuration, applied in the main thread's VM and in each worker's.
    assert metrics["jwt_policy_config_applied"] >= 3
    assert metrics["jwt_policy_config_rejected"] == 0
    assert metrics["jwt_policy_vm_memory_bytes"] > 1 << 20
