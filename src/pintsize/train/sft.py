"""`pintsize sft`: instruction tuning on chat data, with the loss on the assistant's tokens only.

Conversations (`pintsize.data.chat`) are rendered with the model's chat template and tokenized
with an assistant-only loss mask (`pintsize.data.chat_tokens`), split by conversation into
training and held-out sets, and packed into token shards in the stage's working directory
(`data/train/`, `data/heldout/`, with `data/report.json` and `data/rejects.jsonl` saying what
became of every input record; the counts are also the manifest's `stats.data`), so the artifact
holds exactly what was trained on.

Training reuses the pretraining loader and objective: several conversations share a row,
positions restart at each one (the document mask keeps them from attending to each other), and
tokens outside the assistant's replies get -100 targets, so `LMObjective` averages over the
assistant's tokens only. A conversation longer than seq_len is cut or dropped ([sft].truncation).
The run makes [sft].epochs passes over the training tokens unless max_steps or max_tokens is set.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pintsize.data.chat import Conversation, read_conversations
from pintsize.data.chat_tokens import ChatEncoder, EncodedChat, fit_length
from pintsize.data.json_records import DataReport
from pintsize.data.pack import TokenDocument
from pintsize.errors import RecipeError
from pintsize.recipe import Recipe
from pintsize.train.config import SFTConfig
from pintsize.train.objective import LMObjective
from pintsize.train.posttrain import (
    check_length,
    data_inputs,
    data_stats,
    encode_records,
    epoch_steps,
    split_heldout,
    start_model,
    work_dir,
)
from pintsize.train.stage import TrainingStage, run_training_stage

DATA_DIR = "data"
DONE = "report.json"  # written last: the packed data are complete


@dataclass
class SFTData:
    train: list[TokenDocument]
    heldout: list[TokenDocument]
    report: DataReport


def prepare_sft_data(config: SFTConfig, tokenizer) -> SFTData:
    """Read, check, encode and split the conversations of [sft].data."""
    encoder = ChatEncoder(tokenizer)
    report = DataReport()

    def encode(convs: list[Conversation]) -> list[EncodedChat]:
        for c in convs:
            report.trimmed.update(c.trims)
        return encoder.encode([c.messages for c in convs])

    def fit(chat: EncodedChat) -> tuple[TokenDocument, bool]:
        chat, truncated = fit_length(chat, config.seq_len, config.truncation)
        return TokenDocument(chat.ids, source="chat", loss_mask=chat.mask), truncated

    docs = encode_records(read_conversations(config.data), encode, fit, report, "sft")
    train, heldout = split_heldout(docs, config.val_fraction, config.seed, "sft", report)
    return SFTData(train, heldout, report)


def write_sft_data(data: SFTData, out: Path, tokenizer_dir: Path, seed: int) -> Path:
    """Pack the training and held-out conversations as token shards under `out`."""
    from pintsize.data.config import PackConfig
    from pintsize.data.pack import pack_token_documents
    from pintsize.tokenizer import TokenizerInfo

    info = TokenizerInfo.read(tokenizer_dir)
    ids = dict(vocab_size=info.vocab_size, bos_id=info.bos_id, eos_id=info.eos_id, pad_id=info.pad_id)
    # Each set is packed whole (no split inside it): the split is by conversation, made above.
    pack = PackConfig(val_fraction=0.0, seed=seed)
    pack_token_documents(data.train, out / "train", config=pack, **ids)
    if data.heldout:
        pack_token_documents(data.heldout, out / "heldout", config=pack, **ids)
    data.report.write(out)
    return out


def run_sft(recipe: Recipe, model: Path, out: Path, device: str | None = None) -> Path:
    """Fine-tune `model` (a model dir or a training-stage artifact) on [sft].data; write a
    training-stage artifact at `out`. Rerunning the same command resumes an interrupted run."""
    from pintsize.data.loader import TokenLoader, eval_batches
    from pintsize.tokenizer import load_tokenizer

    cfg = recipe.sft
    if cfg is None:
        raise RecipeError("the recipe has no [sft] section")
    inputs = data_inputs(cfg.data, "sft")
    start = start_model(model, "sft")
    check_length(cfg, start.config, "sft")
    data = prepare_sft_data(cfg, load_tokenizer(start.tokenizer_dir))
    run_cfg = epoch_steps(cfg, cfg.epochs, sum(len(d.tokens) for d in data.train), cfg.global_batch_tokens)
    packed = work_dir(Path(out)) / DATA_DIR

    def ensure_packed(env) -> Path:
        if env.is_main and not (packed / DONE).is_file():
            write_sft_data(data, packed, start.tokenizer_dir, cfg.seed)
        env.barrier()
        return packed

    def train_data(env):
        where = ensure_packed(env) / "train"
        return TokenLoader(where, "train", cfg.seq_len, cfg.micro_batch_size, env.rank, env.world_size, cfg.seed)

    def val_data(env):
        where = ensure_packed(env) / "heldout"
        if not data.heldout:
            return None
        return lambda: eval_batches(where, "train", cfg.seq_len, cfg.micro_batch_size, env.rank, env.world_size, cfg.val_tokens)

    stage = TrainingStage(
        stage="sft",
        config=run_cfg,
        model_config=start.config,
        objective=LMObjective(compile=cfg.compile),
        train_data=train_data,
        val_data=val_data,
        out=Path(out),
        inputs={"model": start.lineage, **inputs},
        artifact_config={"model": start.config.model_dump(mode="json"), "sft": cfg.model_dump(mode="json")},
        init_state=start.weights(),
        init_source=str(start.weights_file),
        tokenizer_dir=start.tokenizer_dir,
        stats={"data": data_stats(data.report, data.train, data.heldout)},
    )
    return run_training_stage(stage, device)
