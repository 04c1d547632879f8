"""Hugging Face interop: export to a `LlamaForCausalLM` directory, import any HF Llama checkpoint.

Our fused projections map onto HF's names: `attn.qkv` = [q_proj; k_proj; v_proj] and
`mlp.gate_up` = [gate_proj; up_proj], concatenated along the output dimension. Both use the
"rotate half" RoPE layout, so q/k need no permutation (GGUF export permutes; see gguf.py).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file

from pintsize.artifacts import atomic_dir
from pintsize.errors import CheckpointError
from pintsize.model.checkpoint import build_model, load_config, load_model, resolve_model_dir, save_weights, tokenizer_path
from pintsize.model.config import ModelConfig, RopeScaling
from pintsize.model.llama import Llama
from pintsize.model.stop_tokens import stop_token_ids

TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "tokenizer.model",
    "chat_template.jinja",
    "added_tokens.json",
)


# ---------------------------------------------------------------- names and tensors


def padded_to_envelope(state: dict[str, torch.Tensor], config: ModelConfig) -> tuple[dict[str, torch.Tensor], ModelConfig]:
    """A model whose blocks differ in width (`config.layers`), as one with every block at the
    envelope's widths, computing exactly the same: LlamaForCausalLM (and vLLM) need one
    intermediate_size and one head count. Missing MLP channels get zero gate, up and down weights
    (silu(0) * 0 = 0); a block's KV group j stays at KV slot j with its query heads first in the
    group's slots; missing heads get zero q, k, v rows and zero output-projection columns, so
    whatever they attend to adds nothing. Costs the envelope's parameters."""
    if config.layers is None:
        return state, config
    env, hd = config.padded_to_envelope(), config.head_dim
    group, out = env.n_head // env.n_kv_head, dict(state)
    for i in range(config.n_layer):
        s, p = config.layer(i), f"blocks.{i}."
        per = s.n_head // s.n_kv_head
        q_slots = torch.tensor([j * group + m for j in range(s.n_kv_head) for m in range(per)])
        q_rows = (q_slots[:, None] * hd + torch.arange(hd)).reshape(-1)
        kv_rows = torch.arange(s.n_kv_head * hd)
        wq, wk, wv = state[p + "attn.qkv.weight"].split((s.n_head * hd, s.n_kv_head * hd, s.n_kv_head * hd))
        qkv = wq.new_zeros((env.n_head + 2 * env.n_kv_head) * hd, wq.shape[1])
        qkv[q_rows] = wq
        qkv[env.n_head * hd + kv_rows] = wk
        qkv[(env.n_head + env.n_kv_head) * hd + kv_rows] = wv
        proj = state[p + "attn.proj.weight"]
        wo = proj.new_zeros(proj.shape[0], env.n_head * hd)
        wo[:, q_rows] = proj
        gate, up = state[p + "mlp.gate_up.weight"].split(s.d_ff)
        gate_up = gate.new_zeros(2 * env.d_ff, gate.shape[1])
        gate_up[: s.d_ff], gate_up[env.d_ff : env.d_ff + s.d_ff] = gate, up
        down = state[p + "mlp.down.weight"]
        wd = down.new_zeros(down.shape[0], env.d_ff)
        wd[:, : s.d_ff] = down
        out |= {p + "attn.qkv.weight": qkv, p + "attn.proj.weight": wo, p + "mlp.gate_up.weight": gate_up, p + "mlp.down.weight": wd}
    return out, env


def to_hf_state_dict(state: dict[str, torch.Tensor], config: ModelConfig) -> dict[str, torch.Tensor]:
    out = {"model.embed_tokens.weight": state["tok_emb.weight"], "model.norm.weight": state["norm.weight"]}
    if not config.tie_embeddings:
        out["lm_head.weight"] = state["lm_head.weight"]
    for i in range(config.n_layer):
        p, h, shape = f"blocks.{i}.", f"model.layers.{i}.", config.layer(i)
        q, kv = shape.n_head * config.head_dim, shape.n_kv_head * config.head_dim
        wq, wk, wv = state[p + "attn.qkv.weight"].split((q, kv, kv), dim=0)
        gate, up = state[p + "mlp.gate_up.weight"].split(shape.d_ff, dim=0)
        out |= {
            h + "input_layernorm.weight": state[p + "attn_norm.weight"],
            h + "self_attn.q_proj.weight": wq,
            h + "self_attn.k_proj.weight": wk,
            h + "self_attn.v_proj.weight": wv,
            h + "self_attn.o_proj.weight": state[p + "attn.proj.weight"],
            h + "post_attention_layernorm.weight": state[p + "mlp_norm.weight"],
            h + "mlp.gate_proj.weight": gate,
            h + "mlp.up_proj.weight": up,
            h + "mlp.down_proj.weight": state[p + "mlp.down.weight"],
        }
    return {k: v.contiguous() for k, v in out.items()}


