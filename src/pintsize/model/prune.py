"""Structured pruning (Minitron, arXiv 2407.14679): a smaller Llama sliced out of a trained one.

Width: MLP channels, attention heads and embedding channels are ranked by activation importance
(`prune_importance`); a target config keeps the same counts in every layer, a config with
per-layer widths (`layers`, from `prune_adaptive`) its own counts per layer; the indices are each
layer's own, except d_model, which is one residual stream.
Heads are kept per GQA group: a query head only ever leaves with, or stays next to, its KV head.
Depth: the blocks with the smallest 1 - cos(input, output) are dropped, or (depth_score="loss")
those whose removal raises the calibration loss least.

The target is a parameter count ("70M", "70000000"), a named config ("tiny"), or explicit shape
fields ("n_layer=24,d_ff=768"). A parameter count keeps depth and the head layout and shrinks
d_model and d_ff by one common factor (Minitron finds width pruning beats depth pruning).
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from pintsize.errors import PintsizeError
from pintsize.model.config import NAMED_CONFIGS, LayerShape, ModelConfig
from pintsize.model.llama import Llama
from pintsize.model.prune_importance import Importance

SHAPE_FIELDS = ("n_layer", "d_model", "n_head", "n_kv_head", "d_ff")
PARAMETER_COUNT = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([kKmMbB]?)\s*$")


class PruneError(PintsizeError):
    pass


def _width_config(cfg: ModelConfig, factor: float) -> ModelConfig:
    d_model = max(8, int(cfg.d_model * factor) // 8 * 8)
    d_ff = max(8, int(cfg.d_ff * factor) // 8 * 8)
    return cfg.model_copy(update={"d_model": d_model, "d_ff": d_ff})


def target_config(cfg: ModelConfig, target: str) -> ModelConfig:
    """The pruned config for `target`, checked against `cfg` (nothing may grow; GQA must hold)."""
    if cfg.layers is not None:
        raise PruneError(f"--target {target}: the model's layers have widths of their own (a layer-adaptive prune); "
                         "a one-shot target applies to uniform models only")
    cfg = cfg.model_copy(update={"head_dim": cfg.head_dim})  # head_dim stays; d_model may not divide by n_head any more
    m = PARAMETER_COUNT.match(target)
    if m:
        want = float(m.group(1)) * {"": 1, "k": 1e3, "m": 1e6, "b": 1e9}[m.group(2).lower()]
        have = cfg.num_params()
        if want > have:
            raise PruneError(f"--target {target}: {int(want):,} parameters is more than the model has ({have:,})")
        # The largest common width factor that fits; a 0.001 grid is exact enough for a budget.
        for step in range(1000, 0, -1):
            new = _width_config(cfg, step / 1000)
            if new.num_params() <= want:
                return ModelConfig.model_validate(new.model_dump())
        raise PruneError(f"--target {target}: even the narrowest model ({_width_config(cfg, 0.001).num_params():,} parameters) is larger")
    if target in NAMED_CONFIGS:
        fields = {k: getattr(NAMED_CONFIGS[target], k) for k in SHAPE_FIELDS}
        fields["head_dim"] = NAMED_CONFIGS[target].head_dim
    else:
        fields = {}
        for part in target.split(","):
            key, _, value = part.partition("=")
            key = key.strip()
            if key not in SHAPE_FIELDS or not value.strip().isdigit():
                raise PruneError(
                    f"--target {target!r}: expected a parameter count (70M), a named config ({', '.join(NAMED_CONFIGS)}) "
                    f"or fields like n_layer=20,d_ff=768 (fields: {', '.join(SHAPE_FIELDS)}); bad part {part!r}"
                )
            fields[key] = int(value)
    new = {k: fields.get(k, getattr(cfg, k)) for k in SHAPE_FIELDS}
    if fields.get("head_dim", cfg.head_dim) != cfg.head_dim:
        raise PruneError(f"--target {target}: head_dim {fields['head_dim']} differs from the model's {cfg.head_dim}; pruning keeps head_dim")
    for k in SHAPE_FIELDS:
        if new[k] < 1:
            raise PruneError(f"--target {target}: {k}={new[k]}; a model keeps at least one of each")
        if new[k] > getattr(cfg, k):
            raise PruneError(f"--target {target}: {k}={new[k]} is larger than the model's {getattr(cfg, k)}")
    if new["n_head"] % new["n_kv_head"]:
        raise PruneError(f"--target {target}: n_head={new['n_head']} is not a multiple of n_kv_head={new['n_kv_head']} (GQA groups)")
    per_group = new["n_head"] // new["n_kv_head"]
    if per_group > cfg.n_head // cfg.n_kv_head:
        raise PruneError(
            f"--target {target}: {per_group} query heads per KV head, but the model's GQA groups have "
            f"{cfg.n_head // cfg.n_kv_head}; pruning cannot move a query head to another group"
        )
    return ModelConfig.model_validate({**cfg.model_dump(), **new})


def _top(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the k largest scores, in their original order (so keeping all is the identity)."""
    if k == len(scores):
        return torch.arange(k)
    return torch.topk(scores, k).indices.sort().values


def _kept_heads(scores: torch.Tensor, old: LayerShape, new: LayerShape) -> tuple[torch.Tensor, torch.Tensor]:
    """(query heads, KV heads) to keep in one layer: the best KV groups (by their query heads'
    summed importance), then the best query heads inside each kept group."""
    g = old.n_head // old.n_kv_head
    by_group = scores.view(old.n_kv_head, g)
    groups = _top(by_group.sum(dim=1), new.n_kv_head)
    per_group = new.n_head // new.n_kv_head
    q = torch.cat([grp * g + _top(by_group[grp], per_group) for grp in groups.tolist()])
    return q, groups


