#!/usr/bin/env bash
# End-to-end test of live capture against real mail software.
#
#   tests/live/e2e.sh MAILTAP        # MAILTAP: a mailtap built with --features live
#
# Root only (network namespace, packet capture). Needs Debian's postfix, swaks,
# libnet-ssleay-perl, libio-socket-ssl-perl, openssl, python3, iproute2; tcpdump and tshark are
# used when present. Run by tests/live/main.rs (cargo test --features live --test live) and so
# by .ci/run.
#
# Everything runs inside a network namespace made here, on its loopback, so no packet leaves
# it and no other traffic is seen:
#   127.0.0.1:25  Postfix, STARTTLS on                      swaks --tls          -> upgraded
#   127.0.0.2:25  Postfix, STARTTLS off                     swaks                -> not-offered
#   127.0.0.3:25  Postfix, key missing: STARTTLS gets 454   swaks --tls          -> rejected
#   127.0.0.4:25  relay masking STARTTLS (250-XXXXXXXA), to 127.0.0.1:25 from 127.0.0.5
#                                                           swaks --tls-optional -> stripped
#                                           (and relay -> server: offered, never used: not-used)
# mailtap -i lo watches (saving with -w); each session must be reported, with its verdict,
# soon after it ends. Then a client stalls after EHLO and mailtap gets SIGINT: the open session
# is reported (incomplete), then the summary, exit 0. Then: the -w file read back by mailtap and
# tshark, -c, --duration, the JSON summary's capture counts, and the stdin pipe
# (tcpdump -U -w - | mailtap -) stopped by Ctrl-C to both.
#
# Prints one line per check and 'N passed, N failed'; exits 1 when a check failed.
# KEEP=1 keeps the work folder (logs, captures) for a look afterwards.
set -euo pipefail

MAILTAP=$(realpath "${1:?usage: $0 PATH-TO-MAILTAP (built with --features live)}")
LATENCY=${LATENCY:-2}   # seconds allowed between a session's end and its report
NS=mtlive-$$
WORK=$(mktemp -d /tmp/mailtap-live.XXXXXX)
chmod 755 "$WORK"       # Postfix's unprivileged daemons read below it

passed=0
failed=0
ok() { echo "ok: $*"; passed=$((passed + 1)); }
bad() { echo "FAILED: $*"; failed=$((failed + 1)); }
check() { # check DESCRIPTION COMMAND...
    local what=$1
    shift
    if "$@"; then ok "$what"; else bad "$what"; fi
}

PIDS=()
INSTANCES=()
cleanup() {
    set +e
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
    for dir in "${INSTANCES[@]}"; do postfix -c "$dir/etc" stop >/dev/null 2>&1; done
    ip netns del "$NS" 2>/dev/null
    if [ -n "${KEEP:-}" ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

ns() { ip netns exec "$NS" "$@"; }

ip netns add "$NS"
ip -n "$NS" link set lo up
# Postfix listens only on an address some interface has: give lo its own for each host.
for n in 2 3 4 5 6; do ip -n "$NS" addr add "127.0.0.$n/8" dev lo; done

# ---- the mail software -------------------------------------------------------------------

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj "/CN=mx.mailtap.test" -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
chmod 644 "$WORK/key.pem"

# postfix_instance NAME IP TLS: a Postfix of its own (config, queue, log) on IP:25.
# TLS: on | off | broken (STARTTLS advertised, key missing: answers 454).
postfix_instance() {
    local name=$1 ip=$2 tls=$3
    local dir=$WORK/$name
    mkdir -p "$dir/etc" "$dir/spool" "$dir/data"
    chown postfix "$dir/data"
    cat >"$dir/etc/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $dir/spool
data_directory = $dir/data
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = $ip
inet_protocols = ipv4
myhostname = $name.mailtap.test
mydestination = example.test
local_recipient_maps =
alias_maps =
alias_database =
default_transport = discard
local_transport = discard
relay_transport = discard
mynetworks = 127.0.0.0/8
smtpd_peername_lookup = no
maillog_file = $dir/maillog
maillog_file_prefixes = $dir
biff = no
EOF
    case $tls in
    on) printf 'smtpd_tls_security_level = may\nsmtpd_tls_cert_file = %s\nsmtpd_tls_key_file = %s\n' \
        "$WORK/cert.pem" "$WORK/key.pem" >>"$dir/etc/main.cf" ;;
    broken) printf 'smtpd_tls_security_level = may\nsmtpd_tls_cert_file = %s\nsmtpd_tls_key_file = %s\n' \
        "$WORK/cert.pem" "$WORK/missing-key.pem" >>"$dir/etc/main.cf" ;;
    off) echo 'smtpd_tls_security_level = none' >>"$dir/etc/main.cf" ;;
    esac
    cat >"$dir/etc/master.cf" <<'EOF'
