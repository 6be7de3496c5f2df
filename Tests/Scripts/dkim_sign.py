#!/usr/bin/env python3
"""Signs a message with dkimpy (an implementation independent of Postie's), for Postie's verifier.

Usage: dkim_sign.py rsa KEY.pem CANON LENGTH < message
       dkim_sign.py ed25519 - CANON LENGTH < message
CANON is header/body (e.g. relaxed/simple); LENGTH is 1 to add l=. An Ed25519 key is made here
(PyNaCl). Prints JSON: {"signed": <the message with its DKIM-Signature first>, "record": <the key
record to publish>}. The domain is example.org, the selector "py".
"""
import base64, json, sys
import dkim

kind, keyfile, canon, length = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
message = sys.stdin.buffer.read()
header, body = canon.encode().split(b"/")
if kind == "rsa":
    private = open(keyfile, "rb").read()
    algorithm = b"rsa-sha256"
    record = None
else:
    import nacl.signing
    key = nacl.signing.SigningKey.generate()
    private = base64.b64encode(bytes(key))
    algorithm = b"ed25519-sha256"
    record = "v=DKIM1; k=ed25519; p=" + base64.b64encode(bytes(key.verify_key)).decode()
signature = dkim.sign(message, b"py", b"example.org", private, canonicalize=(header, body),
                      signature_algorithm=algorithm, length=length)
print(json.dumps({"signed": (signature + message).decode(), "record": record}))
