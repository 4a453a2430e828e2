#!/usr/bin/env bash
# mailtap against tshark and cat, on captures generated here.
#
#   benches/compare.sh            # from a fresh clone; installs tshark, time and jq when missing
#
# It builds mailtap (release) and the load generator (examples/gen_captures.rs), writes
#   (a) about 1 GB of mixed traffic: bulk TCP/UDP on other ports, 3% SMTP sessions of every
#       verdict,
#   (b) an all-SMTP capture of 120,000 connections (sessions of every verdict, plus attempts
#       without data), and
#   (c) a mail gateway's capture, SMTP-dense: 200 MB where SMTP sessions are two thirds of the
#       packets (the rest bulk TCP),
# checks that mailtap's verdict counts (and frame, byte and attempt counts) are exactly what the
# generator wrote — a fast wrong answer fails the script — then times, on the same files with the
# page cache warm, one-thread commands pinned to CPU 0:
#   mailtap --format jsonl --threads 1 FILE > /dev/null
#   mailtap --format jsonl --threads N FILE > /dev/null   (N = all CPUs, on all of them)
#   tshark -r FILE -Y smtp -d tcp.port==2525,smtp -d tcp.port==10025,smtp > /dev/null
#   cat FILE > /dev/null                      (the floor: reading the file)
# and, on the all-SMTP capture compressed with gzip -1 and zstd -3 (written once, beside it),
#   mailtap --format jsonl FILE.gz|FILE.zst > /dev/null   (all CPUs: decompression beside analysis)
#   zcat FILE.gz / zstdcat FILE.zst > /dev/null            (the floor: decompressing alone)
# and prints the median time of several runs, MB/s, packets/s, sessions/s, peak RSS
# (/usr/bin/time -v), and the ratios, against the targets.
#
# Environment: RUNS (mailtap and cat runs, default 5), TSHARK_RUNS (default 3), MIXED_MB
# (default 1000), SMTP_SESSIONS (default 120000), DENSE_MB (default 200), BENCH_DIR (default
# target/bench-data),
# CPU (default 0), STRICT=1 (exit 1 when a target is missed, not only on wrong counts).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-5}
TSHARK_RUNS=${TSHARK_RUNS:-3}
MIXED_MB=${MIXED_MB:-1000}
SMTP_SESSIONS=${SMTP_SESSIONS:-120000}
DENSE_MB=${DENSE_MB:-200}
THREADS=$(nproc)
DIR=${BENCH_DIR:-target/bench-data}
CPU=${CPU:-0}
STRICT=${STRICT:-0}

say() { printf '== %s\n' "$*" >&2; }

# --- tools ------------------------------------------------------------------------------------
missing=()
command -v tshark >/dev/null || missing+=(tshark)
[ -x /usr/bin/time ] || missing+=(time)
command -v jq >/dev/null || missing+=(jq)
command -v taskset >/dev/null || missing+=(util-linux)
command -v zstd >/dev/null || missing+=(zstd)
if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # tshark asks whether non-root users may capture: answer no, without a prompt.
    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections 2>/dev/null || true
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

say "building mailtap and the load generator (release)"
cargo build --release --quiet --bin mailtap --example gen_captures
MAILTAP=${CARGO_TARGET_DIR:-$PWD/target}/release/mailtap
GEN=${CARGO_TARGET_DIR:-$PWD/target}/release/examples/gen_captures

# --- captures ---------------------------------------------------------------------------------
mkdir -p "$DIR"
MIXED=$DIR/mixed-${MIXED_MB}MB.pcap
SMTP=$DIR/smtp-${SMTP_SESSIONS}.pcapng
DENSE=$DIR/dense-${DENSE_MB}MB.pcap
# Regenerated when missing or older than the generator.
[ -s "$MIXED" ] && [ "$MIXED" -nt "$GEN" ] || { say "writing $MIXED"; "$GEN" mixed "$MIXED" "$MIXED_MB"; }
[ -s "$SMTP" ] && [ "$SMTP" -nt "$GEN" ] || { say "writing $SMTP"; "$GEN" smtp "$SMTP" "$SMTP_SESSIONS"; }
[ -s "$DENSE" ] && [ "$DENSE" -nt "$GEN" ] || { say "writing $DENSE"; "$GEN" dense "$DENSE" "$DENSE_MB"; }
file_of() { case $1 in mixed) echo "$MIXED" ;; smtp) echo "$SMTP" ;; dense) echo "$DENSE" ;; esac; }
[ -s "$SMTP.gz" ] && [ "$SMTP.gz" -nt "$SMTP" ] || { say "writing $SMTP.gz"; gzip -1 -c "$SMTP" >"$SMTP.gz"; }
[ -s "$SMTP.zst" ] && [ "$SMTP.zst" -nt "$SMTP" ] || { say "writing $SMTP.zst"; zstd -q -3 -f "$SMTP" -o "$SMTP.zst"; }