smtp      inet  n       -       n       -       -       smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
    INSTANCES+=("$dir")
    if ! ns postfix -c "$dir/etc" start >"$dir/start.log" 2>&1; then
        cat "$dir/start.log" "$dir/maillog" 2>/dev/null
        echo "Postfix $name did not start"
        exit 1
    fi
}

# wait_for COMMAND... : up to 10 s for COMMAND to succeed.
wait_for() {
    local i
    for i in $(seq 100); do
        if "$@" 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    return 1
}
listening() { ns bash -c "exec 3<>/dev/tcp/$1/25" 2>/dev/null; }

postfix_instance tls 127.0.0.1 on
postfix_instance plain 127.0.0.2 off
postfix_instance broken 127.0.0.3 broken
# (Background jobs start with `ip netns exec` itself, not a shell function, so that $! is the
# process: a signal or a kill reaches it.)
ip netns exec "$NS" python3 "$(dirname "$0")/../../fixtures/tools/asa_relay.py" --listen 127.0.0.4:25 \
    --upstream 127.0.0.1:25 --source 127.0.0.5:0 --mode keyword >"$WORK/relay.log" 2>&1 &
PIDS+=($!)
for ip in 127.0.0.1 127.0.0.2 127.0.0.3 127.0.0.4; do
    wait_for listening "$ip" || { echo "nothing listens on $ip:25"; exit 1; }
done
# Those probes were connections too: let them end before mailtap starts watching.
sleep 0.5

swaks_to() { # swaks_to IP [swaks options...]
    local ip=$1
    shift
    ns swaks --server "$ip:25" --from alice@example.test --to bob@example.test \
        --helo client.mailtap.test "$@" >>"$WORK/swaks.log" 2>&1 || true
}

lines() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }
since() { echo "$(date +%s.%N) $1" | awk '{ printf "%.2f", $1 - $2 }'; } # seconds since $1
has_lines() { [ "$(lines "$1")" -ge "$2" ]; }

# ---- mailtap watching ----------------------------------------------------------------------

# start_mailtap NAME ARGS...: mailtap -i lo in the namespace, stdout NAME.out, stderr NAME.err.
start_mailtap() {
    local name=$1
    shift
    ip netns exec "$NS" "$MAILTAP" -i lo "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
    MAILTAP_PID=$!
    PIDS+=("$MAILTAP_PID")
    if ! wait_for grep -q "listening on lo" "$WORK/$name.err"; then
        cat "$WORK/$name.err"
        echo "mailtap did not start"
        exit 1
    fi
}

