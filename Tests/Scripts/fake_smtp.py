#!/usr/bin/env python3
"""A scripted SMTP server for relay tests.

Usage: fake_smtp.py MODE OUTDIR [--host 127.0.0.1] [--port 0]
MODE:
  accept         take every message
  defer-first    answer 451 to RCPT on the first connection, then accept
  defer-always   answer 451 to every RCPT
  reject-rcpt    550 to every RCPT
  reject-data    554 after the data
  greet-421      421 greeting, then close
  greet-554      554 greeting, then wait for QUIT
  ehlo-500       500 to EHLO, accept HELO (no extensions)
  silent         accept the connection and never say anything
  no-8bit        like accept, without 8BITMIME in the EHLO reply
  small-size     like accept, with SIZE 1000
  slow-greet     like accept, greeting after one second
  chunking       like accept, offering CHUNKING too (BDAT, RFC 3030); <n>.raw holds the BDAT
                 commands and their octets
  slow-accept    like accept, the 250 after the data 50 ms after the message is written (a
                 window in which the message is in flight: taken here, not yet known to the sender;
                 and a peer slower than a client sending a burst, so that a backlog builds)
  auth           offers STARTTLS (a certificate made at start) and, over TLS only, AUTH PLAIN
                 LOGIN for user "relay", password "s3cret"; MAIL needs AUTH. Each message records
                 "X-Auth: <user> tls=<yes|no>"
Each accepted message is written to OUTDIR/<n>.eml with "X-Envelope-From:" and
"X-Envelope-To:" lines first, then the message as received (dot-stuffing removed, CRLF kept);
OUTDIR/<n>.raw holds the data exactly as it came over the wire. Prints "PORT <n>" once listening;
stops when its standard input closes.
"""
import os, socket, socketserver, sys, threading, time

mode, outdir = sys.argv[1], sys.argv[2]
tls_context = None
if mode == "auth":
    import base64, datetime, ssl, tempfile
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake.test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    d = tempfile.mkdtemp()
    open(d + "/c.pem", "wb").write(cert.public_bytes(serialization.Encoding.PEM))
    open(d + "/k.pem", "wb").write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    tls_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls_context.load_cert_chain(d + "/c.pem", d + "/k.pem")
host = sys.argv[sys.argv.index("--host") + 1] if "--host" in sys.argv else "127.0.0.1"
port = int(sys.argv[sys.argv.index("--port") + 1]) if "--port" in sys.argv else 0
os.makedirs(outdir, exist_ok=True)
lock = threading.Lock()
state = {"connections": 0, "messages": 0}

