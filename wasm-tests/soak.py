"""Soak: at least a million requests (SOAK_REQUESTS) through Envoy with the module, 2 workers,
a mix of valid, invalid, malformed, oversized and distinct tokens, each with the status it
must get. Reports 5xx answers, wrong verdicts, and the VM's memory and Envoy's resident
memory as the run goes: the token cache must not grow without limit.

wrk drives the load with one connection per thread, so each response answers the request
the thread sent last and is checked against that request's expected status (soak.lua).
"""

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time

from harness import ROOT, ROUTER, Envoy, Keys, send, wasm_filter

ISSUER = "https://issuer.soak"
AUDIENCE = "soak-api"
KEYS = [("RS256", "s-rs"), ("ES256", "s-es"), ("EdDSA", "s-ed"), ("HS256", "s-hs")]
DISTINCT_PER_KEY = 1500  # 6000 distinct valid tokens: far more than the cache's 100 entries
ROUND_SECONDS = int(os.environ.get("SOAK_ROUND_SECONDS", 20))
THREADS = 4


def config(jwks):
    return {
        "providers": {"p": {
            "issuer": ISSUER, "audiences": [AUDIENCE], "jwks": jwks,
            "from_headers": [{"name": "authorization", "value_prefix": "Bearer "}],
            "from_params": ["access_token"],
            "claim_to_headers": [{"header_name": "x-user", "claim_name": "sub"}],
        }},
        "rules": [
            {"match": {"prefix": "/public"}},
            {"match": {"prefix": "/admin"}, "requires": {"provider_name": "p"},
             "claims": [{"name": "scope", "contains": "admin"}]},
            {"match": {"prefix": "/"}, "requires": {"provider_name": "p"}},
        ],
    }


