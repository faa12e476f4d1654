"""Differential testing: the same requests to two Envoys with the same JwtAuthentication
configuration, one running Envoy's native jwt_authn and one this module, comparing the
status, WWW-Authenticate and what the upstream received.

Inputs are tokens across algorithms, keys, claims and header placements, and systematic
mutations of them (bit flips in each segment, truncation, re-encoding, header and claim
changes, duplicated members). Each input carries the class of intentional difference it
belongs to, if any (README: "Where we are stricter than Envoy"); a disagreement outside its
class is a defect.

`make fuzz-diff` runs a large campaign (DIFF_REQUESTS, default 100000) and writes
results/fuzz-diff.md; test_differential.py runs a small fixed-seed one in make test.
"""

import base64
import collections
import concurrent.futures
import json
import random
import re
import sys
import time

from harness import ROOT, ROUTER, EchoUpstream, Envoy, Keys, native_filter, send, wasm_filter

ISSUER = "https://issuer.diff"
AUDIENCE = "diff-api"
CLIENTS = 8
KEYS = [("RS256", "d-rs"), ("PS256", "d-ps"), ("ES256", "d-es"), ("ES384", "d-es384"),
        ("ES512", "d-es512"), ("HS256", "d-hs"), ("EdDSA", "d-ed")]

# Intentional differences, by class (README: "Where we are stricter than Envoy"): what the
# class is, and how a disagreement it explains must look, given what (native, ours) answered
# as (status, WWW-Authenticate, upstream).
CLASSES = {
    "bearer-case": ("Bearer matched in any case: we verify the token, Envoy sees none",
                    lambda native, ours: native[0] == 401 and "error=" not in (native[1] or "")),
    "multiple-tokens": ("two different tokens for one provider: 400 here",
                        lambda native, ours: ours[0] == 400),
    "strict-base64": ("padding or stray bits in a segment: refused here",
                      lambda native, ours: ours[0] == 401),
    "duplicate-member": ("a member twice in the header or claims: refused here",
                         lambda native, ours: ours[0] == 401),
    "strict-json": ("a header or claims segment that is not RFC 8259 JSON (a raw control character in a"
                    " string): refused here, read by Envoy",
                    lambda native, ours: ours[0] == 401),
    "same-token-twice": ("the same token in two places is one token here; Envoy forwards its claims once"
                         " per place",
                         lambda native, ours: native[0] == ours[0] == 200 and set(native[2]) == set(ours[2])),
    "crit": ("a crit header: refused here, ignored by Envoy",
             lambda native, ours: ours[0] == 401),
    # Envoy refuses such a token at parse time, so any later check can answer otherwise here.
    "time-number": ("exp/nbf as a fraction or out of [0, 2^64): still a number here",
                    lambda native, ours: native[0] == 401),
    "control-claim": ("a claim with control characters is not forwarded here (Envoy 1.40 answers 503:"
                      " the header it makes is invalid)",
                      lambda native, ours: ours[0] == 200 and "x-user" not in dict(ours[2] or ())),
    "trailing-junk": ("characters after the token in the header: refused here, dropped by Envoy",
                      lambda native, ours: ours[0] == 401),
}


def b64(data):
    raw = data if isinstance(data, bytes) else json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def config(jwks):
    """One provider, Envoy fields only, so both filters take it unchanged."""
    return {
        "providers": {"p": {
            "issuer": ISSUER,
            "audiences": [AUDIENCE],
            "local_jwks": {"inline_string": json.dumps(jwks)},
            "from_headers": [{"name": "authorization", "value_prefix": "Bearer "}],
            "from_params": ["access_token"],
            "forward_payload_header": "x-jwt-payload",
            "claim_to_headers": [{"header_name": "x-user", "claim_name": "sub"},
                                 {"header_name": "x-tenant", "claim_name": "org.tenant"}],
        }},
        "rules": [{"match": {"prefix": "/health"}},
                  {"match": {"prefix": "/"}, "requires": {"provider_name": "p"}}],
    }


