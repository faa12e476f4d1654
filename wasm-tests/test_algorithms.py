"""Every JWS algorithm Envoy supports, verified by the module in real Envoy: good tokens reach
the upstream with their claims, tampered or foreign ones are refused."""

import base64
import json

import pytest

from conftest import ISSUER, bearer, claims

ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
              "ES256", "ES384", "ES512", "HS256", "HS384", "HS512", "EdDSA"]


def key_id(alg):
    return f"{alg.lower()}-1"


@pytest.fixture(scope="module")
def envoy(keys, start_envoy):
    jwks = keys.jwks(*[(alg, key_id(alg)) for alg in ALGORITHMS])
    return start_envoy({
        "providers": {"idp": {
            "issuer": ISSUER,
            "jwks": jwks,
            "claim_to_headers": [{"header_name": "x-jwt-sub", "claim_name": "sub"}],
        }},
        "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "idp"}}],
    })


def flip_signature_bit(token):
    head, signature = token.rsplit(".", 1)
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[len(raw) // 2] ^= 0x01
    return head + "." + base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()


def test_signatures_go_through_envoy_where_envoy_can_check_them(envoy):
    assert "checked by Envoy (verify_signature)" in envoy.log()


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_a_good_token_reaches_the_upstream_with_its_claims(envoy, keys, alg):
    token = keys.token(alg, key_id(alg), claims(sub=f"user-{alg}"))
    # Twice, so both workers (each with its own VM) answer.
    for _ in range(2):
        response = envoy.request("/orders", bearer(token))
        assert response.status == 200, response.text
        assert response.forwarded("x-jwt-sub") == [f"user-{alg}"]
        # The token is taken out of the request before it goes upstream (forward: false).
        assert response.forwarded("authorization") == []


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_a_tampered_signature_is_refused(envoy, keys, alg):
    token = flip_signature_bit(keys.token(alg, key_id(alg), claims()))
    response = envoy.request("/orders", bearer(token))
    assert response.status == 401
    assert response.text == "Jwt verification fails"
    assert response.header("www-authenticate").endswith('error="invalid_token"')


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_a_token_from_an_unknown_key_with_a_known_kid_is_refused(envoy, keys, alg):
    # Same kid as the configured key, but signed by a different key of the same type.
    token = keys.token(alg, "stranger", claims(), token_kid=key_id(alg))
    response = envoy.request("/orders", bearer(token))
    assert response.status == 401
    assert response.text == "Jwt verification fails"


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA", "HS256"])
def test_altered_claims_are_refused(envoy, keys, alg):
    header, _, signature = keys.token(alg, key_id(alg), claims()).split(".")
    forged = base64.urlsafe_b64encode(json.dumps(claims(sub="admin")).encode()).rstrip(b"=").decode()
    response = envoy.request("/orders", bearer(f"{header}.{forged}.{signature}"))
    assert response.status == 401
    assert response.text == "Jwt verification fails"


def test_an_unknown_kid_is_refused_before_any_crypto(envoy, keys):
    token = keys.token("ES256", key_id("ES256"), claims(), token_kid="nobody")
    response = envoy.request("/orders", bearer(token))
    assert response.status == 401
    assert response.text == "Jwks doesn't have key to match kid or alg from Jwt"


def test_the_key_decides_the_algorithm(envoy, keys):
    # An RS256-signed token relabelled as PS256: the RSA key may verify both algorithms,
    # but the signature is PKCS#1 v1.5, so PSS verification fails.
    rsa = keys.token("RS256", key_id("RS256"), claims())
    header = base64.urlsafe_b64encode(
        json.dumps({"alg": "PS256", "kid": key_id("RS256")}).encode()).rstrip(b"=").decode()
    relabelled = header + rsa[rsa.index("."):]
    assert envoy.request("/", bearer(relabelled)).status == 401
    # A token that says HS256 under the EC key's kid: the EC key never verifies HS256.
    token = keys.token("ES256", key_id("ES256"), claims(),
                       header={"alg": "HS256", "kid": key_id("ES256")})
    response = envoy.request("/", bearer(token))
    assert response.status == 401
    assert response.text == "Jwks doesn't have key to match kid or alg from Jwt"
