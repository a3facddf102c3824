#!/usr/bin/env bash
# Fails when a non-test source file is longer than the team's limit.
#
# Checked: every .rs file under crates/*/src and crates/tokenctl/demo/src.
# What counts is the lines before the file's `#[cfg(test)]` module (a file
# without one counts whole). Usage: scripts/check-file-sizes.sh [LIMIT]
# (default 450). Exits 1 and names each file over the limit.
set -euo pipefail
cd "$(dirname "$0")/.."

limit="${1:-450}"
over=0
checked=0
while IFS= read -r -d '' file; do
  checked=$((checked + 1))
  # Count up to a `#[cfg(test)]` line that is followed by a `mod` line (a
  # test-only function or import elsewhere in the file does not end it).
  lines=$(awk '
    pending && /^[[:space:]]*(pub(\([a-z]+\))?[[:space:]]+)?mod[[:space:]]/ { n = at; done = 1; exit }
    { pending = 0 }
    /^[[:space:]]*#\[cfg\(test\)\]/ { pending = 1; at = n }
    { n++ }
    END { print n + 0 }' "$file")
  if [ "$lines" -gt "$limit" ]; then
    echo "$file: $lines lines before its #[cfg(test)] module (limit $limit): split it by concern" >&2
    over=$((over + 1))
  fi
done < <(find crates/*/src crates/tokenctl/demo/src -name '*.rs' -print0 2>/dev/null)

if [ "$checked" -eq 0 ]; then
  echo "check-file-sizes: no source files found under crates/*/src" >&2
  exit 1
fi
if [ "$over" -gt 0 ]; then
  echo "check-file-sizes: $over of $checked files over $limit lines" >&2
  exit 1
fi
echo "check-file-sizes: $checked files, none over $limit lines"
