#!/usr/bin/env python3
"""The RFC 7208 test suite (YAML) as JSON for the Swift tests: a list of scenarios, each
{"description", "zone": {name: dns_server.py entry}, "tests": [{"name", "spec", "helo", "host",
"mailfrom", "results": [...], "explanation"?}]}.

The zone follows the suite's driver conventions (pyspf's testspf.py): a type-99 SPF record is
served as TXT unless the name has TXT records of its own ("TXT: NONE" says it has none);
"TIMEOUT" makes the types a name lacks fail.
Usage: spf_suite.py SUITE.yml
"""
import json, sys, yaml

def zone_entry(records):
    entry, spf, has_txt = {}, [], False
    for record in records:
        if record == "TIMEOUT":
            entry["TIMEOUT"] = True
            continue
        (rtype, value), = record.items()
        if rtype == "TXT":
            has_txt = True
        if value == "NONE":
            entry.setdefault(rtype, [])
            continue
        if rtype == "SPF":
            spf.append(value)
        elif rtype == "MX":
            entry.setdefault("MX", []).append([value[0], value[1]])
        elif rtype == "CNAME":
            entry["CNAME"] = value
        elif rtype in ("TXT",):
            entry.setdefault("TXT", []).append(value if isinstance(value, str) else list(value))
        else:
            entry.setdefault(rtype, []).append(value)
    if spf and not has_txt:
        entry["TXT"] = [v if isinstance(v, str) else list(v) for v in spf]
    return entry

scenarios = []
for doc in yaml.safe_load_all(open(sys.argv[1], encoding="utf-8")):
    zone = {name: zone_entry(records) for name, records in doc["zonedata"].items()}
    tests = []
    for name, t in doc["tests"].items():
        results = t["result"] if isinstance(t["result"], list) else [t["result"]]
        test = {"name": name, "spec": str(t.get("spec", "")), "helo": t["helo"], "host": t["host"],
                "mailfrom": t.get("mailfrom", ""), "results": results}
        if "explanation" in t:
            test["explanation"] = t["explanation"]
        tests.append(test)
    scenarios.append({"description": doc["description"], "zone": zone, "tests": tests})
json.dump(scenarios, sys.stdout, ensure_ascii=False)
