"""Adapt-Pruner's layer-wise adaptive pruning (arXiv 2502.03460; reference code research4pan/AdaptPruner,
`hf_prune.py` and `MetaPruner.adaptive_update_prune_distribution`).

Each layer gets its own sparsity s_l, the share of its attention heads and MLP channels to remove
(relative to its widths when this prune started). The model is pruned in small sub-steps; before
each, one calibration pass measures every layer's importance I_l, how much the layer turns the
residual stream (1 - cos(input, output); the reference's -cos, the same up to a constant),
normalized across layers to mean 0 and max |I| = 1; then

    s_l <- clamp(s_l + step - amplitude * I_l, 0, 0.99)

so a layer that matters more loses less (step 0.02 and amplitude 0.02 as in the reference's
scripts). Inside a layer, the heads and channels with the least activation importance go. The
sub-steps stop at the target parameter count.

Where this deviates from the reference, and why:
  - Within-layer importance is Minitron's forward-only activation importance (`prune_importance`),
    not the first-order Taylor score |w * dL/dw| the reference uses: no backward pass, and the
    same ranking `pintsize prune` uses.
  - Heads leave by whole query heads inside whole GQA groups (every kept KV group keeps the same
    number of query heads, what Llama's GQA needs): a layer keeps the fewest heads such a layout
    allows that are still >= H (1 - s_l), so a head goes only once the sparsity covers it (as the
    reference removes a unit only when the sparsity covers all of it). The reference prunes KV
    heads (k_proj) as the root.
  - MLP widths are rounded up to a multiple of 8.
  - The last sub-step is shortened (its sparsity increment scaled) to land on the target rather
    than below it, so that a comparison with a one-shot prune is at the same size.
  - The hidden size (d_model) is not pruned, as in the reference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from pintsize.model.config import LayerShape, ModelConfig
from pintsize.model.llama import Llama
from pintsize.model.prune import PruneError, prune_model
from pintsize.model.prune_importance import activation_importance

STEP = 0.02  # the reference: pruning_ratio 1.0 over iterative_steps 50
AMPLITUDE = 0.02  # the reference scripts' layer_prune_distribution_amplitude
MAX_SPARSITY = 0.99


@dataclass
class AdaptiveResult:
    model: Llama
    sparsity: list[float]  # per layer, relative to the widths the prune started from
    substeps: int
    history: list[dict] = field(default_factory=list)  # per sub-step: normalized layer importance, sparsity after it


def normalized(blocks: torch.Tensor) -> torch.Tensor:
    """Layer importances centred on their mean and scaled to max |x| = 1 (all 0 when equal)."""
    x = blocks.double() - blocks.double().mean()
    top = x.abs().max()
    return x / top if top > 0 else x


def head_layout(scores: torch.Tensor, shape: LayerShape, need: int) -> tuple[int, int]:
    """(n_head, n_kv_head) for a layer of `shape` that is to keep at least `need` query heads: the
    fewest that whole GQA groups allow, and among layouts of that count the one that keeps the most
    importance (the best groups, the best heads inside each)."""
    g = shape.n_head // shape.n_kv_head
    by_group = scores.view(shape.n_kv_head, g).sort(dim=1, descending=True).values
    best, best_key = (shape.n_head, shape.n_kv_head), None
    for kv in range(1, shape.n_kv_head + 1):
        for per in range(1, g + 1):
            if kv * per < need:
                continue
            kept = by_group[:, :per].sum(dim=1).sort(descending=True).values[:kv].sum()
            key = (-kv * per, float(kept), -kv)
            if best_key is None or key > best_key:
                best, best_key = (kv * per, kv), key
    return best


def shapes_for(start: list[LayerShape], current: ModelConfig, sparsity: torch.Tensor, heads: list[torch.Tensor]) -> list[LayerShape]:
    """Each layer's widths at `sparsity` of its `start` widths (never wider than it is now)."""
    out = []
    for i, (s0, sp) in enumerate(zip(start, sparsity.tolist())):
        now = current.layer(i)
        d_ff = min(now.d_ff, max(8, math.ceil(s0.d_ff * (1 - sp) / 8 - 1e-9) * 8))
        n_head, n_kv = head_layout(heads[i], now, max(1, math.ceil(s0.n_head * (1 - sp) - 1e-9)))
        out.append(LayerShape(n_head=n_head, n_kv_head=n_kv, d_ff=d_ff))
    return out


def with_shapes(config: ModelConfig, shapes: list[LayerShape]) -> ModelConfig:
    return ModelConfig.model_validate({**config.model_dump(), "layers": [s.model_dump() for s in shapes]})


