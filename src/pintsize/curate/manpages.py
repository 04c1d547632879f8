"""Manual pages as text: Debian ships translated ones (`/usr/share/man/de/man1/*.1.gz`), real
prose in many languages that needs no download. groff renders them (what `man` shows), without
bold/underline overstrikes or colour codes, and trailing blanks and empty lines are dropped."""

from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path

from pintsize.errors import DataError

GROFF = ["groff", "-k", "-Tutf8", "-man", "-P", "-cbou"]  # -k: preconv reads the page's encoding


def groff_available() -> bool:
    return shutil.which("groff") is not None


def render_manpage(path: str | Path) -> str:
    """The text of a (gzipped or plain) roff man page as `man` would show it."""
    if not groff_available():
        raise DataError(f"{path}: format = 'man' needs groff to render manual pages (apt-get install groff-base)")
    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    done = subprocess.run(GROFF, input=raw, capture_output=True, timeout=60, env={"LC_ALL": "C.UTF-8", "PATH": "/usr/bin:/bin"})
    text = done.stdout.decode("utf-8", "replace")
    return "\n".join(line.rstrip() for line in text.splitlines() if line.strip())
