"""Fixtures for the tests that run the built module in real Envoy (2 workers)."""

import time

import pytest

from harness import EchoUpstream, Envoy, Keys

ISSUER = "https://issuer.example"


@pytest.fixture(scope="session")
def keys():
    return Keys()


@pytest.fixture(scope="session")
def upstream():
    server = EchoUpstream()
    yield server
    server.close()


@pytest.fixture(scope="session")
def start_envoy(upstream):
    """start_envoy(config) -> a running Envoy with the module configured so; all are stopped
    at the end of the session."""
    running = []

    def start(config, **kwargs):
        envoy = Envoy(config, upstream.port, **kwargs)
        running.append(envoy)
        return envoy

    yield start
    for envoy in running:
        envoy.stop()


REPORT = []


@pytest.fixture(scope="session")
def report():
    """report(line): a figure worth reading, printed at the end of the run."""
    return REPORT.append


def pytest_terminal_summary(terminalreporter):
    if REPORT:
        terminalreporter.section("figures")
        for line in REPORT:
            terminalreporter.write_line(line)


def claims(**extra):
    """Claims from ISSUER, valid for an hour from now, plus `extra`."""
    now = int(time.time())
    values = {"iss": ISSUER, "sub": "alice", "iat": now, "exp": now + 3600}
    values.update(extra)
    return {k: v for k, v in values.items() if v is not None}


def bearer(token):
    return [("authorization", f"Bearer {token}")]
