#!/usr/bin/env python3
"""DMARC results from authheaders (which uses its own Public Suffix List copy), an independent
implementation for the DMARC tests.

Reads JSON from standard input: {"records": {"_dmarc.<domain>": "v=DMARC1; ..."},
"cases": [{"from": ["From field value", ...], "spf": {"result", "domain"} | null,
"dkim": {"result", "d"} | null}]}; prints a JSON list of [result, policy], one per case.
"""
import json, sys
import authheaders

data = json.load(sys.stdin)
records = {k.lower(): v for k, v in data["records"].items()}

def dnsfunc(name):
    return records.get(name.lower().rstrip("."))

out = []
for case in data["cases"]:
    message = "".join("From: %s\r\n" % f for f in case["from"]) + "Subject: t\r\n\r\nbody\r\n"
    spf = None
    if case.get("spf"):
        spf = authheaders.SPFAuthenticationResult(result=case["spf"]["result"],
                                                  smtp_mailfrom="sender@" + case["spf"]["domain"])
    dkim = None
    if case.get("dkim"):
        dkim = authheaders.DKIMAuthenticationResult(result=case["dkim"]["result"], header_d=case["dkim"]["d"])
    r = authheaders.check_dmarc(message.encode(), spf_result=spf, dkim_result=dkim, dnsfunc=dnsfunc)
    out.append([r.result, r.policy or ""])
print(json.dumps(out))
