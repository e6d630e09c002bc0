#!/usr/bin/python3
"""Runs every curl example of README.md against a real xentd.

Inside the section between <!-- curl-examples:begin --> and
<!-- curl-examples:end -->, each ```sh block is run as written with /bin/sh
(only 127.0.0.1:8080 is rewritten to the test daemon's address) and its
output is compared with the ```json block that follows it: structure and
strings exactly, numbers to relative 1e-12 with an absolute floor of 1e-12.
Closing line: "readme: N passed, M failed".
"""

import argparse
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import xentd_harness as xh  # noqa: E402

BEGIN = "<!-- curl-examples:begin -->"
END = "<!-- curl-examples:end -->"
FENCE = re.compile(r"^```([a-z]*)\n(.*?)^```\s*$", re.M | re.S)


def examples(readme_text):
    """[(command, expected_json_text or None)] in section order."""
    start = readme_text.find(BEGIN)
    end = readme_text.find(END)
    if start < 0 or end < start:
        raise ValueError("no curl-examples section in README.md")
    blocks = [(m.group(1), m.group(2))
              for m in FENCE.finditer(readme_text[start:end])]
    out = []
    for i, (lang, text) in enumerate(blocks):
        if lang != "sh":
            continue
        nxt = blocks[i + 1] if i + 1 < len(blocks) else None
        out.append((text, nxt[1] if nxt and nxt[0] == "json" else None))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--xentd", default="build/xentd")
    ap.add_argument("--readme", default="README.md")
    opts = ap.parse_args()
    with open(opts.readme) as f:
        cases = examples(f.read())
    passed = failed = 0
    try:
        with xh.daemon(opts.xentd, ["--access-log", "off"]) as url:
            host, port = xh.host_port(url)
            for n, (command, expected) in enumerate(cases, 1):
                first = command.strip().splitlines()[0]
                why = None
                if "127.0.0.1:8080" not in command:
                    why = "the command does not address 127.0.0.1:8080"
                elif expected is None:
                    why = "no ```json block follows the command"
                else:
                    run = command.replace("127.0.0.1:8080",
                                          "%s:%d" % (host, port))
                    proc = subprocess.run(["/bin/sh", "-c", run],
                                          capture_output=True, text=True,
                                          timeout=30)
                    try:
                        got = json.loads(proc.stdout)
                        want = json.loads(expected)
                        why = xh.json_diff(got, want)
                    except ValueError as e:
                        why = "not JSON (%s): %r %r" % (e, proc.stdout[:300],
                                                        proc.stderr[:300])
                    if why is None and proc.returncode != 0:
                        why = "exit status %d" % proc.returncode
                if why is None:
                    passed += 1
                else:
                    failed += 1
                    print("FAIL example %d (%s): %s" % (n, first, why))
    except xh.DaemonError as e:
        print("readme: daemon: %s" % e)
        failed += 1
    if not cases:
        print("readme: no ```sh block in the curl-examples section")
        failed += 1
    print("readme: %d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