class Inputs:
    """Signed tokens made once with the tool, and the requests derived from them."""

    def __init__(self, keys, rng):
        self.rng = rng
        now = int(time.time())
        self.now = now
        good = {"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "org": {"tenant": "acme"},
                "iat": now, "exp": now + 3600}
        variants = [
            (good, None),
            ({**good, "aud": ["x", AUDIENCE]}, None),
            ({**good, "aud": "other"}, None),
            ({k: v for k, v in good.items() if k != "aud"}, None),
            ({**good, "iss": "https://other"}, None),
            ({k: v for k, v in good.items() if k != "iss"}, None),
            ({**good, "exp": now - 3600}, None),
            ({**good, "nbf": now + 3600}, None),
            ({k: v for k, v in good.items() if k != "exp"}, None),
            ({**good, "sub": 7}, None),
            ({**good, "exp": str(now + 3600)}, None),
            ({**good, "exp": now + 3600.5}, "time-number"),
            ({**good, "nbf": -5}, "time-number"),
            ({**good, "sub": "bob\u0007"}, "control-claim"),
            ({**good, "org": {"tenant": ["a", "b"]}}, None),
        ]
        self.signed = []  # (token, classes)
        for alg, kid in KEYS:
            for claims, cls in variants:
                self.signed.append((keys.token(alg, kid, claims), cls))
        self.signed = [(token, [cls] if cls else []) for token, cls in self.signed]
        es = [k for k in KEYS if k[0] == "ES256"][0]
        payload = json.dumps(good, separators=(",", ":"))
        special = [
            (keys.token(*es, payload[:-1] + ',"sub":"mallory"}'), "duplicate-member"),
            (keys.token(*es, good, header='{"alg":"ES256","kid":"d-es","kid":"d-es"}'), "duplicate-member"),
            (keys.token(*es, good, header={"alg": "ES256", "kid": "d-es", "crit": ["exp"], "exp": 1}), "crit"),
            (keys.token(*es, good, header={"alg": "ES256", "kid": "nope"}), None),
            (keys.token(*es, good, header={"alg": "ES256"}), None),
            (keys.token(*es, good, header={"alg": "ES256", "kid": "d-es", "typ": "JOSE"}), None),
            (keys.token(*es, good, header={"alg": "none", "kid": "d-es"}), None),
            (keys.token(*es, good, header={"alg": "HS256", "kid": "d-es"}), None),
        ]
        self.signed += [(token, [cls] if cls else []) for token, cls in special]

    def request(self):
        """(path, headers, classes) for one random request: the classes of intentional
        difference its token, mutation and placement fall in."""
        token, classes = self.rng.choice(self.signed)
        token, mutation = self.mutate(token)
        classes = classes + ([mutation] if mutation else [])
        placement = self.rng.randrange(10)
        if placement == 0:
            return "/", [], []  # no token
        if placement == 1:
            return f"/api?access_token={token}", [], classes
        if placement == 2:
            other, other_classes = self.rng.choice(self.signed)
            return (f"/api?access_token={other}", [("authorization", f"Bearer {token}")],
                    classes + other_classes + (["multiple-tokens"] if other != token else ["same-token-twice"]))
        if placement == 3:
            return "/api", [("authorization", f"bearer {token}")], classes + ["bearer-case"]
        if placement == 4:
            return "/health", [("authorization", f"Bearer {token}")], []
        if placement == 5:
            return "/api", [("authorization", f"Bearer {token}"), ("x-user", "root")], classes
        return "/api", [("authorization", f"Bearer {token}")], classes

    def mutate(self, token):
        """A systematic mutation of a signed token, and the difference class it falls in."""
        rng = self.rng
        parts = token.split(".")
        kind = rng.randrange(12)
        if kind < 4 or len(parts) != 3:
            return token, None
        if kind == 4:  # flip a bit in a segment
            i = rng.randrange(3)
            raw = bytearray(unb64(parts[i]))
            if raw:
                raw[rng.randrange(len(raw))] ^= 1 << rng.randrange(8)
            parts[i] = b64(bytes(raw))
            return ".".join(parts), "strict-json" if i < 2 else None
        if kind == 5:  # truncate
            cut = rng.randrange(1, len(token))
            return token[:cut], "strict-base64"
        if kind == 6:  # re-encode a segment with padding
            i = rng.randrange(3)
            return ".".join(p + "=" * (-len(p) % 4) if j == i else p for j, p in enumerate(parts)), "strict-base64"
        if kind == 7:  # standard base64 alphabet
            return token.replace("-", "+").replace("_", "/"), "strict-base64"
        if kind == 8:  # change a header field
            header = json.loads(unb64(parts[0]))
            header[rng.choice(["alg", "kid", "typ"])] = rng.choice(["RS256", "ES256", "none", "x", 1, None])
            return ".".join([b64(header)] + parts[1:]), None
        if kind == 9:  # change a claim's type
            claims = json.loads(unb64(parts[1]))
            claims[rng.choice(["exp", "iss", "aud", "sub", "nbf"])] = rng.choice([1, "1", [1], {}, None, 1.5])
            return ".".join([parts[0], b64(claims)] + parts[2:]), None
        if kind == 10:  # shorten the signature
            raw = unb64(parts[2])
            return ".".join(parts[:2] + [b64(raw[:-1])]), None
        return token + "!", "trailing-junk"