class Handler(socketserver.StreamRequestHandler):
    def record(self, connection, user, tls, sender, rcpts, body, raw):
        """Writes an accepted message to <n>.eml (envelope lines first) and <n>.raw; returns n."""
        with lock:
            state["messages"] += 1
            n = state["messages"]
        head = ("X-Connection: %d\r\n" % connection if mode == "slow-greet" else "").encode()
        head += ("X-Auth: %s tls=%s\r\n" % (user, "yes" if tls else "no") if mode == "auth" else "").encode()
        head += ("X-Envelope-From: %s\r\n" % sender + "".join("X-Envelope-To: %s\r\n" % r for r in rcpts)).encode()
        open(os.path.join(outdir, "%d.eml" % n), "wb").write(head + body)
        open(os.path.join(outdir, "%d.raw" % n), "wb").write(raw)
        return n

    def send(self, text):
        self.wfile.write(text.encode() + b"\r\n")
        self.wfile.flush()

    def handle(self):
        with lock:
            state["connections"] += 1
            connection = state["connections"]
        if mode == "silent":
            self.rfile.read()
            return
        if mode == "greet-421":
            self.send("421 4.3.2 fake.test busy, try again later")
            return
        if mode == "greet-554":
            self.send("554 5.7.1 fake.test no mail service here")
            while True:
                line = self.rfile.readline()
                if not line or line.upper().startswith(b"QUIT"):
                    self.send("221 bye")
                    return
                self.send("503 5.5.1 go away")
        if mode == "slow-greet":
            time.sleep(1)
        self.send("220 fake.test ESMTP")
        sender, rcpts = None, []
        bdat, bdat_raw = b"", b""
        tls, user = False, None
        while True:
            line = self.rfile.readline()
            if not line:
                return
            cmd = line.rstrip(b"\r\n").decode("utf-8", "replace")
            verb = cmd[:4].upper()
            if verb == "EHLO":
                if mode == "ehlo-500":
                    self.send("500 5.5.1 unknown command")
                    continue
                ext = ["PIPELINING", "8BITMIME", "SIZE 1000" if mode == "small-size" else "SIZE 100000000", "ENHANCEDSTATUSCODES"]
                if mode == "auth":
                    ext.append("AUTH PLAIN LOGIN" if tls else "STARTTLS")
                if mode == "no-8bit":
                    ext.remove("8BITMIME")
                if mode == "chunking":
                    ext.append("CHUNKING")
                self.send("250-fake.test")
                for e in ext[:-1]:
                    self.send("250-" + e)
                self.send("250 " + ext[-1])
            elif verb == "HELO":
                self.send("250 fake.test")
            elif cmd.upper() == "STARTTLS" and mode == "auth" and not tls:
                self.send("220 2.0.0 go ahead")
                self.connection = tls_context.wrap_socket(self.connection, server_side=True)
                self.rfile = self.connection.makefile("rb")
                self.wfile = self.connection.makefile("wb")
                tls = True
            elif verb == "AUTH" and mode == "auth" and tls:
                parts = cmd.split(" ")
                if parts[1].upper() == "PLAIN":
                    fields = base64.b64decode(parts[2]).split(b"\0")
                    given = (fields[1].decode(), fields[2].decode())
                else:
                    self.send("334 VXNlcm5hbWU6")
                    u = base64.b64decode(self.rfile.readline().strip()).decode()
                    self.send("334 UGFzc3dvcmQ6")
                    given = (u, base64.b64decode(self.rfile.readline().strip()).decode())
                if given == ("relay", "s3cret"):
                    user = given[0]
                    self.send("235 2.7.0 authenticated")
                else:
                    self.send("535 5.7.8 bad credentials")
            elif verb == "MAIL" and mode == "auth" and user is None:
                self.send("530 5.7.0 authentication required")
            elif verb == "MAIL":
                sender, rcpts = cmd[10:].strip(), []
                self.send("250 2.1.0 ok")
            elif verb == "RCPT":
                if mode == "reject-rcpt":
                    self.send("550 5.1.1 no such user here")
                elif (mode == "defer-first" and connection == 1) or mode == "defer-always":
                    self.send("451 4.3.0 try again later")
                else:
                    rcpts.append(cmd[8:].strip())
                    self.send("250 2.1.5 ok")
            elif verb == "DATA":
                if not rcpts:
                    self.send("554 5.5.1 no valid recipients")
                    continue
                self.send("354 go ahead")
                raw, lines = b"", []
                while True:
                    l = self.rfile.readline()
                    if not l:
                        return
                    raw += l
                    if l == b".\r\n":
                        break
                    lines.append(l[1:] if l.startswith(b".") else l)
                if mode == "reject-data":
                    self.send("554 5.7.1 message refused")
                    continue
                n = self.record(connection, user, tls, sender, rcpts, b"".join(lines), raw)
                if mode == "slow-accept":
                    time.sleep(0.05)
                self.send("250 2.0.0 Ok: queued as FAKE%d" % n)
            elif verb == "BDAT" and mode == "chunking":
                parts = cmd.split()
                size, last = int(parts[1]), len(parts) > 2 and parts[2].upper() == "LAST"
                chunk = self.rfile.read(size)
                bdat, bdat_raw = bdat + chunk, bdat_raw + line + chunk
                if not last:
                    self.send("250 2.0.0 %d octets received" % size)
                    continue
                if not rcpts:
                    self.send("554 5.5.1 no valid recipients")
                else:
                    n = self.record(connection, user, tls, sender, rcpts, bdat, bdat_raw)
                    self.send("250 2.0.0 Ok: queued as FAKE%d" % n)
                bdat, bdat_raw, sender, rcpts = b"", b"", None, []
            elif verb == "RSET":
                sender, rcpts = None, []
                self.send("250 2.0.0 ok")
            elif verb == "NOOP":
                self.send("250 2.0.0 ok")
            elif verb == "QUIT":
                self.send("221 2.0.0 bye")
                return
            else:
                self.send("500 5.5.2 what?")

class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

server = Server((host, port), Handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
print("PORT", server.server_address[1], flush=True)
sys.stdin.read()
