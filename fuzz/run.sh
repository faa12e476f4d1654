#!/usr/bin/env bash
# Runs each fuzz target for FUZZ_SECONDS (default 60) on its committed corpus, which grows
# with what the run finds; writes results/fuzz.md and fails if any target crashed. A crash
# leaves its reproducer in fuzz/artifacts/<target>/: commit it beside the fix, as a
# regression input (`cargo fuzz run <target> <file>` replays it).
set -u -o pipefail
cd "$(dirname "$0")"
seconds=${FUZZ_SECONDS:-60}
targets=${FUZZ_TARGETS:-request signed_claims config jwks}
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
# cargo fuzz passes the compiler nightly-only flags (sanitizer coverage); this machine has
# one stable toolchain, which accepts them when told it is building itself.
export RUSTC_BOOTSTRAP=1
mkdir -p ../results ../target/fuzz-logs
declare -A drives=(
  [request]="arbitrary requests (headers, path, query, cookies, header maps) through \`Policy::check\`, every key type, host DER path"
  [signed_claims]="arbitrary JWS header and claims, validly signed (HMAC, Ed25519), through \`Policy::check\`"
  [config]="arbitrary documents through \`Policy::from_json\`"
  [jwks]="arbitrary JSON objects through \`KeySet::parse\`"
)
report=(
  "# Coverage-guided fuzzing (cargo fuzz, libFuzzer)" ""
  "$(date -u +%F), ${seconds} s per target (\`FUZZ_SECONDS=${seconds} make fuzz\`)." ""
  "| target | what it drives | executions | corpus | crashes |" "|---|---|---:|---:|---:|"
)
failed=0
for target in $targets; do
  mkdir -p "corpus/$target"
  # Earlier reproducers run first: each must no longer crash.
  inputs=("corpus/$target")
  [ -d "artifacts/$target" ] && inputs+=("artifacts/$target")
  log=../target/fuzz-logs/$target.log
  cargo fuzz run -O "$target" "${inputs[@]}" -- \
    -max_total_time="$seconds" -max_len=16384 -print_final_stats=1 >"$log" 2>&1
  status=$?
  runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -n 1)
  crashes=0
  if [ "$status" -ne 0 ]; then
    crashes=1 failed=1
    grep -E 'panicked|ERROR|SUMMARY|Test unit written' "$log" | head -n 5
  fi
  report+=("| $target | ${drives[$target]:-} | ${runs:-?} | $(ls "corpus/$target" | wc -l) | $crashes |")
  echo "$target: ${runs:-?} executions, exit $status"
done
printf '%s\n' "${report[@]}" | tee ../results/fuzz.md
exit $failed
