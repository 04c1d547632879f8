"""The eval tests use the tiny models of tests/serve (loaded from its conftest by path, since test
folders are not packages) and the real eval data in shared/eval, skipping when it is absent."""

import importlib.util
from pathlib import Path

import pytest

from pintsize.eval.harness import find_eval_data

_spec = importlib.util.spec_from_file_location("serve_test_models", Path(__file__).parents[1] / "serve" / "conftest.py")
_models = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_models)
tokenizer_dir, model_dir, hf_dir = _models.tokenizer_dir, _models.model_dir, _models.hf_dir
bpe_tokenizer_dir, bpe_model_dir, bpe_hf_dir = _models.bpe_tokenizer_dir, _models.bpe_model_dir, _models.bpe_hf_dir
serve_app, make_model_dir, one_torch_thread = _models.serve_app, _models.make_model_dir, _models.one_torch_thread


@pytest.fixture(scope="session")
def eval_data() -> Path:
    data = find_eval_data()
    if data is None:
        pytest.skip("the eval data folder (shared/eval) is not here; set PINTSIZE_EVAL_DATA")
    return data
