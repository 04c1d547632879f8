"""The Llama-2 architecture, in one file.

Pre-norm decoder blocks: RMSNorm -> grouped-query attention with rotary positions -> residual,
RMSNorm -> SwiGLU MLP -> residual. No biases. Blocks may differ in head count and MLP width
(`config.layer(i)`, after a layer-adaptive prune); d_model and head_dim are the same everywhere. Embeddings tied or untied, vocabulary padded to a
multiple of 64. Weight layout: q/k/v are one fused projection and gate/up another (fewer, larger
matmuls); `pintsize.model.hf` splits them into Hugging Face's names.

Precision, compilation, activation checkpointing and sharding are applied from outside
(pintsize.train); this file only says what the model computes.

Attention masks (the `attn_mask` argument):
  None          causal attention over the whole block (flash/cuDNN kernels on GPU);
  bool Tensor   [B, 1, Tq, Tk], True where a query may attend (SDPA with a mask; CPU document masking);
  BlockMask     FlexAttention's block-sparse mask (document masking on GPU).
When `positions` is given and `attn_mask` is not, the document mask is derived from the
positions: a new document starts wherever a position does not follow its predecessor.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pintsize.model.config import ModelConfig
from pintsize.model.masks import document_causal_mask, is_block_mask, prefix_causal_mask


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Normalize in fp32 for stability, as Llama does, then scale in the input dtype.
        return self.weight * F.rms_norm(x.float(), (x.shape[-1],), eps=self.eps).type_as(x)


def rotary_cos_sin(config: ModelConfig, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin tables for `positions` [B, T] -> each [B, 1, T, head_dim], in fp32.

    Computed from the config on every call rather than stored in a buffer, so that casting the
    model to bf16 cannot degrade them and a model built on the meta device needs no re-init.
    """
    hd = config.head_dim
    inv_freq = 1.0 / (config.rope_base ** (torch.arange(0, hd, 2, device=positions.device, dtype=torch.float32) / hd))
    pos = positions.float()
    if config.rope_scaling is not None:
        pos = pos / config.rope_scaling.factor
    freqs = pos[..., None] * inv_freq  # [B, T, hd/2]
    emb = torch.cat((freqs, freqs), dim=-1)[:, None]  # [B, 1, T, hd]
    return emb.cos(), emb.sin()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate pairs (i, i + hd/2): the "rotate half" layout that Hugging Face Llama checkpoints use."""
    x1, x2 = x.chunk(2, dim=-1)
    rotated = torch.cat((-x2, x1), dim=-1)
    return (x * cos.to(x.dtype) + rotated * sin.to(x.dtype)).type_as(x)


class KVCache:
    """Preallocated keys and values for every layer, for incremental decoding (as many KV heads as
    the widest block; a narrower block uses the first ones).

    `length` tokens are filled; a forward pass with the cache appends its tokens at `length`
    and advances it.
    """

    def __init__(self, config: ModelConfig, batch_size: int, max_len: int, device=None, dtype=torch.float32):
        shape = (config.n_layer, batch_size, config.n_kv_head, max_len, config.head_dim)
        self.k = torch.zeros(shape, device=device, dtype=dtype)
        self.v = torch.zeros(shape, device=device, dtype=dtype)
        self.max_len = max_len
        self.length = 0

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        start, end = self.length, self.length + k.shape[2]
        if end > self.max_len:
            raise ValueError(f"KV cache full: {end} tokens > max_len {self.max_len}")
        heads = k.shape[1]
        self.k[layer, :, :heads, start:end] = k
        self.v[layer, :, :heads, start:end] = v
        return self.k[layer, :, :heads, :end], self.v[layer, :, :heads, :end]

    def reset(self) -> None:
        self.length = 0


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask, causal: bool) -> torch.Tensor:
    """q [B, H, Tq, hd], k/v [B, Hkv, Tk, hd] -> [B, H, Tq, hd]."""
    gqa = q.shape[1] != k.shape[1]
    if is_block_mask(mask):
        from torch.nn.attention.flex_attention import flex_attention

        # Compiled FlexAttention gave wrong results on strided (transposed) q/k/v in torch 2.13;
        # contiguous inputs are correct and cost one copy.
        return flex_attention(q.contiguous(), k.contiguous(), v.contiguous(), block_mask=mask, enable_gqa=gqa)
    if mask is not None:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=gqa)
    return F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=gqa)


class Attention(nn.Module):
    def __init__(self, config: ModelConfig, layer_idx: int):
        super().__init__()
        self.config = config
        self.layer_idx = layer_idx
        hd = config.head_dim
        self.n_head, self.n_kv_head = config.layer(layer_idx).n_head, config.layer(layer_idx).n_kv_head
        self.q_size, self.kv_size = self.n_head * hd, self.n_kv_head * hd
        self.qkv = nn.Linear(config.d_model, self.q_size + 2 * self.kv_size, bias=False)
        self.proj = nn.Linear(self.q_size, config.d_model, bias=False)

    def forward(self, x, cos, sin, mask=None, kv_cache: KVCache | None = None) -> torch.Tensor:
        B, T, _ = x.shape
        hd = self.config.head_dim
        q, k, v = self.qkv(x).split((self.q_size, self.kv_size, self.kv_size), dim=-1)
        q = q.view(B, T, self.n_head, hd).transpose(1, 2)
        k = k.view(B, T, self.n_kv_head, hd).transpose(1, 2)
        v = v.view(B, T, self.n_kv_head, hd).transpose(1, 2)
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        causal = True
        if kv_cache is not None:
            causal = kv_cache.length == 0  # a single new token (or a mask) needs no causal flag
            k, v = kv_cache.update(self.layer_idx, k, v)
        y = attend(q, k, v, mask, causal=causal and T > 1)
        return self.proj(y.transpose(1, 2).reshape(B, T, self.q_size))


class SwiGLU(nn.Module):
    def __init__(self, config: ModelConfig, layer_idx: int):
        super().__init__()
        self.d_ff = config.layer(layer_idx).d_ff
        self.gate_up = nn.Linear(config.d_model, 2 * self.d_ff, bias=False)
        self.down = nn.Linear(self.d_ff, config.d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.gate_up(x).split(self.d_ff, dim=-1)
        return self.down(F.silu(gate) * up)


class Block(nn.Module):
    def __init__(self, config: ModelConfig, layer_idx: int):
        super().__init__()
        self.attn_norm = RMSNorm(config.d_model, config.norm_eps)
        self.attn = Attention(config, layer_idx)
        self.mlp_norm = RMSNorm(config.d_model, config.norm_eps)
        self.mlp = SwiGLU(config, layer_idx)

    def forward(self, x, cos, sin, mask=None, kv_cache: KVCache | None = None) -> torch.Tensor:
        x = x + self.attn(self.attn_norm(x), cos, sin, mask, kv_cache)
        return x + self.mlp(self.mlp_norm(x))


class Llama(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.tok_emb = nn.Embedding(config.padded_vocab_size, config.d_model)
        self.blocks = nn.ModuleList(Block(config, i) for i in range(config.n_layer))
        self.norm = RMSNorm(config.d_model, config.norm_eps)
        self.lm_head = nn.Linear(config.d_model, config.padded_vocab_size, bias=False)
        if config.tie_embeddings:
            self.lm_head.weight = self.tok_emb.weight
        self.init_weights()

    @torch.no_grad()
    def init_weights(self) -> None:
        """Normal(0, init_std) everywhere; the two projections that write into the residual stream
        are scaled by 1/sqrt(2 * n_layer) so the stream's variance does not grow with depth."""
        std = self.config.init_std
        for name, p in self.named_parameters():
            if name.endswith("norm.weight"):
                p.fill_(1.0)
            elif name.endswith(("attn.proj.weight", "mlp.down.weight")):
                p.normal_(0.0, std / (2 * self.config.n_layer) ** 0.5)
            else:
                p.normal_(0.0, std)

    def hidden_states(
        self,
        input_ids: torch.Tensor,
        positions: torch.Tensor | None = None,
        attn_mask=None,
        kv_cache: KVCache | None = None,
    ) -> torch.Tensor:
        """input_ids [B, T] -> final normed hidden states [B, T, d_model]."""
        B, T = input_ids.shape
        if positions is None:
            start = kv_cache.length if kv_cache is not None else 0
            positions = torch.arange(start, start + T, device=input_ids.device).expand(B, T)
            if kv_cache is not None and start > 0 and T > 1:
                attn_mask = prefix_causal_mask(start, T, input_ids.device)
        elif attn_mask is None and kv_cache is None:
            attn_mask = document_causal_mask(positions)
        cos, sin = rotary_cos_sin(self.config, positions)
        x = self.tok_emb(input_ids)
        for block in self.blocks:
            x = block(x, cos, sin, attn_mask, kv_cache)
        if kv_cache is not None:
            kv_cache.length += T
        return self.norm(x)

    def forward(self, input_ids: torch.Tensor, positions=None, attn_mask=None, kv_cache=None) -> torch.Tensor:
        """input_ids [B, T] -> logits [B, T, padded_vocab_size]."""
        return self.lm_head(self.hidden_states(input_ids, positions, attn_mask, kv_cache))

    def new_kv_cache(self, batch_size: int, max_len: int | None = None, dtype=None) -> KVCache:
        p = self.tok_emb.weight
        return KVCache(self.config, batch_size, max_len or self.config.block_size, p.device, dtype or p.dtype)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())  # shared (tied) tensors are counted once
