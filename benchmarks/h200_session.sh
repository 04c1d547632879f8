#!/usr/bin/env bash
# A short GPU session (the `device` tool's H200: torch with CUDA, no internet), in two calls that
# each fit the tool's 10-minute limit:
#   bash benchmarks/h200_session.sh          the GPU correctness checks, training throughput of
#                                            both shapes as the engine runs them and with a host
#                                            sync after every step (what the overlap gains), then
#                                            serving with and without batching. About 7 minutes.
#   bash benchmarks/h200_session.sh variants candidate rewrites of the slow kernels, one block at
#                                            the real shapes, checked against the model's block,
#                                            and clipping folded into the fused AdamW. About 3 minutes.
#
# Prepare here, on the CPU machine:
#   .venv/bin/python benchmarks/train_throughput.py --make-tokens .devcache/tokens.npy
#   .venv/bin/pip download --only-binary :all: --python-version 3.12 --no-deps -d .whl \
#       pydantic==2.* pydantic-core annotated-types typing-inspection typing_extensions
# then: run(command="bash benchmarks/h200_session.sh", carry=[".whl", ".devcache"], timeout_s=540)
# and at once: run(command="bash benchmarks/h200_session.sh variants", carry=[".whl"], timeout_s=300)
set -uo pipefail
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD/src PYTHONUNBUFFERED=1 TORCHINDUCTOR_CACHE_DIR=/tmp/inductor
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"

if [ "${1:-}" = variants ]; then
  timeout 280 python3 benchmarks/block_variants.py 2>&1 | tee "$OUT/block-variants.log" | grep -vE '^\{"(variant|model)"' | tail -22
  exit 0
fi

timeout 90 python3 benchmarks/gpu_checks.py 2>&1 | tail -8 | tee "$OUT/gpu-checks.log"

bench() {  # label, then the benchmark's options
  local label=$1; shift
  echo "### $label: $*" | tee -a "$OUT/train.log"
  timeout 150 python3 benchmarks/train_throughput.py --tokens .devcache/tokens.npy --attention causal \
    --warmup 3 --steps 10 "$@" 2>&1 | grep -E '^\{"model"|┃|│|FAILED|Error' | tee -a "$OUT/train.log"
}
bench "1.5B, overlapped (the engine)" --shapes 1.5-pints-2k --profile-steps 2
bench "1.5B, sync every step" --shapes 1.5-pints-2k --profile-steps 0 --sync-every-step
bench "0.12B, overlapped (the engine)" --shapes 0.12-pint --profile-steps 2
bench "0.12B, sync every step" --shapes 0.12-pint --profile-steps 0 --sync-every-step
echo "### serving: continuous batching vs one thread per request" | tee -a "$OUT/serve.log"
timeout 120 python3 benchmarks/serve_throughput.py --device cuda --repeat 2 2>&1 | tail -7 | head -6 | tee -a "$OUT/serve.log"
echo "--- summary"
python3 - "$OUT/train.log" <<'PY'
import json, sys
label = ""
for line in open(sys.argv[1]):
    if line.startswith("###"):
        label = line[4:].split(":")[0]
    elif line.startswith('{"model"'):
        r = json.loads(line)
        syncs, busy = len(r["host_syncs_in_launch"] or []), r.get("profile_device_busy") or 0
        mfu, peak = r["mfu"] or 0, r["peak_memory_gib"] or 0
        print(f"{label:34s} {r['tokens_per_s']:>10,.0f} tok/s  MFU {mfu:.1%}  peak {peak:.1f} GiB  "
              f"host syncs in a launch {syncs}  device busy {busy:.0%}")
PY
