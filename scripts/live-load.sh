#!/usr/bin/env bash
# Load test of live capture: tcpreplay replays a generated capture (SMTP sessions of every
# verdict amid bulk traffic: examples/gen_captures.rs `mixed`) over a veth pair between two
# network namespaces at rising rates, then at top speed, while `mailtap -i` watches the other
# end with --format jsonl. One row per rate: the rate asked and reached (packets/s, all
# tcpreplay processes together), packets replayed, received and dropped by the
# kernel (libpcap's counts) and by the receiving veth before the capture saw them (its
# rx_dropped: the backlog was full), sessions reported, sessions whose verdict matches what the
# generator wrote, sessions with a verdict the generator never wrote for them (wrong: must be
# 0, even under drops), sessions not reported right (missing), sessions with a capture-gap
# finding (gap), mailtap's CPU time and peak RSS.
#
#   sudo scripts/live-load.sh                          # default port filter, 1 copy
#   sudo ANY_PORT=1 LOOPS=3 scripts/live-load.sh       # all TCP, the file replayed 3 times
#   sudo PARALLEL=2 scripts/live-load.sh              # two tcpreplay processes at once
#   sudo BUFFER_KIB=512 RATES=topspeed scripts/live-load.sh    # force drops: a small -B
#
# Settings (environment): MB (size of the generated capture, default 200), RATES (packets/s,
# or 'topspeed'; default "50000 100000 200000 topspeed"), LOOPS (copies replayed, each with its
# own addresses: tcpreplay --unique-ip), ANY_PORT=1 (mailtap --any-port), BUFFER_KIB (mailtap
# -B), MAILTAP (a mailtap built with --features live; default: builds the release one), GEN
# (the generator, examples/gen_captures), KEEP=1.
# Root. Installs tcpreplay (Debian) when missing. Exits 1 when a session got a wrong verdict or,
# with STRICT=1, when any packet was dropped or any session not reported right.
set -euo pipefail
cd "$(dirname "$0")/.."

MB=${MB:-200}
RATES=${RATES:-"50000 100000 200000 topspeed"}
LOOPS=${LOOPS:-1}
export DEBIAN_FRONTEND=noninteractive
command -v tcpreplay >/dev/null || { apt-get update -qq && apt-get install -y -qq tcpreplay >/dev/null; }
command -v jq >/dev/null || apt-get install -y -qq jq >/dev/null
if [ -z "${MAILTAP:-}" ]; then
    cargo build --quiet --release --features live --bin mailtap --example gen_captures
    MAILTAP=target/release/mailtap
fi
if [ -z "${GEN:-}" ]; then
    cargo build --quiet --release --example gen_captures
    GEN=target/release/examples/gen_captures
