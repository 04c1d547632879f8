"""Shared test setup: keep caches (pydoc corpus, compiled kernels) between runs, and make runs quiet."""

import os
from pathlib import Path

_cache = Path(os.environ.setdefault("PINTSIZE_CACHE", str(Path.home() / ".cache" / "pintsize")))
os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(_cache / "inductor"))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
# Rich wraps CLI output at 80 columns when there is no terminal; tests read whole lines.
os.environ["COLUMNS"] = "200"
