#!/usr/bin/env bash
# Peak memory (RSS) of mailtap on large synthetic captures, to show it is bounded by the flows
# live at once and does not grow with the file size:
#   (a) 1,000,000 SYN-only connections to port 25, and a file twice as large (2,000,000);
#   (b) 100,000 concurrent SMTP sessions (all opened before any closes), and a file twice as
#       large (the same 100,000 twice over, one round after the other);
#   (c) 200,000 concurrent sessions: twice the live flows (the default --max-flows is 200,000);
#   (d) one EHLO line of 1 MB, then of 2 MB, sent one byte per segment (time must stay linear),
#       and the 1 MB line sent last byte first (every segment held out of order: the store is
#       bounded by Config::max_out_of_order, 1 MiB, per-segment overhead included).
# Each file is read with --format jsonl (streamed: sessions are written as they end) and with
# the default table (a sorted document: every session is kept until the end, by design).
#
#   scripts/memory-bound.sh              # builds release, writes the files to a temporary folder
#   MAILTAP=target/release/mailtap KEEP=/tmp/load scripts/memory-bound.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x /usr/bin/time ]; then
    apt-get install -y time >/dev/null
fi
if [ -z "${MAILTAP:-}" ]; then
    CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}" cargo build --release --quiet
    MAILTAP=target/release/mailtap
fi
dir=${KEEP:-$(mktemp -d)}
mkdir -p "$dir"
[ -n "${KEEP:-}" ] || trap 'rm -rf "$dir"' EXIT

gen() { # name, generator arguments...
    local name=$1
    shift
    [ -s "$dir/$name.pcap" ] || python3 scripts/gen_load.py "$@" "$dir/$name.pcap" >/dev/null
}
gen syn-1m syn 1000000
gen syn-2m syn 2000000
gen concurrent-100k concurrent 100000 1
gen concurrent-100k-x2 concurrent 100000 2
gen concurrent-200k concurrent 200000 1
gen longline-1m longline 1000000
gen longline-2m longline 2000000
gen reverse-1m reverse 1000000

printf '%-20s %9s %10s %7s %12s %12s %8s\n' file MiB frames format "peak RSS KiB" sessions seconds
for name in syn-1m syn-2m concurrent-100k concurrent-100k-x2 concurrent-200k \
    longline-1m longline-2m reverse-1m; do
    file="$dir/$name.pcap"
    formats="jsonl table"
    [[ $name == syn* || $name == concurrent* ]] || formats=jsonl
    for format in $formats; do
        log=$(mktemp)
        /usr/bin/time -v "$MAILTAP" --format "$format" "$file" 2>"$log" >"$log.out"
        rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")
        secs=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$log")
        summary=$(grep -h -E -o '[0-9]+ SMTP session' "$log" "$log.out" | tail -1 | cut -d' ' -f1)
        frames=$(grep -h -E -o '[0-9]+ frames' "$log" "$log.out" | tail -1 | cut -d' ' -f1)
        printf '%-20s %9d %10s %7s %12s %12s %8s\n' "$name" $(($(stat -c %s "$file") >> 20)) \
            "$frames" "$format" "$rss" "$summary" "$secs"
        rm -f "$log" "$log.out"
        eval "rss_${name//-/_}_$format=$rss"
    done
done

# Streaming, a file twice as large must not need more memory (15% slack for allocator noise).
status=0
for pair in syn_1m:syn_2m concurrent_100k:concurrent_100k_x2; do
    small=$(eval echo "\$rss_${pair%%:*}_jsonl")
    large=$(eval echo "\$rss_${pair##*:}_jsonl")
    if [ $((large * 100)) -gt $((small * 115)) ]; then
        echo "FAIL: ${pair##*:} needs $large KiB, ${pair%%:*} $small KiB: RSS grows with the file"
        status=1
    else
        echo "ok: ${pair##*:} $large KiB vs ${pair%%:*} $small KiB (twice the file, same live flows)"
    fi
done
# One flow's out-of-order segments are bounded by their cost, not only their bytes.
if [ "$rss_reverse_1m_jsonl" -gt $((64 * 1024)) ]; then
    echo "FAIL: reverse-1m needs $rss_reverse_1m_jsonl KiB for one flow"
    status=1
else
    echo "ok: reverse-1m $rss_reverse_1m_jsonl KiB for one flow holding one-byte segments out of order"
fi
exit $status
