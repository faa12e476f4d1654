"""Rules and every requirement type, with two providers, in real Envoy."""

import pytest

from conftest import ISSUER, bearer, claims

PARTNER = "https://partner.example"


@pytest.fixture(scope="module")
def envoy(keys, start_envoy):
    both = [{"provider_name": "idp"}, {"provider_name": "partner"}]
    return start_envoy({
        "providers": {
            "idp": {"issuer": ISSUER, "audiences": ["api"], "jwks": keys.jwks(("RS256", "idp"))},
            "partner": {
                "issuer": PARTNER,
                "jwks": keys.jwks(("EdDSA", "partner")),
                "from_headers": [{"name": "x-partner-token"}],
            },
        },
        "requirement_map": {"idp_only": {"provider_name": "idp"}},
        "rules": [
            {"match": {"path": "/health"}},
            {"match": {"prefix": "/admin", "headers": [{"name": "x-env", "exact_match": "staging"}]},
             "requires": {"provider_and_audiences": {"provider_name": "idp", "audiences": ["admin"]}}},
            {"match": {"prefix": "/admin"}, "requirement_name": "idp_only"},
            {"match": {"prefix": "/any"}, "requires": {"requires_any": {"requirements": both}}},
            {"match": {"prefix": "/all"}, "requires": {"requires_all": {"requirements": both}}},
            {"match": {"prefix": "/optional"}, "requires": {"allow_missing": {}}},
            {"match": {"prefix": "/lenient"}, "requires": {"allow_missing_or_failed": {}}},
            {"match": {"prefix": "/either-or-none"}, "requires": {"requires_any": {"requirements": [
                {"provider_name": "idp"}, {"allow_missing": {}}]}}},
            {"match": {"safe_regex": {"regex": "/v[0-9]+/orders/.*"}}, "requires": {"provider_name": "partner"}},
        ],
    })


@pytest.fixture(scope="module")
def idp(keys):
    def make(**extra):
        return bearer(keys.token("RS256", "idp", claims(**{"aud": "api", **extra})))
    return make


@pytest.fixture(scope="module")
def partner(keys):
    def make(**extra):
        return [("x-partner-token", keys.token("EdDSA", "partner", claims(**{"iss": PARTNER, **extra})))]
    return make


def test_no_matching_rule_needs_no_token(envoy):
    assert envoy.request("/elsewhere").status == 200
    assert envoy.request("/health").status == 200
    # path, not prefix: /health/x is not /health, and no other rule matches either.
    assert envoy.request("/health/x").status == 200


def test_first_matching_rule_wins(envoy, idp, keys):
    assert envoy.request("/admin/users", idp()).status == 200
    staging = [("x-env", "staging")]
    # The staging rule comes first and wants the "admin" audience instead of the provider's.
    response = envoy.request("/admin/users", idp() + staging)
    assert response.status == 403
    assert response.text == "Audiences in Jwt are not allowed"
    assert envoy.request("/admin/users", idp(aud="admin") + staging).status == 200
    assert envoy.request("/admin/users").status == 401


def test_requires_any(envoy, idp, partner):
    assert envoy.request("/any", idp()).status == 200
    assert envoy.request("/any", partner()).status == 200
    response = envoy.request("/any")
    assert (response.status, response.text) == (401, "Jwt is missing")
    # The real failure is reported, not the missing partner token.
    response = envoy.request("/any", idp(exp=1))
    assert (response.status, response.text) == (401, "Jwt is expired")


def test_requires_all(envoy, idp, partner):
    assert envoy.request("/all", idp() + partner()).status == 200
    assert envoy.request("/all", idp()).text == "Jwt is missing"
    assert envoy.request("/all", idp() + partner(exp=1)).text == "Jwt is expired"


def test_allow_missing(envoy, idp, partner):
    assert envoy.request("/optional").status == 200
    assert envoy.request("/optional", idp()).status == 200
    assert envoy.request("/optional", partner()).status == 200
    response = envoy.request("/optional", idp(exp=1))
    assert (response.status, response.text) == (401, "Jwt is expired")


def test_allow_missing_or_failed(envoy, idp):
    assert envoy.request("/lenient").status == 200
    assert envoy.request("/lenient", idp(exp=1)).status == 200
    assert envoy.request("/lenient", [("authorization", "Bearer garbage")]).status == 200


def test_optional_provider(envoy, idp):
    assert envoy.request("/either-or-none").status == 200
    assert envoy.request("/either-or-none", idp()).status == 200
    assert envoy.request("/either-or-none", idp(exp=1)).status == 401


def test_regex_rule(envoy, partner):
    assert envoy.request("/v2/orders/7").status == 401
    assert envoy.request("/v2/orders/7?x=1", partner()).status == 200
    assert envoy.request("/v2/other").status == 200
