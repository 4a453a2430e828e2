#!/usr/bin/env bash
# Runs the fuzz targets one after the other (cargo fuzz on the stable toolchain: no sanitizer,
# optimised with debug assertions and overflow checks), each until RUNS executions or
# SECONDS_PER_TARGET seconds, whichever comes first, then prints executions and exec/s.
#
#   fuzz/run-all.sh                 # every target, 10 million runs or 30 minutes each
#   RUNS=100000 fuzz/run-all.sh tls # a smoke run of one target
#
# New inputs go to fuzz/target/work/<target> (git-ignored); fuzz/corpus/<target> holds the
# committed seeds and is only read. A crash is saved under fuzz/artifacts/<target>/: turn it
# into a regression test (copy it to fuzz/corpus/<target>/regress-<what>, which
# tests/mailtap/hostile.rs replays in cargo test, and fix the function it names).
set -uo pipefail
cd "$(dirname "$0")"
runs=${RUNS:-10000000}
secs=${SECONDS_PER_TARGET:-1800}
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1}
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo fuzz list)
fi
cargo fuzz build -s none || exit 2
mkdir -p target/work target/logs
status=0
printf '%-12s %12s %10s %8s %8s  %s\n' target executions exec/s seconds rss_mb result
for t in "${targets[@]}"; do
    mkdir -p "target/work/$t"
    start=$(date +%s)
    if cargo fuzz run -s none "$t" "target/work/$t" "corpus/$t" -- \
        -runs="$runs" -max_total_time="$secs" -rss_limit_mb=512 -timeout=5 \
        -print_final_stats=1 >"target/logs/$t.log" 2>&1; then
        result=ok
    else
        result="FAILED (fuzz/target/logs/$t.log)"
        status=1
    fi
    stat() { grep -m1 "stat::$1" "target/logs/$t.log" | awk '{print $2}'; }
    printf '%-12s %12s %10s %8s %8s  %s\n' "$t" "$(stat number_of_executed_units)" \
        "$(stat average_exec_per_sec)" "$(($(date +%s) - start))" "$(stat peak_rss_mb)" "$result"
done
exit $status
