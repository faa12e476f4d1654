"""Key rotation under load, delivered the way istiod delivers it (ECDS), Envoy with 2 workers:
publish the new key beside the old, switch the signer, retire the old key; several times,
with valid, tampered and retired tokens in flight all along."""

import base64
import threading
import time

import pytest

from conftest import ISSUER
from harness import EcdsEnvoy, send

# Each rotation moves to the next key; the key type changes too, as in a migration.
KEYS = [("ES256", "k0"), ("RS256", "k1"), ("EdDSA", "k2"), ("ES256", "k3")]
CLIENTS = 4
SETTLE = 0.6  # seconds of load between the steps of a rotation


def config(keys, generation, jwks_keys):
    return {
        "generation": generation,
        "providers": {"idp": {"issuer": ISSUER, "jwks": keys.jwks(*jwks_keys)}},
        "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "idp"}}],
    }


def tampered(token):
    head, signature = token.rsplit(".", 1)
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[0] ^= 1
    return head + "." + base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()


class Load:
    """Clients sending requests on new connections (so both workers serve them), each with
    the current signer's token, a tampered one, and the previous signer's while there is one."""

    def __init__(self, port):
        self.port = port
        self.lock = threading.Lock()
        self.tokens = {}  # kind -> (kid, token)
        self.records = []  # (start, end, kind, kid, status)
        self.running = True
        self.threads = [threading.Thread(target=self._client, daemon=True) for _ in range(CLIENTS)]

    def set(self, **tokens):
        with self.lock:
            self.tokens = {kind: value for kind, value in tokens.items() if value}

    def _client(self):
        deadline = time.monotonic() + 120  # bounded, whatever happens to the test
        while self.running and time.monotonic() < deadline:
            with self.lock:
                batch = list(self.tokens.items())
            for kind, (kid, token) in batch:
                start = time.time()
                status = send(self.port, "/", [("authorization", f"Bearer {token}")]).status
                self.records.append((start, time.time(), kind, kid, status))

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.running = False
        for thread in self.threads:
            thread.join(timeout=30)


def wait_applied(envoy, generation, threads):
    """When every VM applied `generation`, from the log; fails after 10 s."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        applied = envoy.applied(generation)
        if len(applied) >= threads:
            return max(applied.values())
        time.sleep(0.01)
    pytest.fail(f"generation {generation} not applied by {threads} VMs: {envoy.applied(generation)}")


def test_rotation_under_load(keys, upstream, report):
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": "rotating", "exp": now + 3600}
    token = {kid: keys.token(alg, kid, claims) for alg, kid in KEYS}
    envoy = EcdsEnvoy(config(keys, 1, KEYS[:1]), upstream.port)
    try:
        threads = len(envoy.applied(1))  # the main thread's VM and one per worker
        assert threads >= 3, envoy.applied(1)
        generation = 1
        valid_from = {KEYS[0][1]: 0.0}
        retire_pushed, retire_applied, propagation = {}, {}, []
        with Load(envoy.port) as load:
            load.set(current=(KEYS[0][1], token[KEYS[0][1]]), tampered=("-", tampered(token[KEYS[0][1]])))
            time.sleep(SETTLE)
            for (_, old), (alg, new) in zip(KEYS, KEYS[1:]):
                # 1. Publish the new key beside the old one.
                generation += 1
                pushed = envoy.push(config(keys, generation, [k for k in KEYS if k[1] in (old, new)]))
                valid_from[new] = wait_applied(envoy, generation, threads)
                propagation.append(valid_from[new] - pushed)
                time.sleep(SETTLE)
                # 2. Switch the signer, only once every VM has the new key.
                load.set(current=(new, token[new]), previous=(old, token[old]),
                         tampered=("-", tampered(token[new])))
                time.sleep(SETTLE)
                # 3. Retire the old key; its tokens keep coming.
                generation += 1
                retire_pushed[old] = envoy.push(config(keys, generation, [(alg, new)]))
                retire_applied[old] = wait_applied(envoy, generation, threads)
                propagation.append(retire_applied[old] - retire_pushed[old])
                time.sleep(SETTLE)
        records = load.records
        server_errors = [r for r in records if r[4] >= 500]
        # Log timestamps have millisecond resolution: allow for it.
        valid = [r for r in records if r[2] != "tampered" and r[0] >= valid_from[r[3]] + 0.002
                 and r[1] <= retire_pushed.get(r[3], float("inf"))]
        retired = [r for r in records if r[3] in retire_applied and r[0] > retire_applied[r[3]] + 0.002]
        forged = [r for r in records if r[2] == "tampered"]
        assert not server_errors, server_errors[:5]
        assert len(valid) > 100 and len(retired) > 20 and len(forged) > 50, (len(valid), len(retired), len(forged))
        rejected_valid = [r for r in valid if r[4] != 200]
        accepted_retired = [r for r in retired if r[4] != 401]
        accepted_forged = [r for r in forged if r[4] != 401]
        assert not rejected_valid, rejected_valid[:5]
        assert not accepted_retired, accepted_retired[:5]
        assert not accepted_forged, accepted_forged[:5]
        report(f"rotation: {len(KEYS) - 1} rotations, {len(records)} requests judged "
               f"({len(valid)} valid all allowed, {len(retired)} retired-key all refused, "
               f"{len(forged)} tampered all refused, 0 5xx)")
        report(f"rotation: push to applied on all {threads} VMs: "
               f"{', '.join(f'{p * 1000:.0f}' for p in propagation)} ms "
               f"(max {max(propagation) * 1000:.0f} ms)")
        assert envoy.ecds_stat("config_fail") == 0
    finally:
        envoy.stop()