def _rows(idx: torch.Tensor, size: int) -> torch.Tensor:
    """Row indices of whole heads (or groups) of `size` rows each."""
    return (idx[:, None] * size + torch.arange(size)).reshape(-1)


@torch.no_grad()
def prune_model(model: Llama, new: ModelConfig, imp: Importance) -> Llama:
    """A new Llama of config `new` holding the important slices of `model`'s weights."""
    cfg, hd = model.config, model.config.head_dim
    sd = model.state_dict()
    keep_d = _top(imp.embedding, new.d_model)
    keep_blocks = _top(imp.blocks, new.n_layer)
    out: dict[str, torch.Tensor] = {
        "tok_emb.weight": sd["tok_emb.weight"][:, keep_d],
        "norm.weight": sd["norm.weight"][keep_d],
    }
    if not new.tie_embeddings:
        out["lm_head.weight"] = sd["lm_head.weight"][:, keep_d]
    for j, i in enumerate(keep_blocks.tolist()):
        src, dst, old_shape, new_shape = f"blocks.{i}.", f"blocks.{j}.", cfg.layer(i), new.layer(j)
        q_heads, kv_heads = _kept_heads(imp.heads[i], old_shape, new_shape)
        q_rows, kv_rows = _rows(q_heads, hd), _rows(kv_heads, hd)
        q_size, kv_size = old_shape.n_head * hd, old_shape.n_kv_head * hd
        qkv_rows = torch.cat([q_rows, q_size + kv_rows, q_size + kv_size + kv_rows])
        ff = _top(imp.channels[i], new_shape.d_ff)
        out[dst + "attn_norm.weight"] = sd[src + "attn_norm.weight"][keep_d]
        out[dst + "mlp_norm.weight"] = sd[src + "mlp_norm.weight"][keep_d]
        out[dst + "attn.qkv.weight"] = sd[src + "attn.qkv.weight"][qkv_rows][:, keep_d]
        out[dst + "attn.proj.weight"] = sd[src + "attn.proj.weight"][keep_d][:, q_rows]
        out[dst + "mlp.gate_up.weight"] = sd[src + "mlp.gate_up.weight"][torch.cat([ff, old_shape.d_ff + ff])][:, keep_d]
        out[dst + "mlp.down.weight"] = sd[src + "mlp.down.weight"][keep_d][:, ff]
    from pintsize.model.checkpoint import build_model

    p = sd["tok_emb.weight"]
    return build_model(new, {k: v.clone() for k, v in out.items()}, "pruned model", device=p.device, dtype=p.dtype)


DEPTH_SCORES = ("cosine", "loss")


def prune_artifact(model_dir: str | Path, out: str | Path, target: str, calibration: str | Path,
                   calib_tokens: int = 65536, seq_len: int = 512, batch_size: int = 8,
                   depth_score: str = "cosine") -> tuple[Llama, Llama]:
    """What `pintsize prune` does: (original, pruned); the pruned model is written as an artifact."""
    from pintsize.artifacts import ArtifactWriter
    from pintsize.model.checkpoint import load_model, resolve_model_dir, save_model, tokenizer_path
    from pintsize.model.prune_importance import activation_importance, block_drop_loss, calibration_tokens

    if depth_score not in DEPTH_SCORES:
        raise PruneError(f"depth score {depth_score!r}: expected one of {', '.join(DEPTH_SCORES)}")
    model_dir = resolve_model_dir(model_dir, "MODEL")
    model = load_model(model_dir).eval()
    new = target_config(model.config, target)
    new = new.model_copy(update={"name": f"{model.config.name}-pruned"})
    tokens = calibration_tokens(calibration, tokenizer_path(model_dir), model.config.vocab_size, calib_tokens)
    imp = activation_importance(model, tokens, seq_len, batch_size)
    by_loss = depth_score == "loss" and new.n_layer < model.config.n_layer  # n_layer forward passes: only when depth shrinks
    if by_loss:
        imp.blocks = block_drop_loss(model, tokens, seq_len, batch_size)
    pruned = prune_model(model, new, imp)
    settings = {"target": target, "calib_tokens": calib_tokens, "seq_len": seq_len, "depth_score": depth_score,
                "config": new.model_dump(mode="json")}
    with ArtifactWriter(out, "prune", settings, inputs={"model": model_dir, "calibration": calibration}) as art:
        save_model(pruned, new, art.dir, tokenizer_dir=tokenizer_path(model_dir))
        art.stats.update(
            params_before=model.num_params(), params_after=pruned.num_params(), calibration_tokens=imp.tokens,
            dropped_blocks=sorted(set(range(model.config.n_layer)) - set(_top(imp.blocks, new.n_layer).tolist())),
            block_importance=[round(float(v), 6) for v in imp.blocks], block_importance_kind=(
                "loss increase when dropped (nats/token)" if by_loss else "1 - cos(block input, output)"),
        )
    return model, pruned


def describe(cfg: ModelConfig) -> str:
    if cfg.layers is None:
        shape = ", ".join(f"{k}={getattr(cfg, k)}" for k in SHAPE_FIELDS)
    else:
        heads, ffs = [s.n_head for s in cfg.layers], [s.d_ff for s in cfg.layers]
        shape = (f"n_layer={cfg.n_layer}, d_model={cfg.d_model}, per layer: heads {min(heads)}-{max(heads)}, "
                 f"d_ff {min(ffs)}-{max(ffs)}")
    return f"{shape} ({cfg.num_params():,} parameters)"