# finished PID TIMEOUT: waits for PID to exit; sets RC.
finished() {
    local pid=$1 limit=$2 i
    for i in $(seq $((limit * 10))); do
        if ! kill -0 "$pid" 2>/dev/null; then
            RC=0
            wait "$pid" || RC=$?
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# session CASE EXPECTED-NEW-LINES swaks-args...: one swaks session, then waits for its reports.
session() {
    local what=$1 expect=$2
    shift 2
    local before
    before=$(lines "$WORK/live.out")
    swaks_to "$@"
    local ended
    ended=$(date +%s.%N)
    if wait_for has_lines "$WORK/live.out" $((before + expect)); then
        local late
        late=$(since "$ended")
        check "$what: reported $late s after the session ended (allowed: $LATENCY s)" \
            python3 -c "import sys; sys.exit(not $late <= $LATENCY)"
    else
        bad "$what: no report within 10 s"
    fi
}

start_mailtap live -w "$WORK/live.pcap" --format jsonl
# Least privilege: started as root, mailtap gives everything up once the interface and the -w
# file are open (nobody, no capability, no new privileges, a seccomp filter); the sessions
# below are reported by that sandboxed process.
proc_has() { grep -qE "^$1:[[:space:]]+$2\$" "/proc/$MAILTAP_PID/status"; }
check "runs as nobody while capturing" proc_has Uid "65534[[:space:]]+65534[[:space:]]+65534[[:space:]]+65534"
check "no supplementary groups" proc_has Groups ""
check "no capability left" proc_has CapEff 0000000000000000
check "no capability permitted" proc_has CapPrm 0000000000000000
check "no new privileges" proc_has NoNewPrivs 1
check "seccomp filter on" proc_has Seccomp 2
session "STARTTLS on" 1 127.0.0.1 --tls
session "STARTTLS off" 1 127.0.0.2
session "STARTTLS broken (454)" 1 127.0.0.3 --tls
session "relay masking STARTTLS" 2 127.0.0.4 --tls-optional

# A client that stalls after EHLO, then Ctrl-C to mailtap: the open session must be reported.
ip netns exec "$NS" python3 -c '
import socket, sys, time
s = socket.create_connection(("127.0.0.1", 25), source_address=("127.0.0.6", 0))
f = s.makefile("rwb")
f.readline()
f.write(b"EHLO stalled.mailtap.test\r\n"); f.flush()
while not f.readline().startswith(b"250 "):
    pass
print("stalled", flush=True)
time.sleep(120)
' >"$WORK/stall.log" 2>&1 &
STALL=$!
PIDS+=("$STALL")
wait_for grep -q stalled "$WORK/stall.log" || bad "the stalling client did not get its EHLO reply"
sleep 0.5
kill -INT "$MAILTAP_PID"
if finished "$MAILTAP_PID" 10; then
    check "SIGINT: mailtap exits 0 (got $RC)" test "$RC" = 0
else
    bad "SIGINT: mailtap still running 10 s later"
    kill -9 "$MAILTAP_PID" 2>/dev/null || true
fi
kill "$STALL" 2>/dev/null || true

# verdicts FILE: checks each expected (client address, server, verdict) is reported once.
verdicts() {
    python3 - "$1" <<'EOF'
import json, sys
expected = [
    # (client ip or None, server, verdict, finding that must be there)
    ("127.0.0.1", "127.0.0.1:25", "upgraded", None),
    ("127.0.0.1", "127.0.0.2:25", "not-offered", None),
    ("127.0.0.1", "127.0.0.3:25", "rejected", None),
    ("127.0.0.1", "127.0.0.4:25", "stripped", "masked-keyword"),
    ("127.0.0.5", "127.0.0.1:25", "not-used", "cleartext-mail"),
    ("127.0.0.6", "127.0.0.1:25", "incomplete", None),
]
sessions = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
bad = 0
for client, server, verdict, finding in expected:
    found = [s for s in sessions if s["server"] == server and s["client"].rsplit(":", 1)[0] == client]
    kinds = [f["kind"] for s in found for f in s["findings"]]
    if len(found) != 1 or found[0]["verdict"] != verdict or (finding and finding not in kinds):
        print(f"  {client} -> {server}: expected {verdict} {finding or ''}, got "
              + ", ".join(f"{s['verdict']} {[f['kind'] for f in s['findings']]}" for s in found))
        bad += 1
if len(sessions) != len(expected):
    print(f"  {len(sessions)} sessions reported, {len(expected)} expected")
    bad += 1
sys.exit(1 if bad else 0)
EOF
}

check "live: every session with its verdict (upgraded, not-offered, rejected, stripped, not-used, incomplete)" \
    verdicts "$WORK/live.out"
check "SIGINT: the stalled session is reported as incomplete, ended by the stop" \
    grep -q '"client":"127.0.0.6:[0-9]*","server":"127.0.0.1:25","verdict":"incomplete".*"end":{"how":"capture-ended"}' "$WORK/live.out"
check "SIGINT: then the summary (sessions and the kernel's packet counts)" \
    grep -Eq "^mailtap: 6 SMTP sessions .*; [0-9]+ frames" "$WORK/live.err"
check "summary: packets received and dropped by kernel and interface" \
    grep -Eq "^mailtap: [1-9][0-9]* packets received by filter, 0 dropped by kernel, [0-9]+ dropped by interface" "$WORK/live.err"

# ---- the -w file -------------------------------------------------------------------------

"$MAILTAP" --format jsonl "$WORK/live.pcap" >"$WORK/readback.out" 2>"$WORK/readback.err" || true
check "-w: mailtap reads the saved capture back with the same verdicts" verdicts "$WORK/readback.out"
if command -v tshark >/dev/null; then
    frames=$(grep -Eo '; [0-9]+ frames' "$WORK/readback.err" | grep -Eo '[0-9]+')
    tshark_frames=$(tshark -r "$WORK/live.pcap" 2>/dev/null | wc -l)
    check "-w: tshark reads the saved capture ($tshark_frames frames; mailtap: $frames)" \
        test "$tshark_frames" = "$frames"
    check "-w: tshark sees the masked keyword" \
        test "$(tshark -r "$WORK/live.pcap" -Y 'smtp and frame contains "XXXXXXXA"' 2>/dev/null | wc -l)" -ge 1
else
    echo "skipped: tshark is not installed"
fi

# ---- -c, --duration, the table, the JSON summary ------------------------------------------

start_mailtap count -c 1
swaks_to 127.0.0.2
if finished "$MAILTAP_PID" 5; then
    check "-c 1: stops by itself after one session, exit 0 (got $RC)" test "$RC" = 0
    check "-c 1: a streaming table (header, the row); the summary and packet counts on stderr" \
        python3 - "$WORK/count.out" "$WORK/count.err" <<'EOF'
import sys
lines = open(sys.argv[1]).read().splitlines()
err = open(sys.argv[2]).read()
ok = (len(lines) == 2
      and lines[0].split()[:7] == ["time", "frames", "client", "server", "name", "verdict", "tls"]
      and " 127.0.0.2:25 " in lines[1] and " not-offered " in lines[1]
      and "mailtap: 1 SMTP session (1 not-offered)" in err
      and " packets received by filter, 0 dropped by kernel" in err)
if not ok:
    print("\n".join(lines))
    print(err)
sys.exit(0 if ok else 1)
EOF
else
    bad "-c 1: still running 5 s after the session"
    kill -9 "$MAILTAP_PID" 2>/dev/null || true
fi

# (5 s: room for swaks' TLS session on a busy machine; the session must end before the stop)
start_mailtap duration --duration 5 --format json --immediate-mode
swaks_to 127.0.0.1 --tls
if finished "$MAILTAP_PID" 10; then
    check "--duration 5: stops by itself, exit 0 (got $RC)" test "$RC" = 0
    check "--format json: one document with the session and the capture's packet counts" \
        python3 -c '
import json, sys
doc = json.load(open(sys.argv[1]))
s = doc["summary"]
sys.exit(0 if doc["sessions"][0]["verdict"] == "upgraded" and s["capture"]["received"] > 0
         and s["capture"]["dropped"] == 0 and "if_dropped" in s["capture"] else 1)' "$WORK/duration.out"
else
    bad "--duration 5: still running 10 s after it started"
    kill -9 "$MAILTAP_PID" 2>/dev/null || true
fi

# ---- the stdin pipe: tcpdump -U -w - | mailtap - -------------------------------------------

if command -v tcpdump >/dev/null; then
    # A process group of its own, so that Ctrl-C can be played to the whole pipeline.
    setsid bash -c "ip netns exec $NS tcpdump -i lo --immediate-mode -U -w - 'tcp port 25' 2>'$WORK/tcpdump.err' \
        | '$MAILTAP' --format jsonl - >'$WORK/pipe.out' 2>'$WORK/pipe.err'; echo \$? >'$WORK/pipe.rc'" &
    PIPE=$!
    PIDS+=("$PIPE")
    wait_for grep -q "listening on lo" "$WORK/tcpdump.err" || bad "tcpdump did not start"
    swaks_to 127.0.0.3 --tls
    ended=$(date +%s.%N)
    if wait_for has_lines "$WORK/pipe.out" 1; then
        late=$(since "$ended")
        check "stdin pipe: the session is reported $late s after it ended, before the pipe closes" \
            python3 -c "import sys; sys.exit(not $late <= $LATENCY)"
    else
        bad "stdin pipe: no report within 10 s while the pipe stays open"
    fi
    kill -INT -- "-$PIPE"
    wait_for test -s "$WORK/pipe.rc" || bad "stdin pipe: the pipeline did not end on Ctrl-C"
    check "stdin pipe: Ctrl-C to the pipeline: exit 0, the summary on stderr" \
        grep -q "^0$" "$WORK/pipe.rc"
    check "stdin pipe: the summary" grep -q "^mailtap: 1 SMTP session (1 rejected)" "$WORK/pipe.err"
    check "stdin pipe: verdict rejected" grep -q '"server":"127.0.0.3:25","verdict":"rejected"' "$WORK/pipe.out"
else
    echo "skipped: tcpdump is not installed"
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
