#!/usr/bin/env bash
# node-llama-cpp (a second llama.cpp client, from npm) loads our GGUF exports and decodes what
# `pintsize generate` decodes (issue 18).
#
#   bash scripts/check_node_llama_cpp.sh [WORK]
#
# What it adds to tests/model/test_llama_cpp.py (xllamacpp): node-llama-cpp renders the GGUF's chat
# template with its own Jinja implementation, and by default swaps in a built-in chat wrapper
# when it judges the template equal to one; it tokenizes through its own llama.cpp build.
# Models: SmolLM2-135M-Instruct imported into pintsize (F32 GGUF), and a random 2-layer model
# with the Pints tokenizer (F32 GGUF; its greedy ids are near-ties, so mostly its prompt ids are
# checked). The Pints prompts start with a space: llama.cpp cannot prefix '▁' only at the start
# of the input as the Pints tokenizer does, so without a space the first word's '▁' is lost
# (src/pintsize/model/gguf.py, _space_prefix_scheme).
# Checks (scripts/greedy_agreement.py states the rule): text prompts tokenize to our ids; greedy
# ids from our prompt ids equal ours; our chat template through node-llama-cpp's Jinja renderer
# gives our chat-template ids and our greedy reply. What its default wrapper renders is reported.
#
# Needs node and npm (apt-get install nodejs npm). WORK (default /tmp/node-llama-cpp-check) gets
# node_modules (node-llama-cpp 3.21.1 with its prebuilt linux-x64 binary, about 0.7 GB with the
# optional GPU builds npm adds) and the models. The project's Python is $PINTSIZE_PYTHON, else
# `python`. Not in CI: the npm install alone takes minutes.
set -euo pipefail

WORK="${1:-/tmp/node-llama-cpp-check}"
PY="${PINTSIZE_PYTHON:-python}"
HERE="$(cd "$(dirname "$0")" && pwd)"
command -v node >/dev/null && command -v npm >/dev/null || {
    echo "error: node and npm are needed (apt-get install nodejs npm)" >&2
    exit 2
}
mkdir -p "$WORK"
cp "$HERE/node_llama_cpp/package.json" "$HERE/node_llama_cpp/check.mjs" "$WORK/"
if [ ! -d "$WORK/node_modules/node-llama-cpp" ]; then
    (cd "$WORK" && npm install --no-audit --no-fund)
fi

if [ ! -f "$WORK/smollm2/manifest.json" ]; then
    "$PY" -m pintsize import gguf builtin:smollm2 "$WORK/smollm2"
fi
if [ ! -f "$WORK/pints/model_config.json" ]; then
    "$PY" - "$WORK/pints" <<'EOF'
import sys
from pathlib import Path

import torch

from pintsize.model.checkpoint import save_model
from pintsize.model.config import ModelConfig
from pintsize.model.llama import Llama
from pintsize.tokenizer import TokenizerInfo, build_pints_tokenizer

root = Path(sys.argv[1])
tok = build_pints_tokenizer(root.with_name("pints-tokenizer"))
cfg = ModelConfig(name="pints-random", vocab_size=TokenizerInfo.read(tok).vocab_size, n_layer=2, d_model=64,
                  n_head=4, n_kv_head=2, d_ff=160, block_size=512)
torch.manual_seed(0)
save_model(Llama(cfg), cfg, root, tokenizer_dir=tok)
EOF
fi

status=0
for name in smollm2 pints; do
    echo "== $name"
    "$PY" -m pintsize export gguf "$WORK/$name" "$WORK/$name.gguf" --dtype float32
    if [ "$name" = pints ]; then
        "$PY" "$HERE/greedy_agreement.py" ours "$WORK/$name" "$WORK/$name-ours.json" \
            " The json module can encode" " def fibonacci(n):"
    else
        "$PY" "$HERE/greedy_agreement.py" ours "$WORK/$name" "$WORK/$name-ours.json"
    fi
    (cd "$WORK" && node check.mjs "$WORK/$name.gguf" "$WORK/$name-ours.json" "$WORK/$name-node.json")
    "$PY" "$HERE/greedy_agreement.py" compare "$WORK/$name-ours.json" "$WORK/$name-node.json" || status=1
done
exit $status
