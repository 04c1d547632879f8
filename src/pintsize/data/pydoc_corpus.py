"""A real corpus that needs no download: the Python standard library's own documentation.

`pydoc` renders the docstrings of the stdlib modules (and their submodules) as plain text:
a few hundred documents, about 5-8 MB of expository technical prose written by the CPython
developers. It is the embedded default corpus of the demo and the real text of the tests.

Rendering imports every module, which has side effects for a few of them, so it runs in a
child process and the result is cached as JSONL (one document per module).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from pintsize.artifacts import atomic_write_text

SOURCE = "python-docs"
# Modules whose import opens windows, prints, starts threads or needs a display.
_SKIP = {"antigravity", "this", "idlelib", "tkinter", "turtle", "turtledemo", "test", "lib2to3", "ensurepip", "venv", "pydoc_data"}


def default_cache_path() -> Path:
    root = Path(os.environ.get("PINTSIZE_CACHE", Path.home() / ".cache" / "pintsize"))
    return root / f"pydoc-{sys.version_info.major}.{sys.version_info.minor}.jsonl"


def write_pydoc_corpus(path: str | Path | None = None, min_chars: int = 200) -> Path:
    """Render the stdlib documentation to JSONL at `path` (default: the user cache); reuse it if present."""
    path = Path(path) if path is not None else default_cache_path()
    if path.is_file() and path.stat().st_size > 0:
        return path
    out = subprocess.run(
        [sys.executable, "-c", f"from pintsize.data.pydoc_corpus import _render; _render({min_chars})"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    atomic_write_text(path, out.stdout)
    return path


def pydoc_documents(limit: int | None = None) -> list[dict]:
    """The stdlib documentation as a list of {"id", "text", "source", "meta"} records."""
    docs = []
    with open(write_pydoc_corpus(), encoding="utf-8") as f:
        for line in f:
            docs.append(json.loads(line))
            if limit is not None and len(docs) >= limit:
                break
    return docs


def _module_names() -> list[str]:
    import pkgutil

    names = []
    for name in sorted(sys.stdlib_module_names):
        if name.startswith("_") or name in _SKIP:
            continue
        names.append(name)
        try:
            mod = __import__(name)
        except Exception:
            continue
        if hasattr(mod, "__path__"):
            for info in pkgutil.iter_modules(mod.__path__, prefix=name + "."):
                last = info.name.rsplit(".", 1)[-1]
                if not last.startswith("_") and "test" not in last:
                    names.append(info.name)
    return names


def _render(min_chars: int) -> None:
    """Child-process entry point: print one JSON line per documented module."""
    import contextlib
    import importlib
    import io
    import pydoc

    for name in _module_names():
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                mod = importlib.import_module(name)
                text = pydoc.plaintext.document(mod)
        except BaseException:  # noqa: BLE001 - some modules raise SystemExit or worse on import
            continue
        if len(text) >= min_chars:
            rec = {"id": f"pydoc:{name}", "text": text, "source": SOURCE, "meta": {"module": name}}
            sys.stdout.write(json.dumps(rec, ensure_ascii=False) + "\n")
