#!/usr/bin/env bash
# Soak test of live capture: a steady stream of SMTP sessions of six verdicts for a long time,
# mailtap -i lo watching (as it runs in production: dropped to nobody, sandboxed, saving to
# rotating -w files), then: no session lost (sent vs reported, verdict by verdict), no kernel
# drop, and memory and open connections flat after warm-up.
#
#   scripts/live-soak.sh                     # 30 minutes, 20 sessions/s
#   DURATION=60 scripts/live-soak.sh         # the CI version
#   MAILTAP=target/release/mailtap RATE=50 DURATION=600 scripts/live-soak.sh
#
# Root (network namespace, capture). Needs python3, openssl, iproute2; builds mailtap with
# --features live (debug) unless MAILTAP is given. Prints a sample every INTERVAL seconds
# (time, RSS, peak RSS, connections followed, sessions reported) and the checks; exits 1 when
# one failed. KEEP=1 keeps the work folder.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-1800}
RATE=${RATE:-20}
INTERVAL=${INTERVAL:-$(( DURATION >= 600 ? 60 : 10 ))}
if [ -z "${MAILTAP:-}" ]; then
    cargo build --quiet --features live
    MAILTAP=target/debug/mailtap
fi
MAILTAP=$(realpath "$MAILTAP")
NS=mtsoak-$$
WORK=$(mktemp -d /tmp/mailtap-soak.XXXXXX)
chmod 755 "$WORK"
PIDS=()
cleanup() {
    set +e
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
    ip netns del "$NS" 2>/dev/null
    if [ -n "${KEEP:-}" ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

ip netns add "$NS"
ip -n "$NS" link set lo up
for n in 2 3 4 5 6; do ip -n "$NS" addr add "127.0.0.$n/8" dev lo; done
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj "/CN=mx.soak.test" -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null

# Started by ip netns exec directly (not through a shell function), so that $! is the
# process itself and the cleanup ends it.
ip netns exec "$NS" python3 scripts/smtp_peers.py serve "$WORK/cert.pem" "$WORK/key.pem" \
    >"$WORK/serve.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do grep -q serving "$WORK/serve.log" && break; sleep 0.1; done

# The -w files rotate (3 files of 20 MB); they are made as nobody once capturing.
mkdir "$WORK/pcap" && chown nobody "$WORK/pcap"
ip netns exec "$NS" "$MAILTAP" -i lo --format jsonl --stats 1 -w "$WORK/pcap/soak.pcap" -C 20 -W 3 \
    >"$WORK/sessions.jsonl" 2>"$WORK/mailtap.err" &
MT=$!
PIDS+=("$MT")
for _ in $(seq 100); do grep -q "listening on" "$WORK/mailtap.err" && break; sleep 0.1; done
grep "listening on" "$WORK/mailtap.err" || { cat "$WORK/mailtap.err"; exit 1; }

ip netns exec "$NS" python3 scripts/smtp_peers.py send "$RATE" "$DURATION" "$WORK/sent.json" \
    2>"$WORK/send.err" &
SENDER=$!
PIDS+=("$SENDER")

field() { awk -v f="$1:" '$1 == f { print $2 }' "/proc/$MT/status"; }
printf '%8s %10s %12s %12s %10s\n' seconds rss_kib peak_rss_kib connections reported
SAMPLES="$WORK/samples.txt"
start=$(date +%s)
while kill -0 "$SENDER" 2>/dev/null; do
    sleep "$INTERVAL"
    kill -0 "$MT" 2>/dev/null || { echo "mailtap died"; cat "$WORK/mailtap.err"; exit 1; }
    conns=$(grep "stats:" "$WORK/mailtap.err" | tail -1 | sed -E 's/.* ([0-9]+) connections followed.*/\1/')
    line=$(printf '%8s %10s %12s %12s %10s' $(( $(date +%s) - start )) "$(field VmRSS)" \
        "$(field VmHWM)" "${conns:-0}" "$(wc -l <"$WORK/sessions.jsonl")")
    echo "$line" | tee -a "$SAMPLES"
done
wait "$SENDER" || true
sleep 3
kill -INT "$MT"
wait "$MT" || { echo "mailtap exited with $?"; }

python3 - "$WORK" "$SAMPLES" <<'PY'
import json, sys, collections
work, samples = sys.argv[1], sys.argv[2]
sent = json.load(open(f"{work}/sent.json"))
reported = collections.Counter()
for line in open(f"{work}/sessions.jsonl"):
    reported[json.loads(line)["verdict"]] += 1
err = open(f"{work}/mailtap.err").read()
drops = [l for l in err.splitlines() if "dropped by kernel" in l and "stats:" not in l]
rows = [list(map(int, l.split())) for l in open(samples) if l.strip()]
failed = 0
def check(ok, what):
    global failed
    print(("ok: " if ok else "FAILED: ") + what)
    failed += not ok
total_sent = sum(sent["sent"].values())
print(f"sent {total_sent} sessions ({sent['failed']} failed on the client side), reported {sum(reported.values())}")
for verdict, n in sorted(sent["sent"].items()):
    check(reported[verdict] == n, f"{verdict}: sent {n}, reported {reported[verdict]}")
extra = {v: n for v, n in reported.items() if v not in sent["sent"]}
check(not extra, f"no session with another verdict {extra}")
check(bool(drops) and " 0 dropped by kernel" in drops[-1], f"kernel drops: {drops[-1] if drops else 'no capture line'}")
if len(rows) >= 4:
    warm = rows[len(rows) // 4]
    last = rows[-1]
    peak_growth = last[2] - warm[2]
    check(peak_growth <= max(2048, warm[2] // 10),
          f"peak RSS flat after warm-up: {warm[2]} KiB at {warm[0]} s, {last[2]} KiB at {last[0]} s")
    conns = [r[3] for r in rows[len(rows) // 4:]]
    check(max(conns) <= max(50, 4 * min(conns) + 50),
          f"connections followed flat after warm-up: {min(conns)}..{max(conns)}")
else:
    print("(too few samples to judge memory: run longer)")
print(f"{failed} failed")
sys.exit(1 if failed else 0)
PY
