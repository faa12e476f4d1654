"""A bad push never hurts: Envoy refuses it, the last good configuration keeps serving
unchanged on every worker, the log names the fault; then a good push applies."""

import json
import time

import pytest

from conftest import ISSUER, bearer, claims
from harness import EcdsEnvoy
from test_metrics import prometheus


def config(keys, generation, key, rules=None):
    return {
        "generation": generation,
        "providers": {"idp": {"issuer": ISSUER, "jwks": keys.jwks(key)}},
        "rules": rules or [{"match": {"prefix": "/"}, "requires": {"provider_name": "idp"}}],
    }


@pytest.fixture(scope="module")
def envoy(keys, upstream):
    envoy = EcdsEnvoy(config(keys, 1, ("ES256", "good")), upstream.port)
    yield envoy
    envoy.stop()


def wait_for(condition, what):
    deadline = time.monotonic() + 10
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def statuses(envoy, token, n=4):
    """Answers on several new connections, so every worker answers."""
    return {envoy.request("/", bearer(token)).status for _ in range(n)}


def bad_pushes(keys):
    malformed_key = config(keys, 2, ("ES256", "other"))
    malformed_key["providers"]["idp"]["jwks"]["keys"][0]["x"] = "not+base64url"
    return [
        ("broken JSON", '{"generation": 2, "providers": {', "not valid JSON: EOF while parsing"),
        ("malformed key", malformed_key, "providers.idp.jwks.keys[0].x: is not strict base64url"),
        ("unknown provider", config(keys, 2, ("ES256", "other"),
                                    rules=[{"match": {"prefix": "/"}, "requires": {"provider_name": "nope"}}]),
         'rules[0].requires.provider_name: required provider ["nope"] is not configured'),
        ("10 MB document", json.dumps(config(keys, 2, ("ES256", "other"))) + " " * (10 << 20),
         "bytes, more than the 1048576 accepted"),
    ]


@pytest.mark.parametrize("index", range(4), ids=["broken JSON", "malformed key", "unknown provider", "10 MB"])
def test_a_bad_push_is_refused_and_the_last_good_one_keeps_serving(envoy, keys, index):
    name, document, fault = bad_pushes(keys)[index]
    good = keys.token("ES256", "good", claims())
    other = keys.token("ES256", "other", claims())
    failures = envoy.ecds_stat("config_fail")
    before = prometheus(envoy)
    envoy.push(document)
    wait_for(lambda: envoy.ecds_stat("config_fail") > failures, f"Envoy to refuse the {name} push")
    rejections = [line for line in envoy.log().splitlines() if "configuration rejected" in line]
    assert fault in rejections[-1], rejections[-1]
    # Unchanged: the good key still verifies everywhere, the pushed one does not.
    assert statuses(envoy, good) == {200}
    assert statuses(envoy, other) == {401}
    assert envoy.applied(2) == {}
    wait_for(lambda: prometheus(envoy)["jwt_policy_config_rejected"] > before["jwt_policy_config_rejected"],
             "the rejection to be counted")
    after = prometheus(envoy)
    assert after["jwt_policy_generation"] == 1
    # A refused document, however large, does not grow the VM's memory.
    assert after["jwt_policy_vm_memory_bytes"] <= before["jwt_policy_vm_memory_bytes"] + (1 << 20)


def test_then_a_good_push_applies(envoy, keys):
    good = keys.token("ES256", "good", claims())
    other = keys.token("ES256", "other", claims())
    envoy.push(config(keys, 3, ("ES256", "other")))
    wait_for(lambda: len(envoy.applied(3)) >= 3, "every VM to apply generation 3")
    assert statuses(envoy, other) == {200}
    assert statuses(envoy, good) == {401}
    wait_for(lambda: prometheus(envoy).get("jwt_policy_generation") == 3, "the generation gauge")
