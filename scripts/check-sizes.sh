#!/usr/bin/env bash
# Line budget: prints lines per folder and fails if any source file passes the hard limit (1000).
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
for d in src/* apps/* tests bench scripts; do
  [ -d "$d" ] || continue
  n=$(find "$d" -type f \( -name '*.h' -o -name '*.cpp' -o -name '*.cu' -o -name '*.cuh' -o -name '*.sh' -o -name '*.py' \) -print0 | xargs -0 -r cat | wc -l)
  printf '%6d  %s\n' "$n" "$d"
done
while IFS= read -r f; do
  n=$(wc -l < "$f")
  if [ "$n" -gt 1000 ]; then echo "check-sizes: $f has $n lines (hard limit 1000)"; status=1; fi
done < <(git ls-files '*.h' '*.cpp' '*.cu' '*.cuh' '*.py' '*.sh' 2>/dev/null)
exit $status
