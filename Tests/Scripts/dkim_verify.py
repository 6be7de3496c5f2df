#!/usr/bin/env python3
"""Verifies every DKIM signature of a message with dkimpy (an implementation independent of
Postie's), the key records looked up at the tests' DNS server.

Usage: dkim_verify.py DNS_PORT < message
Prints one line per signature, in the message's order: "<index> pass|fail d=<domain> s=<selector>
a=<algorithm>", then exits 0 if there was at least one signature and all passed, else 1.

Usage: dkim_verify.py DNS_PORT --arc < message
Validates the message's ARC chain (dkimpy's arc_verify): prints "arc <cv> <reason>" and exits 0
if the chain passes, else 1.
"""
import sys
import dkim
from dnslib import DNSRecord, QTYPE

port = int(sys.argv[1])

def txt(name, timeout=5):
    """dkimpy's DNS hook: the TXT record at name, its character-strings joined (RFC 6376 §3.6.2.2)."""
    if isinstance(name, bytes):
        name = name.decode()
    reply = DNSRecord.parse(DNSRecord.question(name.rstrip("."), "TXT").send("127.0.0.1", port, timeout=timeout))
    for rr in reply.rr:
        if rr.rtype == QTYPE.TXT:
            return b"".join(rr.rdata.data)
    return None

message = sys.stdin.buffer.read()
if len(sys.argv) > 2 and sys.argv[2] == "--arc":
    cv, results, reason = dkim.arc_verify(message, dnsfunc=txt)
    print("arc", cv.decode(), reason, flush=True)
    for r in results:
        print(" ", r, flush=True)
    sys.exit(0 if cv == dkim.CV_Pass else 1)
d = dkim.DKIM(message)
signatures = [v for (k, v) in d.headers if k.lower() == b"dkim-signature"]
ok = bool(signatures)
for i, value in enumerate(signatures):
    tags = dkim.util.parse_tag_value(value)
    why = ""
    try:
        passed = d.verify(idx=i, dnsfunc=txt)
    except dkim.DKIMException as e:
        # dkimpy raises for some failures (a body hash mismatch) rather than returning False.
        passed, why = False, " (" + str(e) + ")"
    ok = ok and passed
    print(i, "pass" if passed else "fail", "d=" + tags[b"d"].decode(), "s=" + tags[b"s"].decode(), "a=" + tags[b"a"].decode() + why, flush=True)
sys.exit(0 if ok else 1)
