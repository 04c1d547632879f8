"""Model checkpoints: the weights a stage hands to the next one.

A model directory holds `model_config.json` (a ModelConfig), `model.safetensors` (our tensor
names; a tied head is stored once) and, when the model knows its tokenizer, `tokenizer/` in
Hugging Face format. Training checkpoints (optimizer, loader, RNG) are pintsize.train's
business; they end in one of these.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from pintsize.errors import CheckpointError
from pintsize.model.config import ModelConfig
from pintsize.model.llama import Llama

CONFIG_FILE = "model_config.json"
STAGE_MODEL_DIR = "model"  # where a training stage (pretrain, SFT, DPO) keeps its model
WEIGHTS_FILE = "model.safetensors"
TOKENIZER_DIR = "tokenizer"


def sort_metadata_keys(path: Path) -> None:
    """Make a safetensors file byte-reproducible: safetensors writes the `__metadata__` keys in
    the order of a Rust hash map, which changes from one save to the next, so identical weights
    hashed differently. The header is rewritten in place with the keys sorted (the same bytes,
    reordered, so its length and every tensor offset stay)."""
    import json
    import struct

    with open(path, "r+b") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        raw = f.read(length)
        header = json.loads(raw)
        if "__metadata__" not in header:
            return
        header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
        ordered = {"__metadata__": header.pop("__metadata__"), **header}
        text = json.dumps(ordered, separators=(",", ":"), ensure_ascii=False).encode()
        if len(text) > length:  # not the layout this was written for: leave the file as it is
            return
        f.seek(8)
        f.write(text.ljust(length, b" "))


def save_weights(state: dict[str, torch.Tensor], path: Path, metadata: dict[str, str]) -> None:
    """safetensors' save_file, with a failed write (a full disk) raised as the OSError it is, naming the
    file: safetensors raises its own error type ("I/O error: No space left on device (os error 28)"),
    which the CLI's one-line file-error message would miss, leaving a traceback."""
    from safetensors import SafetensorError

    try:
        save_file(state, str(path), metadata=metadata)
    except SafetensorError as e:
        if (code := re.search(r"\(os error (\d+)\)", str(e))) is None:
            raise
        raise OSError(int(code[1]), os.strerror(int(code[1])), str(path)) from None


def save_model(
    model: Llama | dict[str, torch.Tensor],
    config: ModelConfig,
    out_dir: str | Path,
    tokenizer_dir: str | Path | None = None,
) -> Path:
    """Write weights, config and (optionally) the tokenizer into `out_dir` (the caller makes it atomic)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    state = model.state_dict() if isinstance(model, torch.nn.Module) else dict(model)
    if config.tie_embeddings:
        state.pop("lm_head.weight", None)
    state = {k: v.detach().contiguous().cpu() for k, v in state.items()}
    save_weights(state, out_dir / WEIGHTS_FILE, {"format": "pt", "pintsize_model": config.name})
    sort_metadata_keys(out_dir / WEIGHTS_FILE)
    (out_dir / CONFIG_FILE).write_text(config.model_dump_json(indent=2) + "\n")
    if tokenizer_dir is not None:
        dst = out_dir / TOKENIZER_DIR
        if dst.exists():
            shutil.rmtree(dst)
        shutil.copytree(tokenizer_dir, dst)
    return out_dir


def load_config(model_dir: str | Path) -> ModelConfig:
    path = Path(model_dir) / CONFIG_FILE
    if not path.is_file():
        raise CheckpointError(f"{model_dir}: not a pintsize model directory (no {CONFIG_FILE})")
    try:
        return ModelConfig.model_validate(json.loads(path.read_text()))
    except (json.JSONDecodeError, ValueError) as e:
        raise CheckpointError(f"{path}: invalid model config: {e}") from e


def resolve_model_dir(path: str | Path, role: str = "") -> Path:
    """A model directory, or a training-stage artifact holding one in `model/` (e.g. runs/demo/sft).
    `role` names what the path was given as, for the error (e.g. "[pretrain].init_from")."""
    path = Path(path)
    for candidate in (path, path / STAGE_MODEL_DIR):
        if (candidate / CONFIG_FILE).is_file():
            return candidate
    if not path.exists():
        why = "no such file or directory"
    else:
        why = f"not a model directory (no {CONFIG_FILE}) nor a training-stage artifact (no {STAGE_MODEL_DIR}/{CONFIG_FILE})"
        if (path / "config.json").is_file():
            why += f"; it looks like a Hugging Face model: `pintsize import hf {path} OUT` converts it"
    raise CheckpointError(f"{path}: {why}" + (f", given as {role}" if role else ""))


def tokenizer_path(model_dir: str | Path) -> Path | None:
    p = Path(model_dir) / TOKENIZER_DIR
    return p if p.is_dir() else None


def check_state_dict(state: dict[str, torch.Tensor], model: Llama, source: str) -> None:
    """Raise a CheckpointError naming every missing, unexpected or mis-shaped tensor."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    if model.config.tie_embeddings:
        expected.pop("lm_head.weight", None)
    problems = []
    for k in sorted(expected.keys() - state.keys()):
        problems.append(f"missing tensor {k} (expected shape {expected[k]})")
    for k in sorted(state.keys() - expected.keys()):
        problems.append(f"unexpected tensor {k} {tuple(state[k].shape)}")
    for k in sorted(expected.keys() & state.keys()):
        if tuple(state[k].shape) != expected[k]:
            problems.append(f"tensor {k} has shape {tuple(state[k].shape)} but the config needs {expected[k]}")
    if problems:
        shown = "; ".join(problems[:8]) + (f"; ... ({len(problems) - 8} more)" if len(problems) > 8 else "")
        raise CheckpointError(f"{source}: weights do not match the model config: {shown}")


def build_model(config: ModelConfig, state: dict[str, torch.Tensor], source: str, device=None, dtype=None) -> Llama:
    """A Llama with the given weights (checked against the config first)."""
    with torch.device("meta"):
        model = Llama(config)
    check_state_dict(state, model, source)
    model = model.to_empty(device=device or "cpu")
    model.load_state_dict(state, strict=not config.tie_embeddings)
    if config.tie_embeddings:
        model.lm_head.weight = model.tok_emb.weight
    if dtype is not None:
        model = model.to(dtype)
    return model


def load_model(model_dir: str | Path, device=None, dtype=None) -> Llama:
    config = load_config(model_dir)
    weights = Path(model_dir) / WEIGHTS_FILE
    if not weights.is_file():
        raise CheckpointError(f"{model_dir}: no {WEIGHTS_FILE}")
    return build_model(config, load_file(str(weights)), str(weights), device, dtype)
