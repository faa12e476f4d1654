"""`make bench`: the module against Envoy's native jwt_authn, side by side in one run.

The same Envoy binary, one worker each, the same key set and tokens, wrk on 127.0.0.1 with one
thread. (Pinning Envoy to one core and wrk to the other made runs noisier here: Envoy's main
thread and V8's helper threads then share the worker's core.) Every (algorithm, token mix) workload is measured in interleaved
rounds (A B C ... A B C ...) so drift on a shared machine falls on every variant alike. Ratios
are the point; lone numbers from a shared 2-core machine are not.

Writes results/bench.json and results/bench.md, and prints the Markdown.
Environment: BENCH_SECONDS (per run, default 3), BENCH_ROUNDS (default 7),
BENCH_CONNECTIONS (default 16), BENCH_DISTINCT (distinct tokens, default 2000).
"""

import json
import os
import pathlib
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from harness import ROOT, ROUTER, Envoy, Keys, native_filter, wasm_filter, wasm_path

ISSUER = "https://issuer.bench"
ALGORITHMS = [("RS256", "b-rsa"), ("ES256", "b-ec"), ("EdDSA", "b-ed"), ("HS256", "b-hs")]
SECONDS = int(os.environ.get("BENCH_SECONDS", 3))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", 7))
# V8 compiles hot wasm functions with its optimizing tier in the background: the first
# seconds of a fresh Envoy run slower code, so every Envoy gets this much load first.
WARMUP_SECONDS = int(os.environ.get("BENCH_WARMUP", 10))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", 16))
DISTINCT = int(os.environ.get("BENCH_DISTINCT", 2000))
RESULTS = ROOT / "results"

WRK_SCRIPT = """
local tokens = {}
local index = 0
init = function(args)
  for line in io.lines(args[1]) do tokens[#tokens + 1] = line end
  index = math.random(#tokens)
end
request = function()
  index = index % #tokens + 1
  return wrk.format("GET", "/bench", {["Authorization"] = "Bearer " .. tokens[index]})
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('RESULT {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,' ..
    '"errors":%d,"non_2xx":%d}\\n', summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
"""


def provider(jwks, native):
    p = {
        "issuer": ISSUER,
        "audiences": ["bench"],
        "claim_to_headers": [{"header_name": "x-user", "claim_name": "sub"}],
    }
    if native:
        p["local_jwks"] = {"inline_string": json.dumps(jwks)}
    else:
        p["jwks"] = jwks
    return p


def authn(jwks, native, cache=None, host=True):
    config = {
        "providers": {"bench": provider(jwks, native)},
        "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "bench"}}],
    }
    if cache is not None:
        config["providers"]["bench"]["jwt_cache_config"] = {"jwt_cache_size": cache}
    if not host:
        config["use_host_signatures"] = False
    return config


def variants(jwks):
    """name -> the HTTP filters in front of the router."""
    return {
        "no auth": [],
        "native": [native_filter(authn(jwks, True))],
        "native + cache": [native_filter(authn(jwks, True, cache=100))],
        "ours, cache off": [wasm_filter(authn(jwks, False, cache=0))],
        "ours (default)": [wasm_filter(authn(jwks, False))],
        "ours, in-VM crypto, cache off": [wasm_filter(authn(jwks, False, cache=0, host=False))],
        # Diagnostic: the module loaded but no rule requiring a token, the floor any wasm
        # filter pays per request in this Envoy.
        "ours, no rule": [wasm_filter({"providers": authn(jwks, False)["providers"]})],
    }


def start(filters):
    return Envoy(template="bench.yaml", workers=1, wasm_log_level="info",
                 extra={"HTTP_FILTERS": json.dumps(filters + [ROUTER])})


def run_wrk(port, tokens_file, script, seconds):
    command = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", "-s", str(script),
               f"http://127.0.0.1:{port}/", "--", str(tokens_file)]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    match = re.search(r"RESULT (\{.*\})", output)
    if not match:
        raise RuntimeError(f"wrk printed no result:\n{output}")
    result = json.loads(match.group(1))
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


