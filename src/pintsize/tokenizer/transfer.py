"""Give a trained model a new tokenizer (`pintsize tokenizer transfer`).

Rows of tokens both vocabularies share are copied bit for bit (input embedding, and the output
embedding when it is untied); the others are initialised by one of:

- `mean` (FVT, Gee et al. 2022): the mean of the rows of the token's pieces under the old tokenizer;
- `focus` (FOCUS, Dobler & de Melo 2023): a sparsemax mix of shared tokens' rows (pintsize.tokenizer.focus),
  FVT's mean for tokens too rare in the target text to have an auxiliary vector;
- `random`: N(mean, std) of the old rows, per dimension.

Special and reserved tokens the old model lacks get the mean of the other new rows, which is never
the most likely next token (see transfer_embeddings).

Special tokens map by role (BOS, EOS, PAD, UNK) to the old model's, so a model whose EOS was
`<|endoftext|>` keeps ending its turns under a tokenizer whose EOS is `<|im_end|>`; the chat
tokens the old chat template uses must exist in the new tokenizer, or we stop and name them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict

from pintsize.errors import PintsizeError
from pintsize.tokenizer.load import _special_token_names, read_json_object, tokenizer_dir

Init = Literal["mean", "focus", "random"]
ROLES = ("bos_token", "eos_token", "pad_token", "unk_token")


class TransferConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    init: Init = "mean"
    fallback: Literal["mean", "random"] | None = None  # focus only: what to do when the corpus is too small
    seed: int = 0
    static_dim: int = 100
    static_epochs: int = 3
    static_buckets: int = 2_000_000  # fastText's n-gram buckets; fewer for a small corpus (or a test) build faster
    max_docs: int | None = 20000


def _backend(root: Path):
    from pintsize.tokenizer.load import read_backend

    return read_backend(root)


def _chat_template(root: Path) -> str:
    jinja = root / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text()
    cfg = root / "tokenizer_config.json"
    template = read_json_object(cfg).get("chat_template") if cfg.is_file() else None
    return template if isinstance(template, str) else ""


def _role_names(root: Path) -> dict[str, str]:
    names = _special_token_names(root)
    for file in ("special_tokens_map.json", "tokenizer_config.json"):  # _special_token_names skips UNK
        p = root / file
        if p.is_file():
            value = read_json_object(p).get("unk_token")
            if value is not None:
                names["unk_token"] = value["content"] if isinstance(value, dict) else value
    return names


def required_chat_tokens(old_root: Path, old) -> list[str]:
    """The old tokenizer's special tokens that its chat template writes literally (e.g. <|im_start|>)."""
    template = _chat_template(old_root)
    specials = [t.content for t in old.get_added_tokens_decoder().values() if t.special]
    return sorted(t for t in specials if t in template)


def match_tokens(old, new, old_root: Path, new_root: Path) -> dict[int, int]:
    """new id -> old id for tokens kept exactly: the same token string, or the same special role."""
    old_vocab = old.get_vocab(with_added_tokens=True)
    missing = [t for t in required_chat_tokens(old_root, old) if new.token_to_id(t) is None]
    if missing:
        raise PintsizeError(
            f"{new_root}: the new tokenizer lacks the chat/special tokens the model's chat template needs: {', '.join(missing)}"
        )
    pairs = {new_id: old_vocab[tok] for tok, new_id in new.get_vocab(with_added_tokens=True).items() if tok in old_vocab}
    old_roles, new_roles = _role_names(old_root), _role_names(new_root)
    for role in ROLES:
        o, n = old_roles.get(role), new_roles.get(role)
        # A same-named token wins (an old <|im_end|> stays <|im_end|>); a role maps only a token the old vocabulary lacks.
        if o is not None and n is not None and o in old_vocab and n not in old_vocab and new.token_to_id(n) is not None:
            pairs[new.token_to_id(n)] = old_vocab[o]
    return pairs


