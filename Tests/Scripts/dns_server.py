#!/usr/bin/env python3
"""A DNS server for tests, on 127.0.0.1 (UDP and TCP, same port).

Usage: dns_server.py ZONE.json
ZONE.json maps names to answers:
  {"example.test": {"MX": [[10, "mx1.example.test"], [20, "mx2.example.test"]]},
   "mx1.example.test": {"A": ["127.0.0.2"], "AAAA": ["::1"]},
   "nullmx.test": {"MX": [[0, "."]]},
   "s1._domainkey.example.test": {"TXT": ["v=DKIM1; k=ed25519; p=...", ["two ", "strings"]]},
   "4.3.2.1.in-addr.arpa": {"PTR": ["host.example.test"]},
   "alias.example.test": {"CNAME": "mx1.example.test"},
   "slow.example.test": {"TXT": ["v=spf1 -all"], "TIMEOUT": true},
   "short.example.test": {"A": ["127.0.0.9"], "TTL": 5},
   "gone.test": "NXDOMAIN",
   "broken.test": "SERVFAIL"}
A name that is listed answers NOERROR (empty for types it lacks); an unlisted name is NXDOMAIN.
With "TIMEOUT", the types the name lacks fail instead (SERVFAIL: a timeout without the wait).
An answer over 512 octets asked over UDP comes back truncated (TC), to be asked again over TCP.
Records live for "TTL" seconds (60 unless given); a negative answer carries an SOA whose TTL and
MINIMUM make it live 30 seconds (RFC 2308).
Prints "PORT <n>" once listening; stops when its standard input closes.
"""
import json, socket, sys, threading
from dnslib import DNSRecord, RR, QTYPE, RCODE, MX, A, AAAA, TXT, PTR, CNAME, SOA
from dnslib.server import DNSServer, BaseResolver

zone = {k.rstrip(".").lower(): v for k, v in json.load(open(sys.argv[1])).items()}

def negative(reply, rcode=RCODE.NOERROR):
    reply.header.rcode = rcode
    reply.add_auth(RR("test", QTYPE.SOA, ttl=300, rdata=SOA("ns.test", "hostmaster.test", (1, 3600, 600, 86400, 30))))
    return reply

def add_records(reply, qname, qtype, entry, depth=0):
    ttl = entry.get("TTL", 60)
    if "CNAME" in entry and qtype != "CNAME":
        reply.add_answer(RR(qname, QTYPE.CNAME, ttl=ttl, rdata=CNAME(entry["CNAME"])))
        target = zone.get(entry["CNAME"].rstrip(".").lower())
        if isinstance(target, dict) and depth < 8:
            add_records(reply, entry["CNAME"], qtype, target, depth + 1)
        return True
    for value in entry.get(qtype, []):
        if qtype == "MX":
            reply.add_answer(RR(qname, QTYPE.MX, ttl=ttl, rdata=MX(value[1], value[0])))
        elif qtype == "A":
            reply.add_answer(RR(qname, QTYPE.A, ttl=ttl, rdata=A(value)))
        elif qtype == "AAAA":
            reply.add_answer(RR(qname, QTYPE.AAAA, ttl=ttl, rdata=AAAA(value)))
        elif qtype == "PTR":
            reply.add_answer(RR(qname, QTYPE.PTR, ttl=ttl, rdata=PTR(value)))
        elif qtype == "TXT":
            # A record is a text (cut into character-strings of 255 octets, as a zone file
            # would hold it) or a list of its character-strings.
            if isinstance(value, str):
                raw = value.encode()
                value = [raw[i:i + 255] for i in range(0, len(raw), 255)] or [b""]
            else:
                value = [v.encode() for v in value]
            reply.add_answer(RR(qname, QTYPE.TXT, ttl=ttl, rdata=TXT(value)))
    return bool(entry.get(qtype))

class Resolver(BaseResolver):
    def resolve(self, request, handler):
        reply = request.reply()
        # From the labels themselves: str() would escape a space as \\032.
        name = b".".join(request.q.qname.label).decode("utf-8", "replace").lower()
        qtype = QTYPE[request.q.qtype]
        entry = zone.get(name)
        if entry is None or entry == "NXDOMAIN":
            return negative(reply, RCODE.NXDOMAIN)
        if entry == "SERVFAIL":
            reply.header.rcode = RCODE.SERVFAIL
            return reply
        if not add_records(reply, request.q.qname, qtype, entry):
            if entry.get("TIMEOUT"):
                reply.header.rcode = RCODE.SERVFAIL
                return reply
            return negative(reply)
        if handler.protocol == "udp" and len(reply.pack()) > 512:
            # Too large for UDP without EDNS: say so (TC) with the question kept and no answers,
            # as a real server does, so that the client asks again over TCP. (dnslib's own
            # truncation drops the question, which glibc rejects.)
            reply = request.reply()
            reply.header.tc = 1
        return reply

# Find a port free for both UDP and TCP.
for _ in range(50):
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    try:
        udp = DNSServer(Resolver(), port=port, address="127.0.0.1")
        tcp = DNSServer(Resolver(), port=port, address="127.0.0.1", tcp=True)
        break
    except OSError:
        continue
udp.start_thread()
tcp.start_thread()
print("PORT", port, flush=True)
sys.stdin.read()
