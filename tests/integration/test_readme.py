#!/usr/bin/python3
"""Runs every example of README.md's example sections against a real xentd.

Inside the sections between <!-- curl-examples:begin --> and
<!-- curl-examples:end -->, <!-- v2-examples:begin --> and
<!-- v2-examples:end -->, <!-- dataset-examples:begin --> and
<!-- dataset-examples:end -->, each ```sh block is run as written with /bin/sh
and each ```python block with /usr/bin/python3 (only 127.0.0.1:8080 and its
port are rewritten to the test daemon's address). A command's output is
compared with the block that follows it: a ```json block by structure and
strings exactly, numbers to relative 1e-12 with a floor at the smallest
normal double;
a ```text block exactly. (A ```py block is shown, not run.)
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

SECTIONS = ("curl-examples", "v2-examples", "dataset-examples")
FENCE = re.compile(r"^```([a-z]*)\n(.*?)^```\s*$", re.M | re.S)


def examples(readme_text):
    """[(language, program, (expected language, text) or None)] in order."""
    out = []
    for name in SECTIONS:
        begin, end = "<!-- %s:begin -->" % name, "<!-- %s:end -->" % name
        start = readme_text.find(begin)
        stop = readme_text.find(end)
        if start < 0 or stop < start:
            raise ValueError("no %s section in README.md" % name)
        blocks = [(m.group(1), m.group(2))
                  for m in FENCE.finditer(readme_text[start:stop])]
        for i, (lang, text) in enumerate(blocks):
            if lang not in ("sh", "python"):
                continue
            nxt = blocks[i + 1] if i + 1 < len(blocks) else None
            out.append((lang, text,
                        nxt if nxt and nxt[0] in ("json", "text") else None))
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
            for n, (lang, command, expected) in enumerate(cases, 1):
                first = command.strip().splitlines()[0]
                why = None
                if "127.0.0.1" not in command or "8080" not in command:
                    why = "the example does not address 127.0.0.1:8080"
                elif expected is None:
                    why = "no ```json or ```text block follows the example"
                else:
                    run = (command.replace("127.0.0.1:8080",
                                           "%s:%d" % (host, port))
                           .replace('"127.0.0.1", 8080',
                                    '"%s", %d' % (host, port)))
                    argv = (["/bin/sh", "-c", run] if lang == "sh"
                            else ["/usr/bin/python3", "-c", run])
                    proc = subprocess.run(argv, capture_output=True,
                                          text=True, timeout=30)
                    if expected[0] == "text":
                        if proc.stdout != expected[1]:
                            why = "printed %r, the README says %r (%s)" % (
                                proc.stdout, expected[1], proc.stderr[-300:])
                    else:
                        try:
                            got = json.loads(proc.stdout)
                            want = json.loads(expected[1])
                            why = xh.json_diff(got, want)
                        except ValueError as e:
                            why = "not JSON (%s): %r %r" % (
                                e, proc.stdout[:300], proc.stderr[:300])
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
        print("readme: no example in the example sections")
        failed += 1
    print("readme: %d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
