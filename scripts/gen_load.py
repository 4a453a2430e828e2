#!/usr/bin/env python3
"""Writes large synthetic pcap files for scripts/memory-bound.sh (Ethernet/IPv4/TCP, pcap µs).

    gen_load.py syn N OUT               N SYN-only connection attempts to port 25
    gen_load.py concurrent N R OUT      R rounds of N SMTP sessions each; in a round all N are
                                        opened (handshake, banner, EHLO, EHLO reply offering
                                        STARTTLS, MAIL FROM, its reply) before any is closed
                                        (QUIT, 221, FIN, FIN, ACK)

    gen_load.py longline N OUT          one session: an EHLO line of N bytes sent one byte per
                                        segment, answered by a 250 line of N bytes
    gen_load.py reverse N OUT           one session: an EHLO line of N bytes in one-byte
                                        segments sent last byte first (all held out of order)

Every frame is 1 µs after the previous one, so the whole file lies within mailtap's idle
timeout: every connection is live at once. Checksums are zero (mailtap does not check them).
"""
import struct
import sys

SERVER_IP = bytes([192, 0, 2, 25])
ETH_C2S = bytes.fromhex("020000000002" "020000000001" "0800")
ETH_S2C = bytes.fromhex("020000000001" "020000000002" "0800")
SYN, ACK, PSH, FIN = 0x02, 0x10, 0x08, 0x01


class Writer:
    def __init__(self, path):
        self.f = open(path, "wb", buffering=1 << 22)
        self.f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        self.t = 1_700_000_000 * 1_000_000
        self.frames = 0

    def packet(self, client_ip, cport, to_server, flags, seq, ack, payload=b""):
        src, dst = (client_ip, SERVER_IP) if to_server else (SERVER_IP, client_ip)
        sport, dport = (cport, 25) if to_server else (25, cport)
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40 + len(payload), 0, 0x4000, 64, 6, 0, src, dst)
        tcp = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                          0x50, flags, 64240, 0, 0)
        frame = (ETH_C2S if to_server else ETH_S2C) + ip + tcp + payload
        self.t += 1
        self.f.write(struct.pack("<IIII", self.t // 1_000_000, self.t % 1_000_000, len(frame), len(frame)))
        self.f.write(frame)
        self.frames += 1

    def close(self):
        self.f.close()


def client(i):
    return bytes([10, (i >> 16) & 255, (i >> 8) & 255, i & 255])


def syn_flood(n, out):
    w = Writer(out)
    for i in range(n):
        w.packet(client(i), 1024 + (i >> 24), True, SYN, 1000, 0)
    w.close()
    return w.frames


BANNER = b"220 mx.example.test ESMTP\r\n"
EHLO = b"EHLO client.example.test\r\n"
OFFER = b"250-mx.example.test\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 8BITMIME\r\n"
MAIL = b"MAIL FROM:<alice@example.test>\r\n"
OK = b"250 2.1.0 Ok\r\n"
QUIT = b"QUIT\r\n"
BYE = b"221 2.0.0 Bye\r\n"


def concurrent(n, rounds, out):
    w = Writer(out)
    c0, s0 = 1000, 5000
    for r in range(rounds):
        port = 1024 + r
        # Open every session of the round...
        for i in range(n):
            ip, c, s = client(i), c0, s0
            w.packet(ip, port, True, SYN, c, 0)
            w.packet(ip, port, False, SYN | ACK, s, c + 1)
            c, s = c + 1, s + 1
            w.packet(ip, port, True, ACK, c, s)
            for to_server, data in ((False, BANNER), (True, EHLO), (False, OFFER), (True, MAIL), (False, OK)):
                if to_server:
                    w.packet(ip, port, True, PSH | ACK, c, s, data)
                    c += len(data)
                else:
                    w.packet(ip, port, False, PSH | ACK, s, c, data)
                    s += len(data)
        # ...then close them all.
        c1 = c0 + 1 + len(EHLO) + len(MAIL)
        s1 = s0 + 1 + len(BANNER) + len(OFFER) + len(OK)
        for i in range(n):
            ip, c, s = client(i), c1, s1
            w.packet(ip, port, True, PSH | ACK, c, s, QUIT)
            c += len(QUIT)
            w.packet(ip, port, False, PSH | ACK, s, c, BYE)
            s += len(BYE)
            w.packet(ip, port, True, FIN | ACK, c, s)
            w.packet(ip, port, False, FIN | ACK, s, c + 1)
            w.packet(ip, port, True, ACK, c + 1, s + 1)
    w.close()
    return w.frames


def one_line(n, reverse, out):
    w = Writer(out)
    ip, port, c, s = client(1), 40000, 1000, 5000
    w.packet(ip, port, True, SYN, c, 0)
    w.packet(ip, port, False, SYN | ACK, s, c + 1)
    c, s = c + 1, s + 1
    w.packet(ip, port, True, ACK, c, s)
    w.packet(ip, port, False, PSH | ACK, s, c, BANNER)
    s += len(BANNER)
    line = b"EHLO " + b"a" * n + b"\r\n"
    order = range(len(line) - 1, -1, -1) if reverse else range(len(line))
    for k in order:
        w.packet(ip, port, True, PSH | ACK, c + k, s, line[k:k + 1])
    c += len(line)
    reply = b"250 " + b"b" * n + b"\r\n"
    for k in range(0, len(reply), 1460):
        w.packet(ip, port, False, PSH | ACK, s + k, c, reply[k:k + 1460])
    s += len(reply)
    w.packet(ip, port, True, PSH | ACK, c, s, QUIT)
    c += len(QUIT)
    w.packet(ip, port, False, PSH | ACK, s, c, BYE)
    s += len(BYE)
    w.packet(ip, port, True, FIN | ACK, c, s)
    w.packet(ip, port, False, FIN | ACK, s, c + 1)
    w.packet(ip, port, True, ACK, c + 1, s + 1)
    w.close()
    return w.frames


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "syn":
        frames = syn_flood(int(sys.argv[2]), sys.argv[3])
    elif mode == "concurrent":
        frames = concurrent(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    elif mode in ("longline", "reverse"):
        frames = one_line(int(sys.argv[2]), mode == "reverse", sys.argv[3])
    else:
        sys.exit(__doc__)
    print(frames)
