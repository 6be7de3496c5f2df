#!/usr/bin/env python3
"""Adds an ARC set to a message with dkimpy (an implementation independent of Postie's). The
results, and the chain's state (its cv=), come from the message's Authentication-Results field
whose authserv-id is SRV_ID (an `arc=pass` there makes cv=pass), as dkimpy takes them.

Usage: arc_sign.py KEY.pem DOMAIN SELECTOR SRV_ID < message > sealed message
"""
import sys
import dkim

message = sys.stdin.buffer.read()
key = open(sys.argv[1], "rb").read()
fields = dkim.arc_sign(message, sys.argv[3].encode(), sys.argv[2].encode(), key, sys.argv[4].encode())
if not fields:
    sys.exit("arc_sign made no set")
sys.stdout.buffer.write(b"".join(fields) + message)