def observe(response, port):
    """What a client and the upstream see, with what naturally differs (ports) removed."""
    challenge = response.header("www-authenticate")
    if challenge:
        challenge = challenge.replace(f":{port}", ":PORT")
        # Our realm leaves the query out (README); compare without it.
        challenge = re.sub(r'realm="([^"?]*)\?[^"]*"', r'realm="\1"', challenge)
    upstream = None
    if response.status == 200:
        upstream = tuple(sorted((k, v) for k, v in response.upstream["headers"]
                                if k in ("authorization", "x-user", "x-tenant", "x-jwt-payload")))
        upstream += (("path", response.upstream["path"]),)
    return response.status, challenge, upstream


def run(requests, seed, progress=False):
    """Runs `requests` random requests through both filters. Returns counts by outcome, each
    filter's count of answers by status, and the disagreements that fall in no intentional
    class."""
    rng = random.Random(seed)
    keys = Keys()
    jwks = keys.jwks(*KEYS)
    inputs = Inputs(keys, rng)
    upstream = EchoUpstream()
    filters = {
        "native": [native_filter(config(jwks)), ROUTER],
        "ours": [wasm_filter(config(jwks)), ROUTER],
    }
    envoys = {name: Envoy(template="filters.yaml", extra={
        "UPSTREAM_PORT": str(upstream.port), "HTTP_FILTERS": json.dumps(chain)}, wasm_log_level="info")
        for name, chain in filters.items()}
    counts = collections.Counter()
    statuses = {name: collections.Counter() for name in envoys}
    unexplained = []

    def compare(request):
        path, headers, classes = request
        seen = {name: observe(send(e.port, path, headers), e.port) for name, e in envoys.items()}
        return path, headers, classes, seen

    # The inputs are drawn in order from the seeded generator, so a seed names one campaign
    # whatever the concurrency; a few clients at once keep both Envoys' workers busy.
    try:
        with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
            for n, (path, headers, classes, seen) in enumerate(
                    pool.map(compare, (inputs.request() for _ in range(requests)))):
                for name, observed in seen.items():
                    statuses[name][observed[0]] += 1
                explained = [c for c in classes if CLASSES[c][1](seen["native"], seen["ours"])]
                if seen["native"] == seen["ours"]:
                    counts["agree"] += 1
                elif explained:
                    counts[explained[0]] += 1
                else:
                    counts["unexplained"] += 1
                    if len(unexplained) < 20:
                        unexplained.append({"path": path, "headers": headers, **seen})
                if progress and n and n % 10000 == 0:
                    print(f"{n} requests: {dict(counts)}", flush=True)
        for name, envoy in envoys.items():
            log = envoy.log()
            counts[f"{name} crashed"] = int("Wasm VM failed" in log or "panicked" in log)
    finally:
        for envoy in envoys.values():
            envoy.stop()
        upstream.close()
    return counts, statuses, unexplained


def main():
    import os
    requests = int(os.environ.get("DIFF_REQUESTS", 100_000))
    seed = int(os.environ.get("DIFF_SEED", 1))
    started = time.time()
    counts, statuses, unexplained = run(requests, seed, progress=True)
    elapsed = time.time() - started
    lines = ["# Differential run: native jwt_authn against jwt-policy", "",
             f"{requests} requests, seed {seed}, {elapsed:.0f} s; Envoy 1.40.0, 2 workers each.", "",
             "| outcome | requests |", "|---|---:|"]
    lines += [f"| {k} | {v} |" for k, v in sorted(counts.items(), key=lambda kv: -kv[1])]
    lines += ["", "Answers by status:", ""] + [
        f"- {name}: " + ", ".join(f"{status} × {n}" for status, n in sorted(by_status.items()))
        for name, by_status in statuses.items()]
    lines += ["", "Classes of intentional difference:", ""] + [f"- `{k}`: {v[0]}" for k, v in CLASSES.items()]
    if unexplained:
        lines += ["", "## Unexplained disagreements (first 20)", "", "```",
                  json.dumps(unexplained, indent=1, default=str), "```"]
    (ROOT / "results").mkdir(exist_ok=True)
    (ROOT / "results" / "fuzz-diff.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    sys.exit(1 if counts["unexplained"] or counts["native crashed"] or counts["ours crashed"] else 0)


if __name__ == "__main__":
    main()
