"""A tiny random model that answers a judge's question with digits, for `pintsize serve` as the judge:
every output row but those of the tokens "0".."5" is zero, so a digit wins wherever one of the six
digit logits is above zero, and which digits are likely depends on the document (through the
hidden state). What it says means nothing; what the tests check is that the score read from it is
the one a direct forward pass gives."""

from __future__ import annotations

from pathlib import Path

import torch

from pintsize.curate.judge import DIGITS, TOP_LOGPROBS


def digit_ids(tokenizer) -> list[int]:
    return [i for i in range(len(tokenizer)) if tokenizer.decode([i]).strip() in DIGITS]


def digit_judge_model(out: Path, tokenizer_dir: Path) -> Path:
    from pintsize.model.checkpoint import save_model
    from pintsize.model.config import ModelConfig
    from pintsize.model.llama import Llama
    from pintsize.tokenizer import TokenizerInfo, load_tokenizer

    cfg = ModelConfig(name="test-judge", vocab_size=TokenizerInfo.read(tokenizer_dir).vocab_size, n_layer=2, d_model=64,
                      n_head=4, n_kv_head=2, d_ff=160, block_size=1024)
    torch.manual_seed(0)
    model = Llama(cfg)
    keep = torch.zeros(cfg.padded_vocab_size, 1)
    keep[digit_ids(load_tokenizer(tokenizer_dir))] = 1.0
    with torch.no_grad():
        for p in model.parameters():
            if p.ndim == 2:
                p.mul_(5.0)
        model.lm_head.weight.mul_(keep)
    save_model(model, cfg, out, tokenizer_dir=tokenizer_dir)
    return out


def direct_expected_score(gen, text: str) -> float | None:
    """The judge's expected score by the definition, from one forward pass of the score prompt: the
    first answer position's top-20 tokens, the digit ones renormalized (the model writes a digit first)."""
    from pintsize.curate.judge import SCORE_PROMPT

    ids = gen.chat_prompt([{"role": "user", "content": SCORE_PROMPT.format(text=text)}])
    with torch.no_grad():
        logp = torch.log_softmax(gen.model(torch.tensor([ids]))[0, -1, : gen.vocab_size].float(), dim=-1)
    values, top = torch.topk(logp, TOP_LOGPROBS)
    probs: dict[int, float] = {}
    for v, t in zip(values.tolist(), top.tolist()):
        piece = gen.tokenizer.decode([t]).strip()
        if piece in DIGITS:
            probs[int(piece)] = probs.get(int(piece), 0.0) + float(torch.tensor(v).exp())
    if not probs:
        return None
    return sum(d * p for d, p in probs.items()) / sum(probs.values())