def main():
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt-get install wrk)")
    work = pathlib.Path(tempfile.mkdtemp(prefix="jwt-policy-bench-"))
    script = work / "tokens.lua"
    script.write_text(WRK_SCRIPT)
    keys = Keys()
    jwks = keys.jwks(*ALGORITHMS)
    far = int(time.time()) + 7 * 24 * 3600
    claims = json.dumps({"iss": ISSUER, "aud": "bench", "sub": "bench-user", "exp": far})
    workloads = []
    print(f"Minting tokens ({DISTINCT} distinct per algorithm)...", flush=True)
    for alg, kid in ALGORITHMS:
        reused = work / f"{alg}-reused.txt"
        reused.write_text(keys.token(alg, kid, claims) + "\n")
        distinct = work / f"{alg}-distinct.txt"
        distinct.write_text(keys._tool("mint", "--key", str(keys.key(alg, kid)), "--claims", claims,
                                       "--count", str(DISTINCT)) + "\n")
        workloads += [(alg, "reused", reused), (alg, f"{DISTINCT} distinct", distinct)]

    envoys = {}
    try:
        for name, filters in variants(jwks).items():
            envoys[name] = start(filters)
        print(f"Warming up each Envoy for {WARMUP_SECONDS} s...", flush=True)
        for envoy in envoys.values():
            run_wrk(envoy.port, workloads[0][2], script, WARMUP_SECONDS)
        results = []
        for alg, mix, tokens in workloads:
            print(f"{alg}, {mix} token(s):", flush=True)
            samples = {name: [] for name in envoys}
            for name, envoy in envoys.items():  # warm up every VM and cache
                run_wrk(envoy.port, tokens, script, 1)
            for _ in range(ROUNDS):
                for name, envoy in envoys.items():
                    samples[name].append(run_wrk(envoy.port, tokens, script, SECONDS))
            for name, runs in samples.items():
                bad = sum(r["non_2xx"] + r["errors"] for r in runs)
                if bad:
                    raise RuntimeError(f"{name}, {alg} {mix}: {bad} failed requests\n{envoys[name].log()[-3000:]}")
                row = {
                    "alg": alg, "tokens": mix, "variant": name,
                    "rps": statistics.median(r["rps"] for r in runs),
                    "p50_us": statistics.median(r["p50_us"] for r in runs),
                    "p99_us": statistics.median(r["p99_us"] for r in runs),
                    "rounds": [r["rps"] for r in runs],
                }
                results.append(row)
                print(f"  {name:32} {row['rps']:9.0f} req/s  p50 {row['p50_us']:6.0f} us  p99 {row['p99_us']:6.0f} us",
                      flush=True)
        extras = {
            "module_bytes": wasm_path().stat().st_size,
            "configure_100_keys": configure_time(keys),
            "memory": memory(envoys["ours (default)"]),
        }
    finally:
        for envoy in envoys.values():
            envoy.stop()
    write(results, extras)


def configure_time(keys):
    """How long the module takes to apply a configuration with 100 keys, as it logs it."""
    mixed = keys.jwks(*[(alg, f"cfg-{alg}-{i}") for i in range(25) for alg, _ in ALGORITHMS])
    envoy = start([wasm_filter(authn(mixed, False))])
    try:
        times = [float(m) for m in re.findall(r"configuration applied in ([0-9.]+) ms", envoy.log())]
    finally:
        envoy.stop()
    return {"keys": len(mixed["keys"]), "ms": times}


def memory(envoy):
    stats = envoy.stats("jwt_policy")
    pages = re.findall(r"jwt_policy\.vm_memory_bytes: (\d+)", stats)
    return {"vm_memory_bytes": [int(p) for p in pages]}


def paired_ratio(by, alg, mix, ours, theirs):
    """The median over rounds of ours / theirs within each round: the two ran back to back,
    so drift on the machine mostly cancels, which a ratio of medians would not do."""
    return statistics.median(a / b for a, b in zip(by[(alg, mix, ours)]["rounds"], by[(alg, mix, theirs)]["rounds"]))