# --- correctness ------------------------------------------------------------------------------
verify() { # file, threads, [the capture it was compressed from]
    local file=$1 threads=$2 plain=${3:-$1} got want
    got=$("$MAILTAP" --format json --threads "$threads" "$file" | jq -S '.summary | {frames, bytes, sessions, verdicts, connections}')
    want=$(jq -S '{frames, bytes, sessions, verdicts, connections}' "$plain.expected.json")
    if [ "$got" != "$want" ]; then
        say "WRONG ANSWER on $file: mailtap's summary differs from what the generator wrote"
        diff <(echo "$want") <(echo "$got") >&2 || true
        exit 1
    fi
    say "$file ($threads threads): mailtap's counts match the generator's: $(jq -c .verdicts "$plain.expected.json")"
}
for name in mixed smtp dense; do
    verify "$(file_of $name)" 1
    verify "$(file_of $name)" "$THREADS"
done
verify "$SMTP.gz" "$THREADS" "$SMTP"
verify "$SMTP.zst" "$THREADS" "$SMTP"

# --- timing -----------------------------------------------------------------------------------
# time_runs N OUT cmd...: runs cmd N times (stdout to /dev/null); writes "seconds maxrss_kb" lines.
# The seconds include starting /usr/bin/time and taskset (about 2 ms), for every tool alike.
time_runs() {
    local n=$1 out=$2
    shift 2
    : >"$out"
    local start end
    for _ in $(seq "$n"); do
        start=$(date +%s%N)
        /usr/bin/time -v -o "$out.one" taskset -c "$PIN" "$@" >/dev/null 2>>"$DIR/stderr.log"
        end=$(date +%s%N)
        # wall time from the clock (time -v rounds to 10 ms), peak RSS from time -v
        awk -F': ' -v ns=$((end - start)) '/Maximum resident set size/ { rss = $2 }
                    END { printf "%.4f %d\n", ns / 1e9, rss }' "$out.one" >>"$out"
    done
    rm -f "$out.one"
}
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

declare -A T RSS
measure() {
    local name=$1 file=$2 tool=$3 n=$4
    shift 4
    local out=$DIR/times-$name-$tool
    say "timing $tool on $name ($n runs)"
    time_runs "$n" "$out" "$@"
    T[$name,$tool]=$(cut -d' ' -f1 "$out" | median)
    RSS[$name,$tool]=$(cut -d' ' -f2 "$out" | median)
}

for name in mixed smtp dense; do
    file=$(file_of $name)
    cat "$file" >/dev/null # warm the page cache
    PIN=$CPU
    measure $name "$file" cat "$RUNS" cat "$file"
    measure $name "$file" mailtap "$RUNS" "$MAILTAP" --format jsonl --threads 1 "$file"
    measure $name "$file" tshark "$TSHARK_RUNS" tshark -n -r "$file" -Y smtp -d tcp.port==2525,smtp -d tcp.port==10025,smtp
    PIN=0-$((THREADS - 1))
    measure $name "$file" "mailtap-threads-$THREADS" "$RUNS" "$MAILTAP" --format jsonl --threads "$THREADS" "$file"
done
PIN=0-$((THREADS - 1))
for c in gz zst; do
    cat "$SMTP.$c" >/dev/null
    decompress=zcat
    [ $c = zst ] && decompress=zstdcat
    measure "smtp-$c" "$SMTP.$c" decompress "$RUNS" "$decompress" "$SMTP.$c"
    measure "smtp-$c" "$SMTP.$c" mailtap "$RUNS" "$MAILTAP" --format jsonl "$SMTP.$c"
