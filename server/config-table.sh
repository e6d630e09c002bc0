#!/bin/sh
# server/config-table.sh MODE XENTD README [RESULTS]
# README.md's section between <!-- config-table:begin --> and
# <!-- config-table:end --> is the output of `xentd --help` in a text block.
#   print  write the section's body (what belongs between the markers)
#   check  compare README with it; record the stage in RESULTS; exit 1 if
#          they differ
#   write  replace the section in README
set -eu
mode=$1
xentd=$2
readme=$3
results=${4:-}
begin='<!-- config-table:begin -->'
end='<!-- config-table:end -->'
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

{
  echo '## Configuration'
  echo
  echo 'Every option of `xentd`, as `xentd --help` prints it (this section is that'
  echo 'output; `make config-table` checks it, `make config-table-update` rewrites it).'
  echo 'A bad value stops xentd at start with a message and exit status 2.'
  echo
  echo '```text'
  "$xentd" --help
  echo '```'
} > "$tmp/want"

# The lines strictly between the two markers.
awk -v b="$begin" -v e="$end" '
  $0 == e { inside = 0 }
  inside { print }
  $0 == b { inside = 1 }' "$readme" > "$tmp/have"

case "$mode" in
  print) cat "$tmp/want" ;;
  check)
    if diff -u "$tmp/have" "$tmp/want"; then
      echo "config-table: README.md matches xentd --help"
      [ -z "$results" ] || "$(dirname "$0")/../tests/record" "$results" config-table 1 0
    else
      echo "config-table: README.md differs from xentd --help (make config-table-update)" >&2
      [ -z "$results" ] || "$(dirname "$0")/../tests/record" "$results" config-table 0 1
      exit 1
    fi ;;
  write)
    grep -qxF "$begin" "$readme" && grep -qxF "$end" "$readme" || {
      echo "config-table: markers missing in $readme" >&2; exit 1; }
    awk -v b="$begin" -v e="$end" -v f="$tmp/want" '
      $0 == b { print; while ((getline line < f) > 0) print line; skip = 1; next }
      $0 == e { skip = 0 }
      !skip { print }' "$readme" > "$tmp/new"
    cat "$tmp/new" > "$readme" ;;
  *) echo "usage: $0 print|check|write XENTD README [RESULTS]" >&2; exit 2 ;;
esac