def narrowest(config: ModelConfig) -> ModelConfig:
    """Every layer at one head and 8 MLP channels: the smallest model this prune can reach."""
    return with_shapes(config, [LayerShape(n_head=1, n_kv_head=1, d_ff=min(8, config.layer(i).d_ff)) for i in range(config.n_layer)])


def adaptive_prune(model: Llama, target_params: int, tokens: np.ndarray, seq_len: int, batch_size: int = 8,
                   step: float = STEP, amplitude: float = AMPLITUDE) -> AdaptiveResult:
    """Prune `model` layer-adaptively (see the module docstring) to at most `target_params`."""
    start_cfg = model.config
    if target_params >= start_cfg.num_params():
        return AdaptiveResult(model, [0.0] * start_cfg.n_layer, 0)
    floor = narrowest(start_cfg).num_params()
    if target_params < floor:
        raise PruneError(f"target {target_params:,} parameters: even one head and 8 MLP channels per layer "
                         f"leave {floor:,} (embeddings and norms are not pruned here)")
    start = [start_cfg.layer(i) for i in range(start_cfg.n_layer)]
    sparsity = torch.zeros(start_cfg.n_layer, dtype=torch.float64)
    result = AdaptiveResult(model, sparsity.tolist(), 0)
    for _ in range(math.ceil(MAX_SPARSITY / step) + 1):
        imp = activation_importance(model, tokens, seq_len, batch_size)
        layer_imp = normalized(imp.blocks)
        increment = step - amplitude * layer_imp

        def config_at(t: float) -> ModelConfig:
            s = (sparsity + t * increment).clamp(0, MAX_SPARSITY)
            return with_shapes(model.config, shapes_for(start, model.config, s, imp.heads))

        t = 1.0
        if config_at(1.0).num_params() <= target_params:  # the last sub-step: shorten it to land on the target
            lo, hi = 0.0, 1.0
            for _ in range(30):
                mid = (lo + hi) / 2
                lo, hi = (lo, mid) if config_at(mid).num_params() <= target_params else (mid, hi)
            t = hi
        sparsity = (sparsity + t * increment).clamp(0, MAX_SPARSITY)
        new = config_at(t)
        model = prune_model(model, new, imp)
        result.substeps += 1
        result.history.append({"importance": [round(float(v), 4) for v in layer_imp],
                               "sparsity": [round(float(v), 4) for v in sparsity]})
        if new.num_params() <= target_params:
            result.model, result.sparsity = model, [round(float(v), 4) for v in sparsity]
            return result
    raise PruneError(
        f"target {target_params:,} parameters not reached in {result.substeps} sub-steps ({model.num_params():,} left): "
        f"a layer of normalized importance I loses step - amplitude * I = {step} - {amplitude} * I of its width per "
        f"sub-step, so the most important layers keep theirs; a smaller amplitude spreads the pruning wider"
    )


def adaptive_prune_artifact(model_dir, out, target_params: int, calibration, calib_tokens: int = 65536,
                            seq_len: int = 512, batch_size: int = 8, amplitude: float = AMPLITUDE) -> tuple[Llama, Llama]:
    """Prune the model at `model_dir` layer-adaptively to at most `target_params` parameters and
    write it as a `prune` artifact at `out`; returns (original, pruned)."""
    from pathlib import Path

    from pintsize.artifacts import ArtifactWriter
    from pintsize.model.checkpoint import load_model, resolve_model_dir, save_model, tokenizer_path
    from pintsize.model.prune_importance import calibration_tokens

    model_dir = resolve_model_dir(model_dir, "MODEL")
    model = load_model(model_dir).eval()
    tokens = calibration_tokens(calibration, tokenizer_path(model_dir), model.config.vocab_size, calib_tokens)
    result = adaptive_prune(model, target_params, tokens, seq_len, batch_size, amplitude=amplitude)
    pruned = result.model
    settings = {"target_params": target_params, "calib_tokens": calib_tokens, "seq_len": seq_len, "schedule": "adaptive",
                "step": STEP, "amplitude": amplitude, "config": pruned.config.model_dump(mode="json")}
    with ArtifactWriter(Path(out), "prune", settings, inputs={"model": model_dir, "calibration": calibration}) as art:
        save_model(pruned, pruned.config, art.dir, tokenizer_dir=tokenizer_path(model_dir))
        art.stats.update(params_before=model.num_params(), params_after=pruned.num_params(), calibration_tokens=len(tokens),
                         substeps=result.substeps, sparsity=result.sparsity, history=result.history,
                         layers=[s.model_dump() for s in pruned.config.layers or []])
    return model, pruned
