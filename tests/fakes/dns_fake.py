#!/usr/bin/env python3
"""dns_fake.py - a misbehaving authoritative DNS server for the rfc2136 driver's error paths.

BIND gives us the real answers (tests/integration/test_dns_rfc2136.sh); this stand-in gives the
ones BIND will not produce on demand. It listens on UDP and TCP at 127.0.0.1:PORT and answers
queries and RFC 2136 UPDATEs according to the first label of the zone (of an UPDATE) or the second
label of the question name (of a query, "payroll.<mode>.test."):

  ok        NOERROR, signed correctly (queries answer "payroll.<zone> CNAME legacy-app.<zone>")
  notzone   queries ok (empty), UPDATEs answer NOTZONE (signed)
  servfail  queries ok (empty), UPDATEs answer SERVFAIL (signed)
  badtime   NOTAUTH with TSIG error BADTIME and the server's time (1 day off) in Other Data
  unsigned  NOERROR without a TSIG record (a spoofed answer): must be rejected
  forged    NOERROR with a TSIG record whose MAC is wrong: must be rejected
  tc        over UDP: an empty answer with TC set; over TCP: the ok answer
  ignored   UPDATEs answer NOERROR but the record does not change (read back shows the old one)
  errspoof  UPDATEs ok (signed); queries answer NOERROR with the wanted record and a TSIG record
            that carries only an error (BADSIG) and no MAC: a spoofed answer, must be rejected
  nxspoof   UPDATEs ok (signed); queries answer NXDOMAIN without a TSIG record: a spoofed "no
            such name", must be rejected like a spoofed NOERROR (we act on it)

The modes below answer like servers other than BIND, from a zone held in memory that starts with
"payroll.<zone> 300 CNAME new-app.<zone>". Their UPDATEs are all refused, and unsigned queries
(dig) are answered from that zone, so a test can check what is served after a refusal.

  pdnskey   like PowerDNS with a bad secret, an unknown key or a skewed clock: every signed request
            gets NOTAUTH with no TSIG record; unsigned queries are answered
  pdnspolicy  like PowerDNS when the key may not update: signed queries answered and signed,
            UPDATEs get NOTAUTH with no TSIG record
  knotacl   like Knot when its ACL does not allow the update: signed queries answered and signed,
            UPDATEs get NOTAUTH with a TSIG record carrying BADKEY and no MAC
  cnameref  like PowerDNS asked to add an A record where a CNAME is: queries answered from the zone
            (a query for A at the name answers its CNAME), UPDATEs get REFUSED

Every UPDATE is logged on stdout as "dns_fake: update ZONE rcode N", so a test can count them.

Usage: dns_fake.py PORT KEYFILE   (KEYFILE: a BIND key file; hmac-sha256)
"""
import base64
import hashlib
import hmac
import re
import socket
import struct
import sys
import threading
import time


def load_key(path):
    text = open(path).read()
    name = re.search(r'key\s+"?([^"\s{]+)"?', text).group(1).lower().rstrip(".") + "."
    secret = base64.b64decode(re.search(r'secret\s+"([^"]+)"', text).group(1))
    return name, secret


def wire_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.lower().encode()
    return out + b"\0"


def read_name(msg, off):
    labels = []
    while True:
        n = msg[off]
        if n & 0xC0 == 0xC0:
            ptr = ((n & 0x3F) << 8) | msg[off + 1]
            rest, _ = read_name(msg, ptr)
            labels.append(rest.rstrip("."))
            return ".".join(l for l in labels if l) + ".", off + 2
        off += 1
        if n == 0:
            return ".".join(labels) + ".", off
        labels.append(msg[off:off + n].decode().lower())
        off += n


def parse(msg):
    qd, an, ns, ar = struct.unpack(">4H", msg[4:12])
    off = 12
    qname, off = read_name(msg, off)
    qtype, _ = struct.unpack(">HH", msg[off:off + 4])
    off += 4
    tsig = None
    for i in range(an + ns + ar):
        start = off
        name, off = read_name(msg, off)
        rtype, _cls, _ttl, rdlen = struct.unpack(">HHIH", msg[off:off + 10])
        off += 10
        rdata = msg[off:off + rdlen]
        off += rdlen
        if rtype == 250:
            alg, p = read_name(rdata, 0)
            tsig_time = (struct.unpack(">H", rdata[p:p + 2])[0] << 32) | struct.unpack(">I", rdata[p + 2:p + 6])[0]
            maclen = struct.unpack(">H", rdata[p + 8:p + 10])[0]
            tsig = {"start": start, "mac": rdata[p + 10:p + 10 + maclen], "time": tsig_time}
    return qname, qtype, tsig


def tsig_rr(key_name, key, req_mac, msg_wo_tsig, msg_id, error=0, other=b"", forge=False, signed_time=None):
    alg = wire_name("hmac-sha256.")
    now = int(time.time()) if signed_time is None else signed_time
    variables = (wire_name(key_name) + struct.pack(">HI", 255, 0) + alg +
                 struct.pack(">HIHHH", now >> 32, now & 0xFFFFFFFF, 300, error, len(other)) + other)
    mac = hmac.new(key, struct.pack(">H", len(req_mac)) + req_mac + msg_wo_tsig + variables,
                   hashlib.sha256).digest()
    if forge:
        mac = bytes([mac[0] ^ 1]) + mac[1:]
    rdata = (alg + struct.pack(">HIHH", now >> 32, now & 0xFFFFFFFF, 300, len(mac)) + mac +
             struct.pack(">HHH", msg_id, error, len(other)) + other)
    return wire_name(key_name) + struct.pack(">HHIH", 250, 255, 0, len(rdata)) + rdata


