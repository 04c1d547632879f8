"""Tiny random-weight models with real tokenizers (the 1.5-Pints tokenizer, and a byte-level BPE
trained on the stdlib documentation), saved as pintsize model directories and as their Hugging
Face exports: what the generation, server, harness and GGUF tests run against."""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
import torch

from pintsize.model.checkpoint import save_model
from pintsize.model.config import ModelConfig
from pintsize.model.hf import export_hf
from pintsize.model.llama import Llama
from pintsize.tokenizer import TokenizerInfo, build_pints_tokenizer


def trained_bpe_tokenizer(out: Path, vocab_size: int = 1024) -> Path:
    from pintsize.data.pydoc_corpus import pydoc_documents
    from pintsize.tokenizer.hf_files import save_hf_tokenizer
    from pintsize.tokenizer.train import train_bpe_backend

    out.mkdir(parents=True, exist_ok=True)
    save_hf_tokenizer(train_bpe_backend((d["text"] for d in pydoc_documents(limit=40)), vocab_size), out)
    return out


def random_model_dir(out: Path, tokenizer_dir: Path, seed: int = 0, **overrides) -> Path:
    """A 2-layer model whose weights are scaled up from the init, so that its next-token
    distributions are peaked (greedy choices are clear-cut, not near-ties)."""
    shape = dict(n_layer=2, d_model=64, n_head=4, n_kv_head=2, d_ff=160, block_size=256) | overrides
    cfg = ModelConfig(name="test-tiny", vocab_size=TokenizerInfo.read(tokenizer_dir).vocab_size, **shape)
    torch.manual_seed(seed)
    model = Llama(cfg)
    with torch.no_grad():
        for p in model.parameters():
            if p.ndim == 2:
                p.mul_(5.0)
    save_model(model, cfg, out, tokenizer_dir=tokenizer_dir)
    return out


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """The test models are tiny: a thread pool's synchronisation costs more than it saves, and on a
    busy 2-core machine OpenMP's waiting made the harness tests 8x slower (55 s vs 6.4 s measured)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory) -> Path:
    return build_pints_tokenizer(tmp_path_factory.mktemp("tok") / "pints")


@pytest.fixture(scope="session")
def bpe_tokenizer_dir(tmp_path_factory) -> Path:
    return trained_bpe_tokenizer(tmp_path_factory.mktemp("tok") / "bpe")


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory, tokenizer_dir) -> Path:
    return random_model_dir(tmp_path_factory.mktemp("model") / "tiny", tokenizer_dir)


@pytest.fixture(scope="session")
def hf_dir(tmp_path_factory, model_dir) -> Path:
    return export_hf(model_dir, tmp_path_factory.mktemp("hf") / "tiny-hf")


@contextmanager
def serve_in_thread(app) -> Iterator[str]:
    """Run an ASGI app with uvicorn on a free loopback port; yields its base URL."""
    import threading

    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture(scope="session")
def bpe_model_dir(tmp_path_factory, bpe_tokenizer_dir) -> Path:
    """The same shape with a 1,024-token byte-level BPE: 30x cheaper vocabulary projections."""
    return random_model_dir(tmp_path_factory.mktemp("model") / "tiny-bpe", bpe_tokenizer_dir)


@pytest.fixture(scope="session")
def bpe_hf_dir(tmp_path_factory, bpe_model_dir) -> Path:
    return export_hf(bpe_model_dir, tmp_path_factory.mktemp("hf") / "tiny-bpe-hf")


@pytest.fixture(scope="session")
def serve_app():
    """`with serve_app(app) as base_url:` runs an ASGI app on loopback for the block."""
    return serve_in_thread


@pytest.fixture(scope="session")
def make_model_dir():
    """`make_model_dir(out, tokenizer_dir, seed=0, **shape)`: another tiny random model directory."""
    return random_model_dir