def old_pieces(old, new, new_id: int) -> list[int]:
    """The ids of the new token's string under the old tokenizer (FVT's decomposition).

    Byte-level BPEs share the byte alphabet, so the old model splits the token string itself (this
    also covers tokens that are partial UTF-8); otherwise we encode the decoded text."""
    token = new.id_to_token(new_id)
    try:
        pieces = old.model.tokenize(token)
        if pieces and "".join(p.value for p in pieces) == token and all(p.id is not None for p in pieces):
            return [p.id for p in pieces]
    except Exception:  # a model that cannot split this string (e.g. a unigram on a byte-level token)
        pass
    return old.encode(new.decode([new_id], skip_special_tokens=False), add_special_tokens=False).ids


def _random_rows(matrix: torch.Tensor, n: int, gen: torch.Generator) -> torch.Tensor:
    mean, std = matrix.mean(0), matrix.std(0)
    return mean + std * torch.randn(n, matrix.shape[1], generator=gen, dtype=matrix.dtype)


def check_vocab_fits(n_embeddings: int, vocab_size: int, where: str) -> None:
    if vocab_size > n_embeddings:
        raise PintsizeError(
            f"{where}: the tokenizer has {vocab_size} tokens but the model has {n_embeddings} embedding rows"
        )


def transfer_embeddings(
    old_emb: dict[str, torch.Tensor],
    old,
    new,
    pairs: dict[int, int],
    config: TransferConfig,
    n_rows: int,
    corpus: str | Path | None = None,
) -> tuple[dict[str, torch.Tensor], dict[str, int]]:
    """New embedding matrices (`n_rows` rows each) for the keys of `old_emb` (tok_emb.weight and,
    when untied, lm_head.weight), and counts of how each row was made."""
    gen = torch.Generator().manual_seed(config.seed)
    n_old = old.get_vocab_size(with_added_tokens=True)
    used = {k: v[:n_old].float() for k, v in old_emb.items()}  # padding rows are not the model's tokens
    n_new = new.get_vocab_size(with_added_tokens=True)
    out = {k: torch.zeros(n_rows, v.shape[1], dtype=v.dtype) for k, v in old_emb.items()}
    todo = [i for i in range(n_new) if i not in pairs]
    counts = {"shared": len(pairs), "mean": 0, "focus": 0, "random": 0, "mean_row": 0}
    for k in out:
        idx = torch.tensor(sorted(pairs))
        out[k][idx] = old_emb[k][torch.tensor([pairs[i] for i in sorted(pairs)])]

    # Special and reserved tokens the old model never had are never in the text the new rows are
    # learned from, so no init has anything to say about them (nor, for mean and focus, about a
    # token the old tokenizer cannot split). They get the mean of the new model's other rows: its
    # logit h.mean(E) is the mean of those tokens' logits, so with tied embeddings (and the mean
    # lm_head row when untied) it is never above the largest, and such a token never wins a greedy
    # step. (Random rows, as the FOCUS reference gives them, were longer than the real ones on
    # SmolLM2 and won every greedy step; masking them at decode would have to be done by every
    # runtime we export to.)
    specials = {i for i in new.get_added_tokens_decoder() if i not in pairs}
    how: dict[int, str] = {i: "mean_row" for i in specials}
    init = config.init
    if init == "focus" and todo:
        focus_rows = _focus(used, old, new, pairs, todo, specials, config, corpus)
        if focus_rows is None:
            init = config.fallback
        else:
            for i, rows in focus_rows.items():
                for k in out:
                    out[k][i] = rows[k].to(out[k].dtype)
                how[i] = "focus"
    for i in todo:
        if i in how:
            continue
        # focus: a token without an auxiliary vector (seen fewer than minCount times) gets FVT's
        # mean of its pieces; the reference draws it at random, which does worse (benchmarks/RESULTS.md).
        if init in ("mean", "focus"):
            pieces = old_pieces(old, new, i)
            if pieces:
                for k in out:
                    out[k][i] = used[k][pieces].mean(0).to(out[k].dtype)
                how[i] = "mean"
            else:  # no pieces: a byte the old vocabulary lacks (SmolLM2 lacks six control characters)
                how[i] = "mean_row"
            continue
        how[i] = "random"
    randoms = [i for i in todo if how[i] == "random"]
    if randoms:
        for k in out:
            out[k][torch.tensor(randoms)] = _random_rows(used[k], len(randoms), gen).to(out[k].dtype)
    inert = sorted(i for i, v in how.items() if v == "mean_row")
    if inert:
        real = torch.tensor([i for i in range(n_new) if how.get(i) != "mean_row"])
        for k in out:
            out[k][torch.tensor(inert)] = out[k][real].float().mean(0).to(out[k].dtype)
    for v in how.values():
        counts[v] += 1
    return out, counts


