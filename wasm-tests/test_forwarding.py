"""What the upstream receives: forwarded claims and payload, spoofed headers removed, the
token kept or taken out; and our claim conditions on rules."""

import base64
import json

import pytest

from conftest import ISSUER, bearer, claims


@pytest.fixture(scope="module")
def envoy(keys, start_envoy):
    return start_envoy({
        "providers": {
            "idp": {
                "issuer": ISSUER,
                "jwks": keys.jwks(("ES384", "fwd")),
                "forward_payload_header": "x-jwt-payload",
                "pad_forward_payload_header": True,
                "claim_to_headers": [
                    {"header_name": "x-user", "claim_name": "sub"},
                    {"header_name": "x-tenant", "claim_name": "org.tenant"},
                    {"header_name": "x-level", "claim_name": "level"},
                    {"header_name": "x-admin", "claim_name": "admin"},
                    {"header_name": "x-roles", "claim_name": "roles"},
                    {"header_name": "x-note", "claim_name": "note"},
                ],
            },
            "keeper": {
                "issuer": ISSUER,
                "jwks": keys.jwks(("ES384", "fwd")),
                "from_headers": [{"name": "x-keep-token"}],
                "forward": True,
            },
        },
        "rules": [
            {"match": {"prefix": "/public"}},
            {"match": {"prefix": "/keep"}, "requires": {"provider_name": "keeper"}},
            {"match": {"prefix": "/orders"}, "requires": {"provider_name": "idp"}, "claims": [
                {"name": "scope", "contains": "orders.write"},
                {"name": "org.tenant", "equals": "acme"},
                {"name": "realm_access.roles", "contains_any": ["admin", "ops"]},
            ]},
            {"match": {"prefix": "/"}, "requires": {"provider_name": "idp"}},
        ],
    })


@pytest.fixture(scope="module")
def token(keys):
    def make(**extra):
        return keys.token("ES384", "fwd", claims(**extra))
    return make


def test_claims_and_payload_are_forwarded(envoy, token):
    jwt = token(org={"tenant": "acme"}, level=3, admin=True, roles=["a", "b"])
    response = envoy.request("/x", bearer(jwt))
    assert response.status == 200
    assert response.forwarded("x-user") == ["alice"]
    assert response.forwarded("x-tenant") == ["acme"]
    assert response.forwarded("x-level") == ["3"]
    assert response.forwarded("x-admin") == ["true"]
    # Arrays and objects as base64 of their JSON, as Envoy forwards them.
    assert json.loads(base64.b64decode(response.forwarded("x-roles")[0])) == ["a", "b"]
    payload = jwt.split(".")[1]
    assert response.forwarded("x-jwt-payload") == [payload + "=" * (-len(payload) % 4)]
    assert json.loads(base64.urlsafe_b64decode(response.forwarded("x-jwt-payload")[0]))["sub"] == "alice"
    assert response.forwarded("authorization") == []


def test_a_client_cannot_set_the_output_headers(envoy, token):
    spoofed = [("x-user", "root"), ("x-tenant", "evil"), ("x-jwt-payload", "e30"), ("x-roles", "YWRtaW4=")]
    response = envoy.request("/x", bearer(token()) + spoofed)
    assert response.status == 200
    assert response.forwarded("x-user") == ["alice"]
    assert response.forwarded("x-tenant") == []
    assert response.forwarded("x-roles") == []
    # Also where no token is required at all.
    response = envoy.request("/public", spoofed)
    assert response.status == 200
    for name, _ in spoofed:
        assert response.forwarded(name) == [], name


def test_a_claim_that_would_break_a_header_is_not_forwarded(envoy, token):
    response = envoy.request("/x", bearer(token(note="hi\r\nx-admin: true")))
    assert response.status == 200
    assert response.forwarded("x-note") == []
    assert response.forwarded("x-admin") == []


def test_forward_keeps_the_token(envoy, token):
    jwt = token()
    response = envoy.request("/keep", [("x-keep-token", jwt)])
    assert response.status == 200
    assert response.forwarded("x-keep-token") == [jwt]


def test_claim_conditions(envoy, token):
    good = {"scope": "orders.read orders.write", "org": {"tenant": "acme"}, "realm_access": {"roles": ["ops"]}}
    assert envoy.request("/orders", bearer(token(**good))).status == 200
    for claim, value, name in [
        ("scope", "orders.read", "scope"),
        ("org", {"tenant": "other"}, "org.tenant"),
        ("realm_access", {"roles": ["dev"]}, "realm_access.roles"),
    ]:
        response = envoy.request("/orders", bearer(token(**{**good, claim: value})))
        assert response.status == 403, claim
        assert response.text == f"Jwt claim [{name}] does not satisfy the rule"
        assert response.header("www-authenticate").endswith('error="insufficient_scope"')
    # A scope claim given as a list counts too.
    assert envoy.request("/orders", bearer(token(**{**good, "scope": ["orders.write"]}))).status == 200
    assert envoy.request("/orders").status == 401
