"""Minitron's activation-based importance (arXiv 2407.14679, section 2.2), from forward hooks.

Over calibration batches, for every layer:
  heads       mean over tokens of the L2 norm of each head's attention output (the input of the
              output projection, split per head);
  MLP channels mean over tokens of |silu(gate) * up| (the input of the down projection);
  embedding   mean over tokens of |RMSNorm output| per channel, summed over every norm;
  depth       mean over tokens of 1 - cos(block input, block output): a block that barely turns
              the residual stream is the cheapest to drop (ShortGPT's block influence);
              or (`block_drop_loss`) the increase of the next-token loss when the block is left
              out, Minitron's other depth metric: exact, but one forward pass per block.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from pintsize.errors import DataError
from pintsize.model.llama import Llama, RMSNorm


@dataclass
class Importance:
    heads: list[torch.Tensor]  # per layer: [that layer's n_head]
    channels: list[torch.Tensor]  # per layer: [that layer's d_ff]
    embedding: torch.Tensor  # [d_model]
    blocks: torch.Tensor  # [n_layer]
    tokens: int


def _text_documents(path: Path) -> list[str]:
    """A .jsonl file (one {"text": ...} per line) or a plain text file (one document)."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: calibration data is not UTF-8 text (byte {e.start}: {e.reason})") from None
    if path.suffix == ".jsonl":
        docs = []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                docs.append(str(json.loads(line)["text"]))
            except (json.JSONDecodeError, KeyError, TypeError) as e:
                raise DataError(f"{path}:{n}: calibration record is not a JSON object with a 'text' field ({e})") from e
        return docs
    return [text]


def calibration_tokens(path: str | Path, tokenizer_dir: Path | None, vocab_size: int, max_tokens: int) -> np.ndarray:
    """Up to `max_tokens` token ids from a shards directory (its train split, documents in packed
    order) or a text corpus (.jsonl / text file, tokenized with the model's tokenizer)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: calibration data not found")
    if path.is_dir():
        from pintsize.data.shards import ShardSplit

        split = ShardSplit.open(path, "train")
        parts, n = [], 0
        for i in range(split.num_documents):
            if n >= max_tokens:
                break
            doc = np.asarray(split.document(i), dtype=np.int64)
            parts.append(doc)
            n += len(doc)
        ids = np.concatenate(parts) if parts else np.zeros(0, np.int64)
    else:
        if tokenizer_dir is None or not (tokenizer_dir / "tokenizer.json").is_file():
            raise DataError(f"{path}: text calibration data needs the model's tokenizer, but the model has no tokenizer/tokenizer.json")
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json"))
        ids = np.array([t for doc in _text_documents(path) for t in tok.encode(doc).ids], dtype=np.int64)
    ids = ids[:max_tokens]
    if len(ids) < 2:
        raise DataError(f"{path}: calibration data is empty ({len(ids)} tokens)")
    if int(ids.max()) >= vocab_size:
        raise DataError(f"{path}: calibration token id {int(ids.max())} is outside the model's vocabulary ({vocab_size})")
    return ids


def _sequences(tokens: np.ndarray, seq_len: int) -> torch.Tensor:
    """[n, seq_len] windows of the calibration tokens (one shorter window when there are fewer)."""
    seq_len = min(seq_len, len(tokens))
    n_seq = len(tokens) // seq_len
    return torch.from_numpy(tokens[: n_seq * seq_len]).view(n_seq, seq_len)


@torch.no_grad()  # forward only: a kept graph costs ~2 GB per 1,000 calibration tokens on SmolLM2
def activation_importance(model: Llama, tokens: np.ndarray, seq_len: int, batch_size: int) -> Importance:
    cfg = model.config
    L, hd = cfg.n_layer, cfg.head_dim
    heads = [torch.zeros(cfg.layer(i).n_head, dtype=torch.float64) for i in range(L)]
    channels = [torch.zeros(cfg.layer(i).d_ff, dtype=torch.float64) for i in range(L)]
    embedding = torch.zeros(cfg.d_model, dtype=torch.float64)
    blocks = torch.zeros(L, dtype=torch.float64)
    hooks = []

    def on_proj_input(i):
        def hook(_mod, args):
            y = args[0].float()
            heads[i] += y.view(*y.shape[:-1], -1, hd).norm(dim=-1).sum(dim=(0, 1)).double()
        return hook

    def on_down_input(i):
        def hook(_mod, args):
            channels[i] += args[0].float().abs().sum(dim=(0, 1)).double()
        return hook

    def on_norm_output(_mod, _args, out):
        embedding.add_(out.float().abs().sum(dim=(0, 1)).double())

    def on_block(i):
        def hook(_mod, args, out):
            cos = torch.nn.functional.cosine_similarity(args[0].float(), out.float(), dim=-1)
            blocks[i] += (1 - cos).sum().double()
        return hook

    for i, block in enumerate(model.blocks):
        hooks.append(block.attn.proj.register_forward_pre_hook(on_proj_input(i)))
        hooks.append(block.mlp.down.register_forward_pre_hook(on_down_input(i)))
        hooks.append(block.register_forward_hook(on_block(i)))
    for mod in model.modules():
        if isinstance(mod, RMSNorm):
            hooks.append(mod.register_forward_hook(on_norm_output))
    x = _sequences(tokens, seq_len)
    device = model.tok_emb.weight.device
    try:
        model.eval()
        for start in range(0, len(x), batch_size):
            model.hidden_states(x[start : start + batch_size].to(device))
    finally:
        for h in hooks:
            h.remove()
    n = x.numel()
    return Importance([h / n for h in heads], [c / n for c in channels], embedding / n, blocks / n, n)


@torch.no_grad()
def block_drop_loss(model: Llama, tokens: np.ndarray, seq_len: int, batch_size: int) -> torch.Tensor:
    """[n_layer]: mean next-token loss (nats/token) on the calibration tokens with block i left
    out, minus the full model's. A block whose removal costs least is the cheapest to drop."""
    x = _sequences(tokens, seq_len + 1).to(model.tok_emb.weight.device)  # inputs and their next tokens
    vocab = model.config.vocab_size

    def loss() -> float:
        total = 0.0
        for start in range(0, len(x), batch_size):
            b = x[start : start + batch_size]
            logits = model(b[:, :-1])[..., :vocab].float()
            total += torch.nn.functional.cross_entropy(logits.flatten(0, 1), b[:, 1:].flatten(), reduction="sum").item()
        return total / x[:, 1:].numel()

    model.eval()
    blocks = model.blocks
    base = loss()
    out = torch.zeros(len(blocks), dtype=torch.float64)
    try:
        for i in range(len(blocks)):
            model.blocks = torch.nn.ModuleList(b for j, b in enumerate(blocks) if j != i)
            out[i] = loss() - base
    finally:
        model.blocks = blocks
    return out