done

# --- report -----------------------------------------------------------------------------------
fail=0
check() { # description, awk condition
    if awk "BEGIN { exit !($2) }"; then echo "  met:    $1"; else echo "  MISSED: $1"; fail=1; fi
}
echo
echo "mailtap $(git describe --always --dirty 2>/dev/null || echo '?'), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(free -g | awk '/Mem:/ {print $2}') GiB; one-thread commands pinned to CPU $CPU, --threads $THREADS on CPUs 0-$((THREADS - 1)); median of $RUNS runs (tshark: $TSHARK_RUNS), page cache warm"
echo
echo "| capture | tool | time (s) | MB/s | packets/s | sessions/s | peak RSS (MiB) |"
echo "|---|---|---:|---:|---:|---:|---:|"
for name in mixed smtp dense; do
    file=$(file_of $name)
    bytes=$(stat -c %s "$file")
    frames=$(jq .frames "$file.expected.json")
    sessions=$(jq .sessions "$file.expected.json")
    label="$(basename "$file") ($((bytes / 1000000)) MB, $frames packets, $sessions sessions)"
    for tool in mailtap "mailtap-threads-$THREADS" tshark cat; do
        awk -v l="$label" -v tool="$tool" -v t="${T[$name,$tool]}" -v b="$bytes" -v f="$frames" -v s="$sessions" -v r="${RSS[$name,$tool]}" \
            'BEGIN { t = (t > 0) ? t : 0.001; printf "| %s | %s | %.3f | %.0f | %.0f | %s | %.1f |\n", l, tool, t, b / 1e6 / t, f / t, (tool == "cat") ? "–" : sprintf("%.0f", s / t), r / 1024 }'
        label=""
    done
done
echo
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
m=${T[mixed,mailtap]}; s=${T[smtp,mailtap]}; d=${T[dense,mailtap]}; N=mailtap-threads-$THREADS
for name in mixed smtp dense; do
    t=${T[$name,mailtap]}
    echo "$name: tshark/mailtap = $(ratio "${T[$name,tshark]}" "$t")x, mailtap/cat = $(ratio "$t" "${T[$name,cat]}"), $THREADS threads speed-up = $(ratio "$t" "${T[$name,$N]}")x"
done
for c in gz zst; do
    echo "smtp.$c: mailtap (all CPUs) $(awk -v t="${T[smtp-$c,mailtap]}" 'BEGIN { printf "%.3f", t }') s, peak RSS $((RSS[smtp-$c,mailtap] / 1024)) MiB; decompressing alone $(awk -v t="${T[smtp-$c,decompress]}" 'BEGIN { printf "%.3f", t }') s"
done
echo "targets:"
check "mixed: mailtap at least 50x faster than tshark" "${T[mixed,tshark]} >= 50 * $m"
check "mixed: mailtap at most 2x the time of cat" "$m <= 2 * ${T[mixed,cat]}"
check "SMTP-dense: mailtap at least 100x faster than tshark (one core)" "${T[dense,tshark]} >= 100 * $d"
check "SMTP-dense: mailtap at most 2x the time of cat (one core)" "$d <= 2 * ${T[dense,cat]}"
check "all-SMTP: mailtap at least 3,000,000 packets/s on one core" "$(jq .frames "$SMTP.expected.json") / $s >= 3000000"
check "all-SMTP: $THREADS threads at least 1.8x one thread's throughput" "$s >= 1.8 * ${T[smtp,$N]}"
for name in mixed smtp dense; do
    check "$name: peak RSS under 64 MiB, one thread and $THREADS" "${RSS[$name,mailtap]} < 65536 && ${RSS[$name,$N]} < 65536"
done
check "all-SMTP, gzip: analysed at least as fast as zcat decompresses it" "${T[smtp-gz,mailtap]} <= ${T[smtp-gz,decompress]}"
check "all-SMTP, zstd: analysed at least as fast as zstdcat decompresses it" "${T[smtp-zst,mailtap]} <= ${T[smtp-zst,decompress]}"
if [ "$fail" = 1 ] && [ "$STRICT" = 1 ]; then
    exit 1
fi
