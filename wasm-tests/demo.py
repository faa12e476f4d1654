"""`make demo`: real Envoy with the module, fresh keys, real tokens; prints each answer and what
the upstream received, then stops Envoy."""

import json
import sys
import time

from harness import EchoUpstream, Envoy, Keys

ISSUER = "https://issuer.demo"
KEYS = [("RS256", "demo-rsa"), ("ES256", "demo-ec"), ("EdDSA", "demo-ed")]


def config(jwks):
    return {
        "providers": {"demo": {
            "issuer": ISSUER,
            "audiences": ["orders-api"],
            "jwks": jwks,
            "claim_to_headers": [
                {"header_name": "x-user", "claim_name": "sub"},
                {"header_name": "x-tenant", "claim_name": "tenant"},
            ],
        }},
        "rules": [
            {"match": {"prefix": "/health"}},
            {"match": {"prefix": "/orders"}, "requires": {"provider_name": "demo"},
             "claims": [{"name": "scope", "contains": "orders.write"}]},
            {"match": {"prefix": "/"}, "requires": {"provider_name": "demo"}},
        ],
    }


def show(title, response):
    print(f"\n--- {title}")
    print(f"    answer: {response.status} {response.text if response.status != 200 else ''}".rstrip())
    challenge = response.header("www-authenticate")
    if challenge:
        print(f"    www-authenticate: {challenge}")
    if response.upstream is not None:
        shown = ("authorization", "x-user", "x-tenant")
        received = {k: v for k, v in response.upstream["headers"] if k in shown}
        print(f"    upstream got: {response.upstream['method']} {response.upstream['path']} {json.dumps(received)}")
    else:
        print("    upstream got: nothing")


def main():
    keys = Keys()
    print("Making demo keys (RS256, ES256, EdDSA) and starting Envoy with the module...")
    upstream = EchoUpstream()
    envoy = Envoy(config(keys.jwks(*KEYS)), upstream.port)
    try:
        applied = [line.split("jwt-policy: ")[-1] for line in envoy.log().splitlines()
                   if "configuration applied" in line]
        print(f"Envoy is up on http://127.0.0.1:{envoy.port}, 2 workers; the module says: "
              f"{applied[0] if applied else 'nothing'}")
        now = int(time.time())

        def token(alg, kid, **extra):
            claims = {"iss": ISSUER, "aud": "orders-api", "sub": "alice", "tenant": "acme",
                      "scope": "orders.read", "iat": now, "exp": now + 600}
            claims.update(extra)
            return keys.token(alg, kid, claims)

        for alg, kid in KEYS:
            show(f"valid {alg} token, GET /profile",
                 envoy.request("/profile", [("authorization", f"Bearer {token(alg, kid)}")]))
        show("no token, GET /profile", envoy.request("/profile"))
        show("no token, GET /health (no rule requires one)", envoy.request("/health"))
        show("expired ES256 token", envoy.request("/profile", [("authorization", f"Bearer {token('ES256', 'demo-ec', exp=now - 3600)}")]))
        good = token("RS256", "demo-rsa")
        header, payload, signature = good.split(".")
        tampered = f"{header}.{payload}.{signature[:-6]}{'AAAAAA' if signature[-6:] != 'AAAAAA' else 'BBBBBB'}"
        show("tampered RS256 signature", envoy.request("/profile", [("authorization", f"Bearer {tampered}")]))
        show("valid token for another audience", envoy.request("/profile", [("authorization", f"Bearer {token('EdDSA', 'demo-ed', aud='billing')}")]))
        show("valid token without scope orders.write, POST /orders",
             envoy.request("/orders", [("authorization", f"Bearer {good}")], method="POST"))
        show("valid token with scope orders.write, POST /orders",
             envoy.request("/orders", [("authorization", f"Bearer {token('ES256', 'demo-ec', scope='orders.read orders.write')}")], method="POST"))
        show("two different tokens in one request",
             envoy.request("/profile", [("authorization", f"Bearer {good}"), ("authorization", f"Bearer {token('EdDSA', 'demo-ed')}")]))
        show("spoofed x-user header with a valid token",
             envoy.request("/profile", [("authorization", f"Bearer {token('EdDSA', 'demo-ed')}"), ("x-user", "root")]))
    finally:
        envoy.stop()
        upstream.close()
    print("\nEnvoy stopped.")


if __name__ == "__main__":
    sys.exit(main())