ZONE_MODES = ("pdnskey", "pdnspolicy", "knotacl", "cnameref")
ZONES = {}  # zone -> {(name, type): (ttl, rdata)}
LOCK = threading.Lock()


def zone_data(zone):
    if zone not in ZONES:
        ZONES[zone] = {("payroll." + zone, 5): (300, wire_name("new-app." + zone))}
    return ZONES[zone]


def zone_answer(zone, qname, qtype):
    """The answer section for qname/qtype from the zone in memory: the RRset, else a CNAME there."""
    data = zone_data(zone)
    for t in (qtype, 5):
        if (qname, t) in data:
            ttl, rdata = data[(qname, t)]
            return wire_name(qname) + struct.pack(">HHIH", t, 1, ttl, len(rdata)) + rdata, 1
    return b"", 0


def answer(req, key_name, key, tcp):
    with LOCK:
        return answer_locked(req, key_name, key, tcp)


def answer_locked(req, key_name, key, tcp):
    msg_id, flags = struct.unpack(">HH", req[:4])
    opcode = (flags >> 11) & 0xF
    qname, qtype, tsig = parse(req)
    labels = qname.rstrip(".").split(".")
    mode = labels[0] if opcode == 5 else (labels[1] if len(labels) > 2 else labels[0])
    zone = ".".join(labels[0 if opcode == 5 else 1:]) + "."
    question = req[12:12 + len(wire_name(qname)) + 4]
    rcode, answers, tc = 0, b"", False
    an = 0
    if mode == "tc" and not tcp:
        tc = True
    elif opcode == 5:
        rcode = {"notzone": 10, "servfail": 2, "pdnskey": 9, "pdnspolicy": 9, "knotacl": 9,
                 "cnameref": 5}.get(mode, 0)
        print("dns_fake: update %s rcode %d" % (zone, rcode), flush=True)
    elif mode in ZONE_MODES:
        answers, an = zone_answer(zone, qname, qtype)
    elif mode in ("ok", "tc", "unsigned", "forged", "ignored", "errspoof") and qtype == 5:
        target = wire_name("legacy-app." + zone if mode != "ignored" else "new-app." + zone)
        answers = wire_name(qname) + struct.pack(">HHIH", 5, 1, 60, len(target)) + target
        an = 1
    if mode == "pdnskey" and tsig is not None:
        rcode, answers, an = 9, b"", 0
    if mode == "nxspoof" and opcode != 5:
        rcode = 3
    error, other, signed_time = 0, b"", None
    if mode == "badtime":
        rcode, error = 9, 18
        server = int(time.time()) + 86400
        other = struct.pack(">HI", server >> 32, server & 0xFFFFFFFF)
        signed_time = server
    out_flags = 0x8000 | (opcode << 11) | 0x0400 | (0x0200 if tc else 0) | rcode
    body = struct.pack(">6H", msg_id, out_flags, 1, an, 0, 0) + question + answers
    if tsig is None or mode == "unsigned" or mode == "pdnskey" or (mode == "nxspoof" and opcode != 5):
        return body
    if mode == "pdnspolicy" and opcode == 5:
        return body
    if mode == "knotacl" and opcode == 5:  # BADKEY: a TSIG record with the error and no MAC
        alg = wire_name("hmac-sha256.")
        now = int(time.time())
        rdata = alg + struct.pack(">HIHHHHH", now >> 32, now & 0xFFFFFFFF, 300, 0, msg_id, 17, 0)
        return (body[:10] + struct.pack(">H", 1) + body[12:] + wire_name(key_name) +
                struct.pack(">HHIH", 250, 255, 0, len(rdata)) + rdata)
    if mode == "errspoof" and opcode != 5:
        alg = wire_name("hmac-sha256.")
        now = int(time.time())
        rdata = alg + struct.pack(">HIHHHHH", now >> 32, now & 0xFFFFFFFF, 300, 0, msg_id, 16, 0)
        return (body[:10] + struct.pack(">H", 1) + body[12:] + wire_name(key_name) +
                struct.pack(">HHIH", 250, 255, 0, len(rdata)) + rdata)
    signed = tsig_rr(key_name, key, tsig["mac"], body, msg_id, error, other, mode == "forged", signed_time)
    return body[:10] + struct.pack(">H", 1) + body[12:] + signed


def serve_udp(sock, key_name, key):
    while True:
        data, peer = sock.recvfrom(65535)
        try:
            sock.sendto(answer(data, key_name, key, False), peer)
        except Exception as e:  # a test server: say why, keep serving
            print("dns_fake: udp: %r" % e, file=sys.stderr, flush=True)


def serve_tcp(sock, key_name, key):
    while True:
        conn, _ = sock.accept()
        try:
            n = struct.unpack(">H", conn.recv(2))[0]
            data = b""
            while len(data) < n:
                data += conn.recv(n - len(data))
            out = answer(data, key_name, key, True)
            conn.sendall(struct.pack(">H", len(out)) + out)
        except Exception as e:
            print("dns_fake: tcp: %r" % e, file=sys.stderr, flush=True)
        finally:
            conn.close()


def main():
    port, keyfile = int(sys.argv[1]), sys.argv[2]
    key_name, key = load_key(keyfile)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", port))
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind(("127.0.0.1", port))
    tcp.listen(8)
    threading.Thread(target=serve_tcp, args=(tcp, key_name, key), daemon=True).start()
    print("dns_fake: listening on 127.0.0.1:%d" % port, flush=True)
    serve_udp(udp, key_name, key)


if __name__ == "__main__":
    main()
