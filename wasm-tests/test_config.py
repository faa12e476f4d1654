"""Configuration in real Envoy: a bad one is refused with the field named and never half
applied; the top-level switches do what Envoy's do."""

import pytest

from conftest import ISSUER, bearer, claims
from harness import Envoy


def refusal(upstream, config):
    """Starts Envoy with `config`, which must fail, and returns the module's error line."""
    with pytest.raises(RuntimeError) as failure:
        envoy = Envoy(config, upstream.port)
        envoy.stop()
    lines = [line for line in str(failure.value).splitlines() if "configuration rejected" in line]
    assert lines, str(failure.value)[-2000:]
    return lines[0].split("configuration rejected: ", 1)[1]


def good_provider(keys):
    return {"issuer": ISSUER, "jwks": keys.jwks(("ES256", "cfg"))}


def test_bad_configurations_are_refused_naming_the_field(upstream, keys):
    provider = good_provider(keys)
    cases = [
        ('{"providers": ', "EOF while parsing"),
        ({"providers": {"p": {**provider, "isuer": "x"}}}, "providers.p.isuer: unknown field `isuer`"),
        ({"providers": {"p": {**provider, "audiences": "api"}}}, "providers.p.audiences: invalid type"),
        ({"providers": {"p": {"jwks": {"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB"}]}}}},
         "providers.p.jwks.keys[0]: RSA modulus of 17 bits is below the 2048 bits"),
        ({"providers": {"p": {"jwks": {"keys": [{"kty": "oct", "k": "c2hvcnQ"}]}}}},
         "providers.p.jwks.keys[0].k: an HMAC secret must be at least 32 bytes"),
        ({"providers": {"p": {"jwks": {"keys": [{"kty": "oct", "use": "enc", "k": "c2hvcnQ"}]}}}},
         "providers.p.jwks: the key set has no key this plugin can verify with"),
        ({"providers": {"p": provider},
          "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "q"}}]},
         'rules[0].requires.provider_name: required provider ["q"] is not configured'),
        ({"providers": {"p": provider}, "rules": [{"match": {"safe_regex": {"regex": "(["}}}]},
         "rules[0].match.safe_regex.regex: not a valid regex"),
        ({"providers": {"p": provider},
          "rules": [{"match": {"safe_regex": {"regex": "/(?:[a-z0-9/]{0,1000}){0,20}x"}}}]},
         "rules[0].match.safe_regex.regex: not a valid regex: compiled regex exceeded size limit"),
        ('{"providers": {"p": {}, "p": {}}}', 'the configuration has the member "p" twice'),
    ]
    for config, message in cases:
        error = refusal(upstream, config)
        assert message in error, (config, error)


def test_skipped_keys_are_logged(start_envoy, keys):
    jwks = keys.jwks(("ES256", "cfg"))
    jwks["keys"].append({"kty": "RSA", "use": "enc", "kid": "wrap", "n": "AQAB", "e": "AQAB"})
    envoy = start_envoy({"providers": {"p": {"issuer": ISSUER, "jwks": jwks}}})
    assert 'provider p: keys[1] (kid "wrap") skipped: use is "enc"' in envoy.log()


def test_strip_failure_response(start_envoy, keys):
    envoy = start_envoy({
        "providers": {"p": good_provider(keys)},
        "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "p"}}],
        "strip_failure_response": True,
    })
    response = envoy.request("/", bearer("a.b.c"))
    assert response.status == 401
    assert response.body == b""
    assert response.header("www-authenticate") is None
    assert envoy.request("/", bearer(keys.token("ES256", "cfg", claims()))).status == 200


def test_bypass_cors_preflight(start_envoy, keys):
    envoy = start_envoy({
        "providers": {"p": good_provider(keys)},
        "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "p"}}],
        "bypass_cors_preflight": True,
    })
    preflight = [("origin", "https://app.example"), ("access-control-request-method", "POST")]
    assert envoy.request("/", preflight, method="OPTIONS").status == 200
    assert envoy.request("/", [("origin", "https://app.example")], method="OPTIONS").status == 401
    assert envoy.request("/", preflight, method="GET").status == 401


def test_local_jwks_inline_string_moves_over_unchanged(start_envoy, keys):
    import json
    envoy = start_envoy({
        "providers": {"p": {"issuer": ISSUER,
                            "local_jwks": {"inline_string": json.dumps(keys.jwks(("ES256", "cfg")))}}},
        "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "p"}}],
    })
    assert envoy.request("/", bearer(keys.token("ES256", "cfg", claims()))).status == 200