fi
MAILTAP=$(realpath "$MAILTAP")
WORK=$(mktemp -d /tmp/mailtap-load.XXXXXX)
chmod 755 "$WORK"
A=mtloadA-$$
B=mtloadB-$$
MT=
cleanup() {
    set +e
    [ -n "$MT" ] && kill "$MT" 2>/dev/null
    ip netns del "$A" 2>/dev/null
    ip netns del "$B" 2>/dev/null
    if [ -n "${KEEP:-}" ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

"$GEN" mixed "$WORK/mixed.pcap" "$MB" >"$WORK/gen.log"
EXPECTED=$WORK/mixed.pcap.expected.json
# PARALLEL=N: N tcpreplay processes at once, each replaying a copy with its own addresses
# (tcprewrite --seed rewrites every IP address).
PARALLEL=${PARALLEL:-1}
FILES=("$WORK/mixed.pcap")
for i in $(seq 2 "$PARALLEL"); do
    tcprewrite --seed="$i" --fixcsum -i "$WORK/mixed.pcap" -o "$WORK/mixed$i.pcap" 2>"$WORK/tcprewrite.log"
    FILES+=("$WORK/mixed$i.pcap")
done

# Two namespaces joined by a veth: tcpreplay sends on one end, mailtap listens on the other.
ip netns add "$A"
ip netns add "$B"
ip link add vload0 netns "$A" type veth peer name vload1 netns "$B"
for ns in "$A" "$B"; do
    ip -n "$ns" link set lo up
done
ip -n "$A" link set vload0 mtu 9000 up
ip -n "$B" link set vload1 mtu 9000 up

args=(--format jsonl)
if [ "${ANY_PORT:-0}" = 1 ]; then
    args+=(--any-port)
else
    args+=(--port 10025)   # the generator's SMTP found by content runs on 10025
fi
[ -n "${BUFFER_KIB:-}" ] && args+=(-B "$BUFFER_KIB")

echo "capture: $(jq -c '{frames, sessions, verdicts}' "$EXPECTED") x $LOOPS loops x $PARALLEL tcpreplay; mailtap ${args[*]}"
printf '%-10s %9s %10s %10s %10s %9s %9s %9s %9s %9s %9s %8s %9s\n' rate pps replayed received \
    dropped veth_drop sessions right wrong missing gap cpu_s rss_kib
status=0
for rate in $RATES; do
    rm -f "$WORK/mailtap.err" "$WORK/time.txt"
    veth_before=$(ip netns exec "$B" cat /sys/class/net/vload1/statistics/rx_dropped)
    ip netns exec "$B" /usr/bin/time -f "%U %S %M" -o "$WORK/time.txt" \
        "$MAILTAP" -i vload1 "${args[@]}" >"$WORK/sessions.jsonl" 2>"$WORK/mailtap.err" &
    TIME_PID=$!
    for _ in $(seq 100); do grep -qs "listening on" "$WORK/mailtap.err" && break; sleep 0.1; done
    MT=$(pgrep -P "$TIME_PID" || true)
    [ -n "$MT" ] || { cat "$WORK/mailtap.err"; exit 1; }
    speed=(--pps="$rate")
    [ "$rate" = topspeed ] && speed=(--topspeed)
    loop=()
    [ "$LOOPS" -gt 1 ] && loop=(--loop="$LOOPS" --unique-ip)
    replayers=()
    for i in "${!FILES[@]}"; do
        ip netns exec "$A" tcpreplay -q -i vload0 "${speed[@]}" "${loop[@]}" "${FILES[$i]}" \
            >"$WORK/replay$i.log" 2>&1 &
        replayers+=($!)
    done
    for pid in "${replayers[@]}"; do wait "$pid"; done
    sleep 2
    kill -INT "$MT"
    wait "$TIME_PID" || true
    MT=
    replayed=$(cat "$WORK"/replay*.log | grep -oE 'Actual: [0-9]+ packets' | grep -oE '[0-9]+' | awk '{ n += $1 } END { print n }')
    read -r received dropped < <(sed -nE 's/.* ([0-9]+) packets received by filter, ([0-9]+) dropped by kernel.*/\1 \2/p' "$WORK/mailtap.err" | tail -1)
    read -r usr sys rss <"$WORK/time.txt"
    read -r sessions right wrong missing gap < <(python3 - "$EXPECTED" "$WORK/sessions.jsonl" "$((LOOPS * PARALLEL))" <<'PY'
import json, sys, collections
want = json.load(open(sys.argv[1]))["verdicts"]
loops = int(sys.argv[3])
reports = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
got = collections.Counter(r["verdict"] for r in reports)
gap = sum(any(f["kind"] == "capture-gap" for f in r["findings"]) for r in reports)
sessions = sum(got.values())
right = sum(min(got[v], n * loops) for v, n in want.items())
# A verdict reported more often than the generator wrote it is a wrong verdict; a session that
# lost packets may only end incomplete (that is missing, not wrong).
wrong = sum(max(0, got[v] - want.get(v, 0) * loops) for v in got if v != "incomplete")
missing = sum(want.values()) * loops - right
if wrong:
    over = {v: got[v] - want.get(v, 0) * loops for v in got if v != "incomplete" and got[v] > want.get(v, 0) * loops}
    under = {v: n * loops - got[v] for v, n in want.items() if got[v] < n * loops}
    print(f"    more than written: {over}; fewer: {under}", file=sys.stderr)
print(sessions, right, wrong, missing, gap)
PY
)
    cpu=$(echo "$usr $sys" | awk '{ printf "%.1f", $1 + $2 }')
    veth_now=$(ip netns exec "$B" cat /sys/class/net/vload1/statistics/rx_dropped)
    veth_drop=$((veth_now - veth_before))
    pps=$(cat "$WORK"/replay*.log | grep -oE '[0-9.]+ pps' | awk '{ n += $1 } END { printf "%d", n }')
    printf '%-10s %9s %10s %10s %10s %9s %9s %9s %9s %9s %9s %8s %9s\n' "$rate" "$pps" "${replayed:-?}" \
        "${received:-?}" "${dropped:-?}" "$veth_drop" "$sessions" "$right" "$wrong" "$missing" "$gap" "$cpu" "$rss"
    grep -E "dropped by kernel|capture gap" "$WORK/mailtap.err" | grep -v "stats:" | sed 's/^/    /' >"$WORK/lines.txt" || true
    [ -n "${VERBOSE:-}" ] && cat "$WORK/lines.txt"
    if [ "$wrong" != 0 ]; then
        echo "FAILED: $wrong sessions with a verdict the generator did not write (at $rate)"
        status=1
    fi
    if [ -n "${STRICT:-}" ] && { [ "$dropped" != 0 ] || [ "$missing" != 0 ]; }; then
        echo "FAILED: drops or sessions not reported right at $rate"
        status=1
    fi
done
exit $status