def from_hf_state_dict(hf: dict[str, torch.Tensor], config: ModelConfig, source: str) -> dict[str, torch.Tensor]:
    def get(name: str) -> torch.Tensor:
        if name not in hf:
            raise CheckpointError(f"{source}: missing tensor {name}")
        return hf[name]

    emb = _pad_rows(get("model.embed_tokens.weight"), config.padded_vocab_size)
    out = {"tok_emb.weight": emb, "norm.weight": get("model.norm.weight")}
    if not config.tie_embeddings:
        out["lm_head.weight"] = _pad_rows(get("lm_head.weight"), config.padded_vocab_size)
    for i in range(config.n_layer):
        p, h = f"blocks.{i}.", f"model.layers.{i}."
        out |= {
            p + "attn_norm.weight": get(h + "input_layernorm.weight"),
            p + "attn.qkv.weight": torch.cat(
                [get(h + f"self_attn.{n}_proj.weight") for n in ("q", "k", "v")], dim=0
            ),
            p + "attn.proj.weight": get(h + "self_attn.o_proj.weight"),
            p + "mlp_norm.weight": get(h + "post_attention_layernorm.weight"),
            p + "mlp.gate_up.weight": torch.cat([get(h + "mlp.gate_proj.weight"), get(h + "mlp.up_proj.weight")], dim=0),
            p + "mlp.down.weight": get(h + "mlp.down_proj.weight"),
        }
    return out


def _pad_rows(w: torch.Tensor, rows: int) -> torch.Tensor:
    """Pad a vocabulary matrix with zero rows up to the padded vocabulary size."""
    if w.shape[0] == rows:
        return w
    return torch.cat([w, w.new_zeros(rows - w.shape[0], *w.shape[1:])], dim=0)


# ---------------------------------------------------------------- configs


def to_hf_config(config: ModelConfig, bos_id: int = 1, eos_id: int = 2, pad_id: int | None = None):
    from transformers import LlamaConfig

    rope = {"rope_type": "default", "rope_theta": float(config.rope_base)}
    if config.rope_scaling is not None and config.rope_scaling.factor != 1.0:
        rope = {"rope_type": "linear", "factor": config.rope_scaling.factor, "rope_theta": float(config.rope_base)}
    return LlamaConfig(
        vocab_size=config.padded_vocab_size,
        hidden_size=config.d_model,
        intermediate_size=config.d_ff,
        num_hidden_layers=config.n_layer,
        num_attention_heads=config.n_head,
        num_key_value_heads=config.n_kv_head,
        head_dim=config.head_dim,
        max_position_embeddings=config.block_size,
        rms_norm_eps=config.norm_eps,
        tie_word_embeddings=config.tie_embeddings,
        rope_parameters=rope,
        bos_token_id=bos_id,
        eos_token_id=eos_id,
        pad_token_id=pad_id,
        initializer_range=config.init_std,
        architectures=["LlamaForCausalLM"],
    )


def from_hf_config(hf: dict, source: str) -> ModelConfig:
    """A ModelConfig from an HF config.json dict; refuses anything that is not a plain Llama."""
    model_type = hf.get("model_type")
    archs = hf.get("architectures") or []
    if model_type != "llama" and "LlamaForCausalLM" not in archs:
        raise CheckpointError(
            f"{source}: not a Llama model (model_type={model_type!r}, architectures={archs}); "
            "pintsize imports LlamaForCausalLM checkpoints only"
        )
    for key in ("attention_bias", "mlp_bias"):
        if hf.get(key):
            raise CheckpointError(f"{source}: {key}=true is not supported (pintsize's Llama has no biases)")
    if hf.get("hidden_act", "silu") != "silu":
        raise CheckpointError(f"{source}: hidden_act={hf['hidden_act']!r}; only 'silu' (SwiGLU) is supported")
    rope = hf.get("rope_parameters") or hf.get("rope_scaling") or {}
    rope_type = rope.get("rope_type", rope.get("type", "default"))
    if rope_type not in ("default", "linear"):
        raise CheckpointError(f"{source}: rope type {rope_type!r} is not supported (default or linear)")
    theta = rope.get("rope_theta", hf.get("rope_theta", 10000.0))
    n_head = hf["num_attention_heads"]
    try:
        return ModelConfig(
            name=hf.get("_name_or_path") or "hf-import",
            vocab_size=hf["vocab_size"],
            n_layer=hf["num_hidden_layers"],
            d_model=hf["hidden_size"],
            n_head=n_head,
            n_kv_head=hf.get("num_key_value_heads") or n_head,
            d_ff=hf["intermediate_size"],
            head_dim=hf.get("head_dim") or hf["hidden_size"] // n_head,
            block_size=hf.get("max_position_embeddings", 2048),
            rope_base=theta,
            rope_scaling=RopeScaling(factor=rope["factor"]) if rope_type == "linear" else None,
            norm_eps=hf.get("rms_norm_eps", 1e-5),
            tie_embeddings=bool(hf.get("tie_word_embeddings", False)),
            init_std=hf.get("initializer_range", 0.02),
        )
    except (KeyError, ValueError) as e:
        raise CheckpointError(f"{source}: cannot read the Llama config: {e}") from e


