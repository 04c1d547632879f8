"""Typer options whose checks every command shares: whole-number counts, real numbers (finite, in
range), seeds, ports and devices.

A bad value is a usage error (exit 2) in Typer's own words, naming the option:
"Invalid value for '--top-p': nan is not a finite number". Checked here, before the command
starts, rather than deep inside torch or numpy (a traceback, or a silent surprise: `--merges -5`
replayed all but the last 5 merges).
"""

from __future__ import annotations

import math
from typing import Any

import typer

# Beyond this a count is a typo, and numpy and torch overflow on it (int64).
MAX_COUNT = 2**62
MAX_SEED = 2**32 - 1  # what every library here takes (numpy's RandomState and scikit-learn stop at 2**32 - 1)
MAX_WORKERS = 1024  # threads or processes on one machine, requests in flight
MAX_BATCH = 1 << 20  # sequences per forward pass
MAX_TOKEN_ID = 2**32 - 1  # token ids are 32-bit in the tokenizers library and in our shards


def count(default: Any, *flags: str, help: str, min: int = 1, max: int = MAX_COUNT, **kwargs: Any) -> Any:
    """A whole number >= `min` (1 unless said): tokens, documents, steps, workers."""
    return typer.Option(default, *flags, min=min, max=max, help=help, **kwargs)


def seed(default: Any, *flags: str, help: str = "random seed") -> Any:
    return typer.Option(default, *flags, min=0, max=MAX_SEED, help=help)


def port(default: int, help: str = "port to listen on (0: any free port)") -> Any:
    return typer.Option(default, min=0, max=65535, help=help)


def real(default: Any, *flags: str, help: str, above: float | None = None, at_least: float | None = None,
         at_most: float | None = None, below: float | None = None, **kwargs: Any) -> Any:
    """A finite real number within the bounds given (`above` and `below` exclusive). Click's own
    float range lets NaN through (every comparison with it is false), so the check is ours."""

    def check(value: float | None) -> float | None:
        if value is None:
            return None
        if not math.isfinite(value):
            raise typer.BadParameter(f"{value} is not a finite number")
        for bound, ok, words in ((above, lambda b: value > b, "greater than"), (at_least, lambda b: value >= b, "at least"),
                                 (at_most, lambda b: value <= b, "at most"), (below, lambda b: value < b, "less than")):
            if bound is not None and not ok(bound):
                raise typer.BadParameter(f"{value:g} must be {words} {bound:g}")
        return value

    return typer.Option(default, *flags, help=help, callback=check, **kwargs)


def check_device(value: str | None) -> str | None:
    """`auto`, or a device torch knows that this machine has (cpu, cuda, cuda:1, mps)."""
    if value is None or value == "auto":
        return value
    import torch

    try:
        device = torch.device(value)
    except (RuntimeError, ValueError):
        raise typer.BadParameter(f"{value!r} is not a device (cpu, cuda, cuda:1, ... or auto)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise typer.BadParameter(f"{value!r}: this machine has no CUDA device")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise typer.BadParameter(f"{value!r}: this machine has {torch.cuda.device_count()} CUDA devices")
    return value


def device(default: str | None, *flags: str, help: str) -> Any:
    return typer.Option(default, *flags, help=help, callback=check_device)


def check_url(value: str | None) -> str | None:
    """An http(s) base URL (an OpenAI-compatible endpoint), checked before anything is sent."""
    from urllib.parse import urlparse

    if value is None:
        return None
    parts = urlparse(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise typer.BadParameter(f"{value!r} is not an http(s) URL (e.g. http://127.0.0.1:8000/v1)")
    return value


def url(default: Any, *flags: str, help: str) -> Any:
    return typer.Option(default, *flags, help=help, callback=check_url)
