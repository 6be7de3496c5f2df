#!/usr/bin/env python3
"""A DNS server for tests, on 127.0.0.1 (UDP and TCP, same port).

Usage: dns_server.py ZONE.json
ZONE.json maps names to answers:
  {"example.test": {"MX": [[10, "mx1.example.test"], [20, "mx2.example.test"]]},
   "mx1.example.test": {"A": ["127.0.0.2"], "AAAA": ["::1"]},
   "nullmx.test": {"MX": [[0, "."]]},
   "s1._domainkey.example.test": {"TXT": ["v=DKIM1; k=ed25519; p=...", ["two ", "strings"]]},
   "gone.test": "NXDOMAIN",
   "broken.test": "SERVFAIL"}
A name that is listed answers NOERROR (empty for types it lacks); an unlisted name is NXDOMAIN.
Prints "PORT <n>" once listening; stops when its standard input closes.
"""
import json, socket, sys, threading
from dnslib import DNSRecord, RR, QTYPE, RCODE, MX, A, AAAA, TXT
from dnslib.server import DNSServer, BaseResolver

zone = {k.rstrip(".").lower(): v for k, v in json.load(open(sys.argv[1])).items()}

class Resolver(BaseResolver):
    def resolve(self, request, handler):
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        qtype = QTYPE[request.q.qtype]
        entry = zone.get(name)
        if entry is None or entry == "NXDOMAIN":
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        if entry == "SERVFAIL":
            reply.header.rcode = RCODE.SERVFAIL
            return reply
        for value in entry.get(qtype, []):
            if qtype == "MX":
                reply.add_answer(RR(request.q.qname, QTYPE.MX, ttl=60, rdata=MX(value[1], value[0])))
            elif qtype == "A":
                reply.add_answer(RR(request.q.qname, QTYPE.A, ttl=60, rdata=A(value)))
            elif qtype == "AAAA":
                reply.add_answer(RR(request.q.qname, QTYPE.AAAA, ttl=60, rdata=AAAA(value)))
            elif qtype == "TXT":
                # A record is a text (cut into character-strings of 255 octets, as a zone file
                # would hold it) or a list of its character-strings.
                if isinstance(value, str):
                    raw = value.encode()
                    value = [raw[i:i + 255] for i in range(0, len(raw), 255)] or [b""]
                else:
                    value = [v.encode() for v in value]
                reply.add_answer(RR(request.q.qname, QTYPE.TXT, ttl=60, rdata=TXT(value)))
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