# ---------------------------------------------------------------- export


def _special_ids(tok_dir: Path | None) -> tuple[int, list[int], int | None]:
    """BOS, the ids a generation ends at (EOS first; stop_tokens.py) and PAD from a saved HF
    tokenizer (defaults 1 and [2], the Llama/Mistral ids)."""
    if tok_dir is None:
        return 1, [2], None
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tok_dir))
    bos = tok.bos_token_id if tok.bos_token_id is not None else 1
    return bos, stop_token_ids(tok) or [2], tok.pad_token_id


def export_hf(model_dir: str | Path, out_dir: str | Path, dtype: torch.dtype | None = None) -> Path:
    """Write `out_dir` so that `AutoModelForCausalLM.from_pretrained(out_dir)` loads a LlamaForCausalLM."""
    from transformers import GenerationConfig

    model_dir = resolve_model_dir(model_dir)
    config = load_config(model_dir)
    model = load_model(model_dir)
    state, config = padded_to_envelope(model.state_dict(), config)  # HF Llama has one width for every layer
    state = to_hf_state_dict(state, config)
    if dtype is not None:
        state = {k: v.to(dtype) for k, v in state.items()}
    tok_dir = tokenizer_path(model_dir)
    bos, ends, pad = _special_ids(tok_dir)
    hf_config = to_hf_config(config, bos, ends[0], pad)
    if dtype is not None:
        hf_config.dtype = dtype
    with atomic_dir(out_dir) as tmp:
        hf_config.save_pretrained(tmp)
        _add_legacy_rope_keys(tmp / "config.json", config)
        save_weights(state, tmp / "model.safetensors", {"format": "pt"})
        # transformers and vLLM end a generation at any of these, as pintsize and llama.cpp do
        eos = ends if len(ends) > 1 else ends[0]
        GenerationConfig(bos_token_id=bos, eos_token_id=eos, pad_token_id=pad).save_pretrained(tmp)
        if tok_dir is not None:
            for name in TOKENIZER_FILES:
                if (tok_dir / name).is_file():
                    shutil.copy2(tok_dir / name, tmp / name)
    return Path(out_dir)


def _add_legacy_rope_keys(path: Path, config: ModelConfig) -> None:
    """transformers 5 writes `rope_parameters`; vLLM and llama.cpp's converter still read `rope_theta`
    (and `rope_scaling`) at the top level, so write both."""
    data = json.loads(path.read_text())
    data["rope_theta"] = float(config.rope_base)
    if config.rope_scaling is not None and config.rope_scaling.factor != 1.0:
        data["rope_scaling"] = {"type": "linear", "rope_type": "linear", "factor": config.rope_scaling.factor}
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


# ---------------------------------------------------------------- import


def from_hf_model(hf_model, name: str = "hf-import") -> Llama:
    """Our model from an in-memory transformers LlamaForCausalLM (same weights, fp32 on CPU unless moved)."""
    cfg = from_hf_config(hf_model.config.to_dict(), source=name)
    state = {k: v.detach() for k, v in hf_model.state_dict().items()}
    return build_model(cfg, from_hf_state_dict(state, cfg, name), name)


def load_hf_state_dict(hf_dir: Path) -> dict[str, torch.Tensor]:
    index = hf_dir / "model.safetensors.index.json"
    if (hf_dir / "model.safetensors").is_file():
        return load_file(str(hf_dir / "model.safetensors"))
    if index.is_file():
        state: dict[str, torch.Tensor] = {}
        for shard in sorted(set(json.loads(index.read_text())["weight_map"].values())):
            state |= load_file(str(hf_dir / shard))
        return state
    if (hf_dir / "pytorch_model.bin").is_file():
        return torch.load(hf_dir / "pytorch_model.bin", map_location="cpu", weights_only=True)
    raise CheckpointError(f"{hf_dir}: no model.safetensors, sharded safetensors index or pytorch_model.bin")


def import_hf(hf_dir: str | Path) -> Llama:
    """Any HF Llama checkpoint directory -> our model (fp32, CPU)."""
    hf_dir = Path(hf_dir)
    cfg_path = hf_dir / "config.json"
    if not cfg_path.is_file():
        raise CheckpointError(f"{hf_dir}: not a Hugging Face model directory (no config.json)")
    try:
        hf_cfg = json.loads(cfg_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{cfg_path}: invalid JSON ({e})") from e
    cfg = from_hf_config(hf_cfg, str(cfg_path))
    cfg = cfg.model_copy(update={"name": hf_dir.name})
    state = {k: v.float() for k, v in load_hf_state_dict(hf_dir).items()}
    return build_model(cfg, from_hf_state_dict(state, cfg, str(hf_dir)), str(hf_dir))


def hf_tokenizer_files(hf_dir: str | Path) -> list[Path]:
    hf_dir = Path(hf_dir)
    return [hf_dir / n for n in TOKENIZER_FILES if (hf_dir / n).is_file()]
