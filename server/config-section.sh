#!/bin/sh
# server/config-section.sh XENTD: README.md's configuration section, which
# is the output of `xentd --help` in a text block (checked by
# `make config-table` through tests/readme-section).
set -eu
echo '## Configuration'
echo
echo 'Every option of `xentd`, as `xentd --help` prints it (this section is that'
echo 'output; `make config-table` checks it, `make config-table-update` rewrites it).'
echo 'A bad value stops xentd at start with a message and exit status 2.'
echo
echo '```text'
"$1" --help
echo '```'