def table(results):
    by = {(r["alg"], r["tokens"], r["variant"]): r for r in results}
    lines = ["| algorithm | tokens | variant | req/s | p50 µs | p99 µs | vs native | vs native + cache | vs no auth |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        ratio = lambda other: f"{paired_ratio(by, r['alg'], r['tokens'], r['variant'], other):.2f}×"
        lines.append(f"| {r['alg']} | {r['tokens']} | {r['variant']} | {r['rps']:.0f} | {r['p50_us']:.0f} | "
                     f"{r['p99_us']:.0f} | {ratio('native')} | {ratio('native + cache')} | {ratio('no auth')} |")
    return "\n".join(lines)


def targets(results):
    by = {(r["alg"], r["tokens"], r["variant"]): r for r in results}
    distinct = f"{DISTINCT} distinct"
    rows = []

    def check(label, alg, mix, ours, theirs, goal):
        ratio = paired_ratio(by, alg, mix, ours, theirs)
        rows.append(f"| {label} | {alg} | {ratio:.2f}× | ≥ {goal}× | {'met' if ratio >= goal else 'missed'} |")

    for alg in ["RS256", "ES256"]:
        check("default vs native default, reused token", alg, "reused", "ours (default)", "native", 1.5)
    for alg in ["RS256", "ES256", "HS256"]:
        check("cache off vs native without cache", alg, distinct, "ours, cache off", "native", 0.95)
    for alg, _ in ALGORITHMS:
        check("cache on vs native with cache, reused token", alg, "reused", "ours (default)", "native + cache", 1.0)
    for alg, _ in ALGORITHMS:
        check("cache on vs no auth, reused token", alg, "reused", "ours (default)", "no auth", 0.9)
    for alg, _ in ALGORITHMS:
        check("many distinct tokens: cache on vs cache off", alg, distinct, "ours (default)", "ours, cache off", 1.0)
    return "\n".join(["| target | algorithm | measured | goal | |", "|---|---|---:|---:|---|"] + rows)


def verification_cost(results):
    """Per-request time with a full verification minus with a cache hit: what parsing and
    checking one token costs inside the VM, by path."""
    by = {(r["alg"], r["tokens"], r["variant"]): r["rps"] for r in results}
    lines = ["| algorithm | host path (µs/token) | in-VM crypto (µs/token) |", "|---|---:|---:|"]
    for alg, _ in ALGORITHMS:
        hit = 1e6 / by[(alg, "reused", "ours (default)")]
        host = 1e6 / by[(alg, f"{DISTINCT} distinct", "ours, cache off")] - hit
        vm = 1e6 / by[(alg, f"{DISTINCT} distinct", "ours, in-VM crypto, cache off")] - hit
        lines.append(f"| {alg} | {host:.1f} | {vm:.1f} |")
    return "\n".join(lines)


def write(results, extras):
    RESULTS.mkdir(exist_ok=True)
    settings = {"seconds": SECONDS, "rounds": ROUNDS, "connections": CONNECTIONS, "distinct_tokens": DISTINCT,
                "envoy": subprocess.run([os.environ.get("ENVOY_BIN", "envoy"), "--version"],
                                        capture_output=True, text=True).stdout.strip(),
                "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    (RESULTS / "bench.json").write_text(json.dumps({"settings": settings, "results": results, **extras}, indent=2))
    memory = extras["memory"]["vm_memory_bytes"]
    markdown = "\n\n".join([
        "# Benchmark: jwt-policy against Envoy's native jwt_authn",
        f"{settings['date']}; {settings['envoy']}; one worker per Envoy; wrk -t1 -c{CONNECTIONS}, "
        f"{ROUNDS} interleaved rounds of {SECONDS} s per variant. Rates and latencies are medians; "
        f"a ratio is the median of the per-round ratios (each pair ran back to back).",
        "## Targets", targets(results),
        "## All runs", table(results),
        "## Verification cost inside the VM", verification_cost(results),
        "## Size, configure time, memory",
        f"- module: {extras['module_bytes']} bytes ({extras['module_bytes'] / 1048576:.2f} MiB)\n"
        f"- configure time, {extras['configure_100_keys']['keys']} keys (25 each RS256, ES256, EdDSA, HS256): "
        f"{', '.join(f'{t:.1f}' for t in extras['configure_100_keys']['ms'])} ms per VM\n"
        f"- VM linear memory after the runs, default cache full: "
        f"{', '.join(f'{m / 1048576:.2f} MiB' for m in memory) or 'not reported'}",
    ])
    (RESULTS / "bench.md").write_text(markdown + "\n")
    print("\n" + markdown)


if __name__ == "__main__":
    main()
