"""Shared test setup: keep caches (pydoc corpus, compiled kernels) between runs, and make runs quiet."""

import os
from pathlib import Path

import pytest

_cache = Path(os.environ.setdefault("PINTSIZE_CACHE", str(Path.home() / ".cache" / "pintsize")))
os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(_cache / "inductor"))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
# Rich wraps CLI output at 80 columns when there is no terminal; tests read whole lines.
os.environ["COLUMNS"] = "200"


def fuzz_openapi(schema, headers: dict | None = None, examples: int = 10) -> int:
    """A bounded schemathesis run over every operation of `schema` (loaded with its ASGI app):
    `examples` valid and `examples` invalid requests each, with all of schemathesis' checks (no 5xx,
    status codes, content types and bodies as documented, valid data accepted, invalid data rejected).
    Derandomized, so CI meets the same requests every time. Returns how many requests were made."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode

    calls = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in GenerationMode:

            # no shrinking: a failure is reported as found (shrinking one took minutes)
            @settings(
                max_examples=examples,
                phases=[Phase.explicit, Phase.generate],
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def check(case):
                nonlocal calls
                calls += 1
                case.call_and_validate(headers=headers)

            try:
                check()
            except Unsatisfiable:
                if mode.is_positive:
                    raise  # (an operation that takes no input has no invalid request)
    return calls


@pytest.fixture(scope="session")
def fuzz_api():
    """`fuzz_api(schema, headers=..., examples=10)`: the bounded schemathesis run above."""
    return fuzz_openapi
