#!/usr/bin/env python3
"""SMTP peers for the live soak and load scripts: servers of every verdict, and a client that
sends a steady stream of sessions through them, counting what it sent.

    smtp_peers.py serve CERT KEY            servers on 127.0.0.1-6:25 (run inside a namespace)
    smtp_peers.py send RATE SECONDS COUNTS  RATE sessions/s for SECONDS, round-robin over the
                                            servers; writes the counts sent per expected verdict
                                            (JSON) to COUNTS

    server      behaviour                                      client           verdict
    127.0.0.1   STARTTLS offered, 220, real TLS                 STARTTLS, EHLO   upgraded
    127.0.0.2   no STARTTLS                                     EHLO, QUIT       not-offered
    127.0.0.3   STARTTLS offered, answered 454                  STARTTLS         rejected
    127.0.0.4   STARTTLS masked as XXXXXXXA (a Cisco ASA)       EHLO, QUIT       stripped
    127.0.0.5   no STARTTLS                                     HELO, QUIT       no-ehlo
    127.0.0.6   STARTTLS offered                                MAIL in clear    not-used

Python's standard library only (smtplib, ssl, socketserver).
"""
import json
import smtplib
import socketserver
import ssl
import sys
import threading
import time

KINDS = [
    ("127.0.0.1", "upgraded"),
    ("127.0.0.2", "not-offered"),
    ("127.0.0.3", "rejected"),
    ("127.0.0.4", "stripped"),
    ("127.0.0.5", "no-ehlo"),
    ("127.0.0.6", "not-used"),
]


def handler_for(kind, context):
    class Handler(socketserver.StreamRequestHandler):
        def send(self, text):
            self.wfile.write(text.encode())
            self.wfile.flush()

        def handle(self):
            self.send("220 mx.soak.test ESMTP\r\n")
            tls = False
            while True:
                line = self.rfile.readline()
                if not line:
                    return
                verb = line.strip().split(b" ")[0].upper()
                if verb in (b"EHLO", b"HELO"):
                    if kind in ("not-offered", "no-ehlo") or tls:
                        self.send("250-mx.soak.test\r\n250 8BITMIME\r\n")
                    elif kind == "stripped":
                        self.send("250-mx.soak.test\r\n250-XXXXXXXA\r\n250 8BITMIME\r\n")
                    else:
                        self.send("250-mx.soak.test\r\n250-STARTTLS\r\n250 8BITMIME\r\n")
                elif verb == b"STARTTLS":
                    if kind == "rejected":
                        self.send("454 4.7.0 TLS not available due to local problem\r\n")
                        continue
                    self.send("220 2.0.0 Ready to start TLS\r\n")
                    conn = context.wrap_socket(self.connection, server_side=True)
                    self.connection = conn
                    self.rfile = conn.makefile("rb")
                    self.wfile = conn.makefile("wb")
                    tls = True
                elif verb == b"QUIT":
                    self.send("221 2.0.0 Bye\r\n")
                    return
                elif verb in (b"MAIL", b"RCPT", b"RSET", b"NOOP"):
                    self.send("250 2.1.0 Ok\r\n")
                else:
                    self.send("502 5.5.2 Error: command not recognized\r\n")

    return Handler


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 512


def serve(cert, key):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    servers = []
    for ip, kind in KINDS:
        server = Server((ip, 25), handler_for(kind, context))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    print("serving", flush=True)
    while True:
        time.sleep(3600)


def session(ip, kind):
    client = smtplib.SMTP(ip, 25, timeout=10)
    if kind == "no-ehlo":
        client.helo("client.soak.test")
        client.quit()
        return
    client.ehlo("client.soak.test")
    if kind == "upgraded":
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        client.starttls(context=context)
        client.ehlo("client.soak.test")
    elif kind == "rejected":
        code, _ = client.docmd("STARTTLS")
        assert code == 454, code
    elif kind == "not-used":
        client.mail("alice@soak.test")
    client.quit()


def send(rate, seconds, counts_path):
    counts = {kind: 0 for _, kind in KINDS}
    failed = 0
    start = time.monotonic()
    n = 0
    lock = threading.Lock()

    def one(ip, kind):
        nonlocal failed
        try:
            session(ip, kind)
            with lock:
                counts[kind] += 1
        except Exception as e:  # a session that failed on the client side is not counted
            with lock:
                failed += 1
            print(f"session to {ip} failed: {e}", file=sys.stderr, flush=True)

    threads = []
    while True:
        due = start + n / rate
        now = time.monotonic()
        if now - start >= seconds:
            break
        if due > now:
            time.sleep(due - now)
        ip, kind = KINDS[n % len(KINDS)]
        t = threading.Thread(target=one, args=(ip, kind))
        t.start()
        threads.append(t)
        threads = [t for t in threads if t.is_alive()]
        n += 1
    for t in threads:
        t.join()
    with open(counts_path, "w") as f:
        json.dump({"sent": counts, "failed": failed}, f)


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "send":
        send(float(sys.argv[2]), float(sys.argv[3]), sys.argv[4])
    else:
        sys.exit(__doc__)
