#!/usr/bin/env bash
# Quickstart: set-up, build, then the main job on the embedded default config: prepare the bundled
# corpus (Debian's bible-kjv, fortunes, jargon-text), train a small GPT on the CPU, sample from it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
primus=build/apps/primus/primus
$primus --version
echo "quickstart: the training engine has not landed yet; nothing more to run"
