"""pintsize: from raw text to a small, capable chat model, by putting the effort into the data."""

import os

__version__ = "0.1.0"

# Torch's OpenMP threads (GNU libgomp) spin at every barrier while they wait for one another, and
# libgomp spins longest when a process has no more threads than the machine has cores, as if the
# cores were its own. Beside another busy process a spinning thread burns the time slice its
# partner needs: `pintsize generate` on SmolLM2 then took several times longer per token, and
# several times the CPU, than with threads that sleep while they wait (benchmarks/decode_throughput.py
# --busy). libgomp reads this once, when torch loads it, so it is set here, before any `import
# torch` of pintsize's; a wait policy or spin count the user set wins.
if "GOMP_SPINCOUNT" not in os.environ:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
