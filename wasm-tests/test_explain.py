"""`jwt-policy explain` says what the module in Envoy does: for a wide set of requests, the
status, body and WWW-Authenticate it predicts are Envoy's answer, and on a request let
through, the headers it says are added and removed are what the upstream received. In
Envoy, RS256 and ES256 signatures are checked by the host (BoringSSL); the tool checks
them in Rust, so the two paths are compared too."""

import json
import subprocess
import tempfile
import time

import pytest

from conftest import ISSUER, bearer, claims
from harness import tool_bin

PARTNER = "https://partner.example"


@pytest.fixture(scope="module")
def config(keys):
    return {
        "providers": {
            "idp": {
                "issuer": ISSUER,
                "audiences": ["api"],
                "jwks": keys.jwks(("RS256", "idp-rs"), ("ES256", "idp-es")),
                "forward_payload_header": "x-jwt-payload",
                "claim_to_headers": [{"header_name": "x-user", "claim_name": "sub"},
                                     {"header_name": "x-tenant", "claim_name": "org.tenant"}],
            },
            "partner": {
                "issuer": PARTNER,
                "jwks": keys.jwks(("EdDSA", "partner")),
                "from_headers": [{"name": "x-partner-token"}],
                "forward": True,
            },
        },
        "rules": [
            {"match": {"path": "/health"}},
            {"match": {"prefix": "/orders"}, "requires": {"provider_name": "idp"},
             "claims": [{"name": "scope", "contains": "orders.write"}]},
            {"match": {"prefix": "/optional"}, "requires": {"allow_missing": {}}},
            {"match": {"prefix": "/any"}, "requires": {"requires_any": {"requirements": [
                {"provider_name": "idp"}, {"provider_name": "partner"}]}}},
            {"match": {"prefix": "/"}, "requires": {"provider_name": "idp"}},
        ],
    }


@pytest.fixture(scope="module")
def envoy(config, start_envoy):
    return start_envoy(config)


@pytest.fixture(scope="module")
def config_file(config):
    path = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
    json.dump(config, path)
    path.close()
    return path.name


def cases(keys):
    """(name, method, path, headers) for each request."""
    rs = lambda **extra: keys.token("RS256", "idp-rs", claims(**{"aud": "api", **extra}))
    es = lambda **extra: keys.token("ES256", "idp-es", claims(**{"aud": "api", **extra}))
    partner = keys.token("EdDSA", "partner", claims(iss=PARTNER))
    now = int(time.time())
    # Same kid, another key: the signature does not verify.
    forged = keys.token("RS256", "forger", claims(aud="api"), token_kid="idp-rs")
    return [
        ("valid RS256", "GET", "/profile", bearer(rs(org={"tenant": "acme"}))),
        ("valid ES256, token in the query", "GET", f"/profile?a=1&access_token={es()}&b=2", []),
        ("expired", "GET", "/profile", bearer(rs(exp=now - 3600))),
        ("expired within the skew", "GET", "/profile", bearer(rs(exp=now - 30))),
        ("not yet valid", "GET", "/profile", bearer(es(nbf=now + 3600))),
        ("wrong issuer", "GET", "/profile", bearer(rs(iss="https://evil.example"))),
        ("wrong audience", "GET", "/profile", bearer(rs(aud="web"))),
        ("bad signature", "GET", "/profile", bearer(forged)),
        ("unknown kid", "GET", "/profile", bearer(keys.token("ES256", "idp-es", claims(aud="api"),
                                                            token_kid="retired"))),
        ("alg none", "GET", "/profile", bearer(keys.token("ES256", "idp-es", claims(aud="api"),
                                                         header={"alg": "none"}))),
        ("garbage", "GET", "/profile", [("authorization", "Bearer not-a-token")]),
        ("missing token", "GET", "/profile", []),
        ("claim condition met", "POST", "/orders", bearer(es(scope="orders.read orders.write"))),
        ("claim condition fails", "POST", "/orders", bearer(es(scope="orders.read"))),
        ("no token needed", "GET", "/health", []),
        ("no token needed, spoofed output header", "GET", "/health", [("x-user", "root")]),
        ("two different tokens", "GET", f"/profile?access_token={es()}", bearer(rs())),
        ("optional, none", "GET", "/optional", []),
        ("optional, expired", "GET", "/optional", bearer(rs(exp=now - 3600))),
        ("optional, partner's", "GET", "/optional", [("x-partner-token", partner)]),
        ("any: partner", "GET", "/any", [("x-partner-token", partner)]),
        ("any: neither", "GET", "/any", []),
        ("any: idp expired", "GET", "/any", bearer(es(exp=now - 3600))),
    ]


def explain(config_file, envoy, method, path, headers):
    args = [str(tool_bin()), "explain", config_file, "--json", "--method", method, "--path", path,
            "--authority", f"127.0.0.1:{envoy.port}"]
    for name, value in headers:
        args += ["--header", f"{name}:{value}"]
    result = subprocess.run(args, capture_output=True, text=True)
    assert result.returncode in (0, 1), result.stderr
    explanation = json.loads(result.stdout)
    assert result.returncode == (1 if explanation["verdict"]["decision"] == "deny" else 0)
    return explanation


def test_explain_gives_envoys_answer(keys, envoy, config_file):
    compared = 0
    for name, method, path, headers in cases(keys):
        response = envoy.request(path, headers, method)
        verdict = explain(config_file, envoy, method, path, headers)["verdict"]
        if response.status == 200:
            assert verdict["decision"] in ("allow", "not_required"), (name, verdict)
            received = response.upstream
            added = {header for header, _ in verdict["add_headers"]}
            for header, value in verdict["add_headers"]:
                assert response.forwarded(header) == [value], (name, header)
            for header in verdict["remove_headers"]:
                if header not in added:
                    assert response.forwarded(header) == [], (name, header)
            assert received["path"] == (verdict["path"] or path), name
        else:
            assert verdict["decision"] == "deny", (name, response.status, verdict)
            assert verdict["status"] == response.status, name
            assert verdict["body"] == response.text, name
            assert verdict["headers"].get("www-authenticate") == response.header("www-authenticate"), name
        compared += 1
    assert compared == len(cases(keys)) >= 20


def test_explain_names_the_check_that_failed(keys, envoy, config_file):
    token = keys.token("RS256", "idp-rs", claims(aud="web", exp=int(time.time()) - 3600))
    explanation = explain(config_file, envoy, "GET", "/profile", bearer(token))
    attempt = explanation["tokens"][0]["attempts"][0]
    failed = {check["check"]: check["result"] for check in attempt["checks"] if check["result"] != "ok"}
    assert failed == {"time": "Jwt is expired", "audiences": "Audiences in Jwt are not allowed"}
    assert attempt["signature"] == "ok"
    # The plugin reports the first failure in its order: time comes before audiences.
    assert explanation["verdict"]["body"] == envoy.request("/profile", bearer(token)).text == "Jwt is expired"
