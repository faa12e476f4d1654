"""Keys from the issuer's endpoint (Envoy's remote_jwks), served by a local JWKS server that
Envoy reaches as a cluster: the first fetch, refreshes, failures, and the issuer rotating its
keys."""

import time

import pytest

from conftest import ISSUER, bearer, claims
from harness import EcdsEnvoy, JwksServer, cluster
from test_metrics import prometheus


def config(server, generation=1, **remote):
    return {
        "generation": generation,
        "providers": {"idp": {
            "issuer": ISSUER,
            "remote_jwks": {
                "http_uri": {"uri": f"http://127.0.0.1:{server.port}/.well-known/jwks.json",
                             "cluster": "jwks", "timeout": "2s"},
                **remote,
            },
        }},
        "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "idp"}}],
    }


@pytest.fixture
def server():
    server = JwksServer()
    yield server
    server.close()


@pytest.fixture
def start(upstream, server):
    started = []

    def start(**remote):
        envoy = EcdsEnvoy(config(server, **remote), upstream.port, clusters=[cluster("jwks", server.port)])
        started.append(envoy)
        return envoy

    yield start
    for envoy in started:
        envoy.stop()


def statuses(envoy, token, n=4):
    return [envoy.request("/", bearer(token)).status for _ in range(n)]


def wait_for(condition, what, seconds=10):
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_the_first_requests_get_the_fetched_keys(start, server, keys):
    server.document = keys.jwks(("ES256", "r1"))
    envoy = start(cache_duration="600s")
    # Not one request is refused for want of keys: the first ones wait for the fetch.
    assert statuses(envoy, keys.token("ES256", "r1", claims())) == [200] * 4
    assert statuses(envoy, keys.token("ES256", "r1", claims()), 1) == [200]
    assert 1 <= server.fetches <= 4  # at most one per VM, however many requests
    wait_for(lambda: prometheus(envoy).get("jwt_policy_jwks_fetch_success", 0) >= 1, "the fetch counter")


def test_a_new_kid_is_fetched_early_and_a_retired_one_refused(start, server, keys):
    server.document = keys.jwks(("ES256", "r1"))
    envoy = start(cache_duration="600s", unknown_kid_refetch_interval="1s")
    old = keys.token("ES256", "r1", claims())
    assert statuses(envoy, old) == [200] * 4
    fetched = server.fetches
    # The issuer rotates: it publishes a new key and signs with it, long before 600 s.
    server.document = keys.jwks(("ES256", "r1"), ("RS256", "r2"))
    new = keys.token("RS256", "r2", claims())
    assert statuses(envoy, new) == [200] * 4, "the unknown kid made each VM fetch again, once"
    assert fetched < server.fetches <= fetched + 3
    # Then it retires the old key; after the next fetch its tokens are refused, even the
    # ones a cache had verified before.
    server.document = keys.jwks(("RS256", "r2"))
    time.sleep(1.1)
    envoy.request("/", bearer(keys.token("RS256", "r3", claims())))  # an unknown kid: refetch
    envoy.request("/", bearer(keys.token("RS256", "r3", claims())))
    wait_for(lambda: set(statuses(envoy, old)) == {401}, "the retired key to be refused on every VM")
    assert set(statuses(envoy, new)) == {200}


def test_unknown_kids_cannot_make_it_fetch_in_a_loop(start, server, keys):
    server.document = keys.jwks(("ES256", "r1"))
    envoy = start(cache_duration="600s", unknown_kid_refetch_interval="10s")
    assert statuses(envoy, keys.token("ES256", "r1", claims())) == [200] * 4
    before = server.fetches
    responses = [envoy.request("/", bearer(keys.token("ES256", "r1", claims(), token_kid=f"spray-{i}")))
                 for i in range(20)]
    assert {r.status for r in responses} == {401}
    assert {r.text for r in responses} == {"Jwks doesn't have key to match kid or alg from Jwt"}
    # At most one early fetch per VM in 10 s (three VMs: the main thread's and two workers).
    assert server.fetches - before <= 3


def test_refresh_after_cache_duration(start, server, keys):
    server.document = keys.jwks(("ES256", "r1"))
    envoy = start(cache_duration="1s", unknown_kid_refetch_interval="600s")
    assert statuses(envoy, keys.token("ES256", "r1", claims())) == [200] * 4
    server.document = keys.jwks(("EdDSA", "r2"))
    # No early fetch is allowed here (600 s apart), so this is the periodic refresh.
    wait_for(lambda: set(statuses(envoy, keys.token("EdDSA", "r2", claims()))) == {200}, "the refresh")


def test_a_failing_endpoint_keeps_the_last_good_keys(start, server, keys):
    server.document = keys.jwks(("ES256", "r1"))
    envoy = start(cache_duration="1s", async_fetch={"failed_refetch_duration": "0.5s"})
    token = keys.token("ES256", "r1", claims())
    assert statuses(envoy, token) == [200] * 4
    server.status = 500
    wait_for(lambda: prometheus(envoy).get("jwt_policy_jwks_fetch_failed", 0) >= 2, "failed refreshes")
    assert statuses(envoy, token) == [200] * 4
    # Garbage instead of a key set is a failure too, and also keeps the last good copy.
    server.status = 200
    server.document = {"keys": "not a list"}
    failed = prometheus(envoy)["jwt_policy_jwks_fetch_failed"]
    wait_for(lambda: prometheus(envoy)["jwt_policy_jwks_fetch_failed"] > failed, "a refused key set")
    assert statuses(envoy, token) == [200] * 4


def test_no_key_set_ever_is_a_clear_refusal(start, server, keys):
    server.status = 503
    envoy = start(cache_duration="600s")
    response = envoy.request("/", bearer(keys.token("ES256", "r1", claims())))
    assert (response.status, response.text) == (401, "Jwks remote fetch is failed")
    assert response.header("www-authenticate").endswith('error="invalid_token"')