def workload(keys):
    """(name, weight, expected status, path, header sets) per kind of request: a request of
    a kind carries one of its header sets, at random."""
    now = int(time.time())
    good = {"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "scope": "read", "iat": now, "exp": now + 7200}
    distinct = []
    for alg, kid in KEYS:
        output = keys._tool("mint", "--key", str(keys.key(alg, kid)), "--claims", json.dumps(good),
                            "--count", str(DISTINCT_PER_KEY))
        distinct += output.split()
    hot = [keys.token(alg, kid, good) for alg, kid in KEYS]
    token = hot[1]
    head, payload, signature = token.split(".")
    flipped = f"{head}.{payload}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    bearer = lambda t: [("authorization", f"Bearer {t}")]
    return [
        ("distinct valid", 30, 200, "/api", [bearer(t) for t in distinct]),
        ("repeated valid", 20, 200, "/api", [bearer(t) for t in hot]),
        ("no token needed", 5, 200, "/public/page", [[]]),
        ("claim condition met", 5, 200, "/admin/x", [bearer(keys.token("ES256", "s-es", {**good, "scope": "read admin"}))]),
        ("claim condition failed", 5, 403, "/admin/x", [bearer(token)]),
        ("missing", 5, 401, "/api", [[]]),
        ("expired", 5, 401, "/api", [bearer(keys.token("ES256", "s-es", {**good, "exp": now - 600, "iat": now - 1200}))]),
        ("wrong audience", 5, 403, "/api", [bearer(keys.token("HS256", "s-hs", {**good, "aud": "elsewhere"}))]),
        ("wrong issuer", 5, 401, "/api", [bearer(keys.token("RS256", "s-rs", {**good, "iss": "https://other"}))]),
        ("bad signature", 5, 401, "/api", [bearer(flipped)]),
        ("unknown kid", 3, 401, "/api", [bearer(keys.token("ES256", "s-es", good, token_kid="unknown"))]),
        ("malformed", 3, 401, "/api", [bearer(t) for t in ("abc", "a.b.c", f"{head}.{payload}", token[:-7], "%%%.x.y",
                                                 f"{head}=.{payload}.{signature}")]),
        ("oversized (20 KB)", 2, 401, "/api", [bearer(f"{head}.{'A' * 20000}.{signature}")]),
        ("two tokens", 2, 400, f"/api?access_token={hot[0]}", [bearer(hot[2])]),
    ]


LUA = r"""
-- The workload, one line per request variant: kind, weight, status, path, then a header
-- name and value or nothing, separated by tabs.
local kinds, schedule = {}, {}
for line in io.lines(os.getenv("SOAK_ENTRIES")) do
  local kind, weight, status, path, name, value = line:match("^(%d+)\t(%d+)\t(%d+)\t([^\t]*)\t?([^\t]*)\t?(.*)$")
  kind = tonumber(kind)
  if not kinds[kind] then
    kinds[kind] = {status = tonumber(status), path = path, variants = {}}
    for _ = 1, tonumber(weight) do table.insert(schedule, kinds[kind]) end
  end
  local headers = {}
  if name ~= "" then headers[name] = value end
  table.insert(kinds[kind].variants, headers)
end
local threads = {}
local expected, counter

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  counter = id * 7919
  math.randomseed(id + 1)
  bad_status, server_errors, checked = 0, 0, 0
  first_bad = ""
end

function request()
  counter = counter + 1
  local kind = schedule[counter % #schedule + 1]
  expected = kind.status
  return wrk.format("GET", kind.path, kind.variants[math.random(#kind.variants)])
end

function response(status, headers, body)
  checked = checked + 1
  if status >= 500 then server_errors = server_errors + 1 end
  if status ~= expected then
    bad_status = bad_status + 1
    if first_bad == "" then first_bad = expected .. " expected, got " .. status .. ": " .. body end
  end
end

function done(summary, latency, requests)
  local bad, errors, seen, first = 0, 0, 0, ""
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("bad_status")
    errors = errors + thread:get("server_errors")
    seen = seen + thread:get("checked")
    if first == "" then first = thread:get("first_bad") end
  end
  io.write(string.format("SOAK checked=%d wrong=%d server_errors=%d first_wrong=%q\n", seen, bad, errors, first))
end
"""


def entry_lines(entries):
    """The workload as soak.lua reads it."""
    lines = []
    for kind, (_, weight, status, path, variants) in enumerate(entries):
        for headers in variants:
            fields = [str(kind), str(weight), str(status), path] + [x for pair in headers for x in pair]
            lines.append("\t".join(fields))
    return "\n".join(lines) + "\n"


def vm_memory(envoy):
    found = re.findall(r"jwt_policy\.vm_memory_bytes: (\d+)", envoy.stats("jwt_policy.vm_memory"))
    return int(found[0]) if found else 0


def rss(envoy):
    status = pathlib.Path(f"/proc/{envoy.process.pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) * 1024


def main():
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt-get install wrk)")
    target = int(os.environ.get("SOAK_REQUESTS", 1_000_000))
    keys = Keys()
    jwks = keys.jwks(*KEYS)
    entries = workload(keys)
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="jwt-policy-soak-"))
    (workdir / "entries.txt").write_text(entry_lines(entries))
    (workdir / "soak.lua").write_text(LUA)
    envoy = Envoy(template="bench.yaml", workers=2, wasm_log_level="info",
                  extra={"HTTP_FILTERS": json.dumps([wasm_filter(config(jwks)), ROUTER])})
    try:
        # Each kind once by hand first: the expected statuses are this Envoy's answers, not
        # a guess of the script's.
        for name, _, status, path, variants in entries:
            answer = send(envoy.port, path, variants[0]).status
            if answer != status:
                sys.exit(f"{name}: expected {status}, Envoy answered {answer}")
        samples = [(0, vm_memory(envoy), rss(envoy))]
        total = wrong = errors = 0
        started = time.time()
        while total < target:
            output = subprocess.run(
                ["wrk", f"-t{THREADS}", f"-c{THREADS}", f"-d{ROUND_SECONDS}s", "-s", str(workdir / "soak.lua"),
                 f"http://127.0.0.1:{envoy.port}"],
                capture_output=True, text=True, env={**os.environ, "SOAK_ENTRIES": str(workdir / "entries.txt")},
            )
            output = output.stdout + output.stderr
            found = re.search(r"SOAK checked=(\d+) wrong=(\d+) server_errors=(\d+) first_wrong=(.*)", output)
            if not found:
                sys.exit(f"wrk printed no result:\n{output}")
            total += int(found.group(1))
            wrong += int(found.group(2))
            errors += int(found.group(3))
            if int(found.group(2)):
                print("wrong verdict:", found.group(4), flush=True)
            samples.append((total, vm_memory(envoy), rss(envoy)))
            print(f"{total} requests, {wrong} wrong, {errors} 5xx, VM memory {samples[-1][1] / 1048576:.2f} MiB, "
                  f"Envoy RSS {samples[-1][2] / 1048576:.1f} MiB", flush=True)
        elapsed = time.time() - started
        crashed = "Wasm VM failed" in envoy.log() or "panicked" in envoy.log()
    finally:
        envoy.stop()
    lines = [
        "# Soak: jwt-policy in Envoy 1.40.0, 2 workers", "",
        f"{total} requests in {elapsed:.0f} s ({total / elapsed:.0f}/s), wrk {THREADS} threads × 1 connection.",
        "Mix, by weight (expected status): " + ", ".join(f"{n} {w} ({s})" for n, w, s, _, _ in entries)
        + f"; {len(entries[0][4])} distinct valid tokens (the cache holds 100).", "",
        f"- 5xx answers: {errors}",
        f"- wrong verdicts: {wrong}",
        f"- VM crashed: {'yes' if crashed else 'no'}",
        f"- VM linear memory (gauge jwt_policy.vm_memory_bytes): {samples[0][1] / 1048576:.2f} MiB at start, "
        f"{samples[-1][1] / 1048576:.2f} MiB at the end",
        f"- Envoy resident memory: {samples[0][2] / 1048576:.1f} MiB at start, {samples[-1][2] / 1048576:.1f} MiB "
        f"at the end", "",
        "| requests | VM memory (MiB) | Envoy RSS (MiB) |", "|---:|---:|---:|",
    ] + [f"| {n} | {vm / 1048576:.2f} | {r / 1048576:.1f} |" for n, vm, r in samples]
    (ROOT / "results").mkdir(exist_ok=True)
    (ROOT / "results" / "soak.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    sys.exit(1 if errors or wrong or crashed else 0)


if __name__ == "__main__":
    main()
