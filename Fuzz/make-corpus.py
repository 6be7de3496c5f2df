#!/usr/bin/env python3
"""Writes the seed corpus for SMTPFuzz into Fuzz/corpus/: the client side of every transcript in
Tests/Transcripts, and sessions with AUTH, STARTTLS, BDAT and DSN. Each input starts with two
octets: configuration flags (1 implicit TLS, 2 submission, 4 small limits, 8 DSN) and the seed
that cuts the rest into pieces (see Fuzz/Harness/SMTPFuzzHarness.swift)."""
import base64, glob, hashlib, os

root = os.path.dirname(os.path.abspath(__file__))
out = os.path.join(root, 'corpus')
os.makedirs(out, exist_ok=True)

def unescape(s):
    b, i = bytearray(), 0
    while i < len(s):
        if s[i] == '\\' and i + 1 < len(s):
            b += {'r': b'\r', 'n': b'\n', 't': b'\t', '0': b'\0'}.get(s[i + 1], s[i + 1].encode())
            i += 2
        else:
            b += s[i].encode()
            i += 1
    return bytes(b)

def write(flags, seed, stream):
    data = bytes([flags, seed]) + stream
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(out, name), 'wb') as f:
        f.write(data)

for path in sorted(glob.glob(os.path.join(root, '..', 'Tests', 'Transcripts', '*.smtp'))):
    stream = b''
    for line in open(path, encoding='utf-8').read().split('\n'):
        if line.startswith('C: '):
            stream += unescape(line[3:]) + b'\r\n'
        elif line.startswith('C!'):
            stream += unescape(line[2:].lstrip(' '))
    for flags in (0, 1, 12):
        write(flags, len(stream) % 251, stream)

plain = base64.b64encode(b'\0fuzz\0pw')
user, pw = base64.b64encode(b'fuzz'), base64.b64encode(b'pw')
sessions = [
    (3, b'EHLO c\r\nMAIL FROM:<fuzz@mx.fuzz>\r\nAUTH PLAIN ' + plain + b'\r\nMAIL FROM:<fuzz@mx.fuzz>\r\nRCPT TO:<a@b.c>\r\nDATA\r\nSubject: x\r\n\r\nhi\r\n.\r\nQUIT\r\n'),
    (1, b'EHLO c\r\nAUTH LOGIN\r\n' + user + b'\r\n' + pw + b'\r\nMAIL FROM:<other@mx.fuzz>\r\nAUTH PLAIN\r\n*\r\nQUIT\r\n'),
    (1, b'EHLO c\r\nAUTH PLAIN\r\n' + plain + b'\r\nAUTH PLAIN =\r\nAUTH CRAM-MD5\r\nAUTH PLAIN !!!\r\n'),
    (0, b'EHLO c\r\nSTARTTLS\r\nMAIL FROM:<injected@x>\r\nEHLO c\r\nAUTH PLAIN ' + plain + b'\r\nMAIL FROM:<fuzz+tag@mx.fuzz> BODY=8BITMIME SMTPUTF8\r\n'),
    (9, b'EHLO c\r\nMAIL FROM:<a@b.c> RET=HDRS ENVID=x+2Bz\r\nRCPT TO:<d@e.f> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;d@e.f\r\nBDAT 5\r\nab\r\ncBDAT 3 LAST\r\nd\r\n'),
    (4, b'EHLO c\r\nMAIL FROM:<a@b.c> SIZE=100\r\nRCPT TO:<d@e.f>\r\nRCPT TO:<g@e.f>\r\nRCPT TO:<h@e.f>\r\nRCPT TO:<i@e.f>\r\nDATA\r\n' + b'x' * 120 + b'\r\n.\r\n'),
    (0, b'HELO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\nx\n.\nMAIL FROM:<s@m.g>\r\n.\r\n'),
    (0, b'EHLO c\r\nMAIL FROM:<"quoted local"@b.c>\r\nRCPT TO:<Postmaster>\r\nRCPT TO:<@route,@r2:d@[192.0.2.1]>\r\nRCPT TO:<d@[IPv6:2001:db8::1]>\r\nVRFY x\r\nHELP\r\nNOOP\r\nRSET\r\n'),
]
# Requests to the admin listener (the same input also reaches the SMTP checks, and theirs it).
admin = [
    b'GET /metrics HTTP/1.1\r\nHost: a\r\n\r\nGET /readyz HTTP/1.1\r\nHost: a\r\n\r\nHEAD /metrics HTTP/1.0\r\n\r\n',
    b'GET /api/queue?state=deferred&domain=Ex%41mple.com&older_than=60&offset=0&limit=10 HTTP/1.1\r\nHost: a\r\n'
    b'Authorization: Bearer t0k3n\r\n\r\nPOST /api/queue/66200C8A2E4B19D5C4/hold HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n',
    b'DELETE /api/queue/ABC HTTP/1.1\r\nHost: a\r\n\r\nPOST /api/queue/flush HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n'
    b'3\r\nabc\r\n0\r\n\r\nGET /api/queue/ABC/attempts?x=%zz+y HTTP/1.1\r\n\r\nPOST /api/reload HTTP/1.1\r\nConnection: close\r\n\r\n',
]
for flags, stream in sessions + [(0, a) for a in admin]:
    for seed in (0, 7, 200):
        write(flags, seed, stream)
print(len(os.listdir(out)), 'inputs in', out)
