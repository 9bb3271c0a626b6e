#!/usr/bin/env bash
# Quickstart: set-up, build, prepare the bundled corpus (Debian's bible-kjv, fortunes and
# jargon-text: real English text installed as packages), train a small GPT on the CPU with
# configs/experiments/quickstart.yaml, and print a sample from the random start and from the
# trained model, plus the validation loss against the unigram entropy of the validation text.
# Budget: under 10 minutes on 2 cores from a fresh machine, build included.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
elapsed() { echo "$(( $(date +%s) - start ))s"; }

scripts/setup.sh
# Only the program (no tests): the quickstart's build is most of its time on 2 cores.
PRIMUS_BUILD_DIR=build-quickstart scripts/build.sh -DPRIMUS_TESTS=OFF
primus=build-quickstart/apps/primus/primus
$primus --version
echo "quickstart: built in $(elapsed)"

# KJV chapters, fortunes and Jargon File entries -> data/quickstart/{tokenizer.json, train, valid, test}.
scripts/prepare-corpus.sh --primus $primus --vocab-size 2048
echo "quickstart: corpus ready in $(elapsed)"

config=configs/experiments/quickstart.yaml
prompt="And the LORD said unto"
sample() { $primus generate --checkpoint "$1" --prompt "$prompt" --max-new-tokens 48 \
             --temperature 0.8 --top-k 40 --seed 7 --threads 2; }

# The random start: one step at a negligible learning rate leaves the seeded initialization.
$primus train -c $config --force --set exp_name=quickstart-init --set train.steps=1 --set optim.lr=1e-12 \
  --set logging.eval_every_steps=0 --set logging.progress=off > /dev/null 2>&1 || {
    echo "quickstart: the random-start run failed" >&2; exit 1; }
echo "---- sample from the random start ----"
sample runs/quickstart-init/checkpoints/latest

$primus train -c $config --force
echo "---- sample after training ----"
sample runs/quickstart/checkpoints/latest

python3 - runs/quickstart/metrics.jsonl <<'PY'
import json, sys
evals = [r for r in map(json.loads, open(sys.argv[1])) if "valid_loss" in r]
if evals:
    first, last = evals[0], evals[-1]
    print(f"quickstart: validation loss {last['valid_loss']:.3f} nats at step {last['step']} "
          f"(unigram entropy of the validation text {last['unigram_entropy']:.3f}; "
          f"{last['unigram_entropy'] - last['valid_loss']:.3f} below it)")
PY
echo "quickstart: done in $(elapsed)"
