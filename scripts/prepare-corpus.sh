#!/usr/bin/env bash
# Prepares the bundled corpus from Debian packages (bible-kjv, fortunes, jargon-text): writes the
# raw text (documents separated by blank lines: KJV chapters, single fortunes, Jargon File entries)
# to OUT/raw/, trains a byte-level BPE tokenizer (OUT/tokenizer.json) and tokenizes it into
# Megatron datasets OUT/train, OUT/valid and OUT/test. Skips the work when OUT/train.idx exists.
#   scripts/prepare-corpus.sh [--out data/quickstart] [--vocab-size 512] [--split 98,1,1]
#                             [--primus build/apps/primus/primus] [--force]
set -euo pipefail
cd "$(dirname "$0")/.."
out=data/quickstart vocab=512 split=98,1,1 primus=${PRIMUS:-build/apps/primus/primus} force=0
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --vocab-size) vocab=$2; shift 2 ;;
    --split) split=$2; shift 2 ;;
    --primus) primus=$2; shift 2 ;;
    --force) force=1; shift ;;
    *) echo "prepare-corpus: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ "$force" = 0 ] && [ -f "$out/train.idx" ] && [ -f "$out/tokenizer.json" ]; then
  echo "prepare-corpus: $out is already prepared (--force to redo)"
  exit 0
fi
[ -x "$primus" ] || { echo "prepare-corpus: $primus not built (run scripts/build.sh)" >&2; exit 1; }
raw="$out/raw"
rm -rf "$raw"
mkdir -p "$raw"

if command -v bible >/dev/null; then
  # "Ge1:1 In the beginning ..." -> one document per chapter, without the verse references.
  bible -f "Gen1:1-Rev22:21" | awk '{
      split($1, ref, ":"); chapter = ref[1]
      if (NR > 1 && chapter != last) print ""
      last = chapter; $1 = ""; sub(/^ /, ""); print }' > "$raw/kjv.txt"
fi
fortunes=/usr/share/games/fortunes
if [ -d "$fortunes" ]; then
  # Fortune files separate entries with "%" lines; the offensive ones live in off/ and are left out.
  for f in "$fortunes"/*; do
    case "$f" in *.dat|*.u8) continue ;; esac
    [ -f "$f" ] || continue
    awk '/^%$/ { print ""; next } /^[[:space:]]*$/ { next } { print }' "$f"
    echo
  done > "$raw/fortunes.txt"
fi
jargon=/usr/share/doc/jargon-text/jargon.txt.gz
[ -f "$jargon" ] && zcat "$jargon" > "$raw/jargon.txt"

if [ -z "$(ls -A "$raw")" ]; then
  echo "prepare-corpus: none of bible-kjv, fortunes, jargon-text is installed (run scripts/setup.sh)" >&2
  exit 1
fi
du -ch "$raw"/* | sed 's/^/prepare-corpus: /'
"$primus" data train-tokenizer --input "$raw" --vocab-size "$vocab" --doc-boundary blank-line \
  --output "$out/tokenizer.json"
"$primus" data prepare --input "$raw" --tokenizer "$out/tokenizer.json" --output "$out" \
  --doc-boundary blank-line --split "$split"
"$primus" data inspect "$out/train" --tokenizer "$out/tokenizer.json" --docs 1 --sample-tokens 48
