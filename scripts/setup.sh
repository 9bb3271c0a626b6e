#!/usr/bin/env bash
# Installs what Primus needs from Debian's packages (idempotent; downloads nothing else), and the
# Python test peers into .venv (PyPI) when PRIMUS_TEST_PEERS=1.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(build-essential cmake ninja-build pkg-config git
  nlohmann-json3-dev libcli11-dev libtomlplusplus-dev libyaml-cpp-dev libfmt-dev
  libopenblas-dev libopenmpi-dev openmpi-bin libpcre2-dev libgtest-dev libgmock-dev libbenchmark-dev
  bible-kjv fortunes-min fortunes jargon-text python3-venv slurm-wlm munge)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all Debian packages present"
fi

if [ "${PRIMUS_TEST_PEERS:-0}" = "1" ]; then
  if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
  if [ -f tests/requirements.txt ]; then
    .venv/bin/pip install -q -r tests/requirements.txt
  fi
fi