def _focus(used, old, new, pairs, todo, specials, config: TransferConfig, corpus):
    """{new id: {key: row}} for the tokens FOCUS can place; None when the corpus is too small and a
    fallback was asked for. Tokens without an auxiliary vector are left to the caller (FVT mean)."""
    from pintsize.data.records import iter_texts
    from pintsize.tokenizer.focus import focus_weights, has_vector, train_static_embeddings

    if corpus is None:
        raise PintsizeError("--init focus needs --corpus: the target text to train static embeddings on")
    texts = [t for t, _ in iter_texts(corpus, None)][: config.max_docs]
    docs = [e.tokens for e in new.encode_batch(texts, add_special_tokens=False)]
    try:
        wv = train_static_embeddings(docs, config.static_dim, config.static_epochs, config.seed, buckets=config.static_buckets)
    except PintsizeError as e:
        if config.fallback is None:
            raise PintsizeError(f"{corpus}: {e}") from e
        print(f"focus: {e}; falling back to {config.fallback} as asked")
        return None
    added = set(new.get_added_tokens_decoder())
    support = [i for i in sorted(pairs) if i not in added and has_vector(wv, new.id_to_token(i))]
    if not support:
        raise PintsizeError(f"{corpus}: no token shared by the two tokenizers occurs in the corpus; focus has nothing to mix")
    shared_vecs = np.stack([wv[new.id_to_token(i)] for i in support])
    old_rows = {k: v[torch.tensor([pairs[i] for i in support])] for k, v in used.items()}
    rows = {}
    for i in todo:
        token = new.id_to_token(i)
        if i in specials or not has_vector(wv, token):
            continue
        w = torch.from_numpy(focus_weights(wv[token], shared_vecs)).float()
        rows[i] = {k: w @ v for k, v in old_rows.items()}
    return rows


def transfer_tokenizer(model: str | Path, new_tokenizer: str | Path, out: str | Path, config: TransferConfig,
                       corpus: str | Path | None = None) -> dict[str, int]:
    """Write a model artifact at `out`: the model at `model` with the tokenizer at `new_tokenizer`."""
    from safetensors.torch import load_file

    from pintsize.artifacts import ArtifactWriter
    from pintsize.model.checkpoint import WEIGHTS_FILE, build_model, load_config, resolve_model_dir, save_model

    model_dir = resolve_model_dir(model, "MODEL")
    old_root, new_root = tokenizer_dir(model_dir), tokenizer_dir(new_tokenizer)
    old, new = _backend(old_root), _backend(new_root)
    old_config = load_config(model_dir)
    check_vocab_fits(old_config.padded_vocab_size, old.get_vocab_size(with_added_tokens=True), str(model_dir))
    pairs = match_tokens(old, new, old_root, new_root)

    state = load_file(str(model_dir / WEIGHTS_FILE))
    keys = ["tok_emb.weight"] + ([] if old_config.tie_embeddings else ["lm_head.weight"])
    n_new = new.get_vocab_size(with_added_tokens=True)
    new_config = old_config.model_copy(update={"vocab_size": n_new, "name": f"{old_config.name}-{new_root.parent.name if new_root.name == 'tokenizer' else new_root.name}"})
    emb, counts = transfer_embeddings({k: state[k] for k in keys}, old, new, pairs, config, new_config.padded_vocab_size, corpus)
    state.update(emb)
    check_vocab_fits(state["tok_emb.weight"].shape[0], n_new, str(out))
    built = build_model(new_config, state, str(out))  # checks every shape against the new config
    inputs = {"model": model_dir, "tokenizer": new_root} | ({"corpus": corpus} if corpus else {})
    with ArtifactWriter(out, "tokenizer-transfer", config, inputs=inputs) as art:
        save_model(built, new_config, art.dir, tokenizer_dir=new_root)
        art.stats.update(counts, vocab_size=n_new, params=built.num_params())
    return counts
