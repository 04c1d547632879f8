"""DPO: the loss against a hand-computed value, the frozen and cached references agree, training
raises the preference accuracy on held-out pairs, a resumed run reuses the cached reference, and
a model after SFT and DPO exported to Hugging Face generates exactly what `pintsize chat` does."""

from __future__ import annotations

import contextlib
import json
import math
import random
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from pintsize.model.checkpoint import load_model
from pintsize.tokenizer import load_tokenizer
from pintsize.train import dpo as dpo_module
from pintsize.train.dpo import REFERENCE_FILE, prepare_dpo_data, run_dpo
from pintsize.train.dpo_data import collate, finite_batches, pair_logps
from pintsize.train.dpo_objective import DPOObjective, FrozenReference
from pintsize.train.sft import run_sft
from posttrain_helpers import SEQ, bpe_tokenizer, crash_at_step, metrics, recipe, resumed_at, tiny_model, train_section

N_PAIRS = 300
CPU = torch.device("cpu")


def test_dpo_loss_equals_the_hand_computed_value():
    # p = (1/4, 1/2, 1/4) at every position. Chosen: tokens 1, 1 -> log p = 2 ln(1/2);
    # rejected: tokens 0, 2 -> 2 ln(1/4). Reference: -1 and -2; beta 0.5. The margin is
    # 0.5 * ((-2 ln 2 + 1) - (-4 ln 2 + 2)) = ln 2 - 1/2, the loss ln(1 + e^-(ln 2 - 1/2)) = ln(1 + sqrt(e) / 2).
    logits = torch.log(torch.tensor([1.0, 2.0, 1.0])).expand(2, 2, 3).clone().requires_grad_()
    batch = {
        "input_ids": torch.zeros(2, 2, dtype=torch.long),
        "targets": torch.tensor([[1, 1], [0, 2]]),
        "ref_logps": torch.tensor([-1.0, -2.0]),
    }
    loss, m = DPOObjective(beta=0.5)(lambda ids: logits, batch)
    assert loss.item() == pytest.approx(math.log(1 + math.sqrt(math.e) / 2), abs=1e-6)  # 0.601230
    assert m["reward_margin"].item() == pytest.approx(math.log(2) - 0.5, abs=1e-6)
    assert m["chosen_reward"].item() == pytest.approx(0.5 * (1 - 2 * math.log(2)), abs=1e-6)
    assert m["accuracy"].item() == 1.0
    assert DPOObjective(0.5).units(batch).item() == 1
    # Masked targets (-100) count nothing: the same pair with padding gives the same loss.
    padded = {**batch, "targets": torch.tensor([[1, 1, -100], [0, 2, -100]]), "input_ids": torch.zeros(2, 3, dtype=torch.long)}
    wide = torch.cat([logits, torch.randn(2, 1, 3)], dim=1)
    assert DPOObjective(0.5)(lambda ids: wide, padded)[0].item() == pytest.approx(loss.item(), abs=1e-6)


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory) -> Path:
    return bpe_tokenizer(tmp_path_factory.mktemp("tok") / "bpe")


@pytest.fixture(scope="module")
def sft_model(tmp_path_factory, tokenizer) -> Path:
    """A tiny model instruction-tuned on the stdlib-documentation chats (the built-in data set)."""
    root = tmp_path_factory.mktemp("sft")
    base = tiny_model(root / "base", tokenizer)
    section = train_section(data=["builtin:docs-chat:400"], max_steps=200, val_every=1000)
    return run_sft(recipe(root, sft=section), base, root / "sft", device="cpu")


@pytest.fixture(scope="module")
def pairs_file(tmp_path_factory) -> Path:
    """Real answers (stdlib documentation) preferred to the same words in a random order: a
    preference a tiny model can learn and carry over to pairs it has not seen. Two more pairs
    have chosen = rejected and must be skipped."""
    from pintsize.data.docs_chat import sft_conversations

    rng = random.Random(0)
    pairs = []
    for conv in sft_conversations(N_PAIRS, seed=5):
        question, answer = conv["messages"][0], conv["messages"][1]["content"]
        words = answer.split(" ")
        rng.shuffle(words)
        pairs.append({"prompt": [question], "chosen": answer, "rejected": " ".join(words)})
    pairs += [{**p, "rejected": p["chosen"]} for p in pairs[:2]]
    path = tmp_path_factory.mktemp("pairs") / "pairs.jsonl"
    path.write_text("".join(json.dumps(p) + "\n" for p in pairs))
    return path


def dpo_section(pairs_file: Path, **overrides) -> dict:
    return train_section(
        data=[str(pairs_file)], micro_batch_size=2, global_batch_tokens=8 * SEQ, epochs=1, beta=0.1,
        val_fraction=0.2, optimizer=dict(lr=1e-3, min_lr=1e-4), **overrides,
    )


@pytest.fixture(scope="module")
def dpo_run(tmp_path_factory, sft_model, pairs_file) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("dpo")
    section = dpo_section(pairs_file, log_every=1)
    return run_dpo(recipe(root, dpo=section), sft_model, root / "dpo", device="cpu"), section


def heldout_margins(model_dir: Path, artifact: Path, section: dict) -> np.ndarray:
    """Reward margins of the held-out pairs, computed here from the model and the cached reference."""
    from pintsize.train.config import DPOConfig

    data = prepare_dpo_data(DPOConfig.model_validate(section), load_tokenizer(model_dir / "tokenizer"))
    ref = np.load(artifact / REFERENCE_FILE)[len(data.train) :]
    policy = pair_logps(load_model(model_dir), finite_batches(data.heldout, None, 8, 0, 1, 0, SEQ), CPU, contextlib.nullcontext)
    return (policy[:, 0] - ref[:, 0]) - (policy[:, 1] - ref[:, 1])


def test_dpo_raises_heldout_preference_accuracy(dpo_run, sft_model):
    artifact, section = dpo_run
    before = heldout_margins(sft_model / "model", artifact, section)
    np.testing.assert_allclose(before, 0, atol=1e-4)  # the cache holds the starting model's log-probabilities
    report = json.loads((artifact / "data" / "report.json").read_text())
    val = metrics(artifact, "val_loss")  # the held-out DPO loss, logged by the engine
    steps = max(val)
    assert val[0] == pytest.approx(math.log(2), abs=1e-4)  # policy = reference: every margin is 0
    assert val[steps] < 0.6
    # The held-out reward margin and preference accuracy, as the engine logged them
    margin, accuracy = metrics(artifact, "val_reward_margin"), metrics(artifact, "val_accuracy")
    assert sorted(margin) == sorted(accuracy) == sorted(val)
    assert margin[0] == pytest.approx(0, abs=1e-5)
    assert accuracy[steps] >= 0.8 and margin[steps] > 0
    chosen, rejected = metrics(artifact, "val_chosen_reward"), metrics(artifact, "val_rejected_reward")
    assert chosen[steps] - rejected[steps] == pytest.approx(margin[steps], rel=1e-5)
    # ... are those of the held-out pairs under the saved model (margins recomputed here, beta 0.1)
    after = heldout_margins(artifact / "model", artifact, section)
    assert len(after) == round(0.2 * report["kept"])
    assert accuracy[steps] == pytest.approx((after > 0).mean(), abs=1e-9)
    assert margin[steps] == pytest.approx(0.1 * after.mean(), rel=1e-4)
    assert sorted(metrics(artifact, "accuracy")) == list(range(1, steps + 1))  # and on training batches, every step

    assert steps == math.ceil((report["kept"] - len(after)) / 8)  # one epoch of 8 pairs per step
    warmup, lr = round(0.1 * steps), metrics(artifact, "lr")
    assert [lr[s] for s in range(1, warmup + 1)] == pytest.approx([1e-3 * s / warmup for s in range(1, warmup + 1)])
    assert lr[warmup + 1] < 1e-3  # warm-up over a tenth of the run, then the decay
    assert report["records"] == N_PAIRS + 2 and report["skipped_by_reason"]["chosen and rejected are identical"] == 2
    assert report["records"] == report["kept"] + report["skipped"] + report["quarantined"]
    stats = json.loads((artifact / "manifest.json").read_text())["stats"]
    assert stats["data"] == {**report, "train": report["kept"] - len(after), "heldout": len(after)}


def test_frozen_reference_matches_the_cached_one(dpo_run, sft_model):
    artifact, section = dpo_run
    from pintsize.model.checkpoint import load_config
    from pintsize.train.config import DPOConfig

    data = prepare_dpo_data(DPOConfig.model_validate(section), load_tokenizer(sft_model / "model" / "tokenizer"))
    pairs, ref = data.train[:3], np.load(artifact / REFERENCE_FILE)[:3]
    policy = load_model(artifact / "model")
    cached = DPOObjective(0.1)(policy, collate(pairs, 0, SEQ, ref))
    weights = load_model(sft_model / "model").state_dict()
    frozen = DPOObjective(0.1, FrozenReference(load_config(sft_model / "model"), weights))(policy, collate(pairs, 0, SEQ))
    assert frozen[0].item() == pytest.approx(cached[0].item(), abs=1e-4)
    for k in cached[1]:
        assert frozen[1][k].item() == pytest.approx(cached[1][k].item(), abs=1e-4)


def test_a_resumed_run_reads_the_cached_reference(tmp_path, sft_model, pairs_file, monkeypatch):
    section = dpo_section(pairs_file, max_steps=6, ckpt_every=2, val_every=100)
    r, out = recipe(tmp_path, dpo=section), tmp_path / "dpo"
    crash_at_step(lambda: run_dpo(r, sft_model, out, device="cpu"), 3)
    cache = (tmp_path / "dpo.partial" / REFERENCE_FILE).read_bytes()
    calls = []
    monkeypatch.setattr(dpo_module, "pair_logps", lambda *a, **k: calls.append(a) or pytest.fail("recomputed"))
    run_dpo(r, sft_model, out, device="cpu")
    assert not calls and (out / REFERENCE_FILE).read_bytes() == cache
    assert resumed_at(out) == [2]
    assert json.loads((out / "manifest.json").read_text())["stats"]["steps"] == 6


def test_round_trip_through_hugging_face(dpo_run, tmp_path):
    """After SFT and DPO: transformers' chat template + greedy generate = `pintsize chat`."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from pintsize.cli import app
    from pintsize.model.hf import export_hf

    model_dir = dpo_run[0] / "model"
    hf_dir = export_hf(model_dir, tmp_path / "hf")
    question = "What does `json.dumps` do in Python?"
    tok = AutoTokenizer.from_pretrained(hf_dir)
    hf = AutoModelForCausalLM.from_pretrained(hf_dir, dtype=torch.float32)
    messages = [{"role": "user", "content": question}]
    inputs = tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    out = hf.generate(**inputs, max_new_tokens=40, do_sample=False)
    expected = tok.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)

    greedy = ["--temperature", "0", "--top-p", "1", "--repetition-penalty", "1", "--max-new-tokens", "40"]
    args = ["chat", str(model_dir), *greedy, "--device", "cpu"]
    result = CliRunner().invoke(app, args, input=f"{question}\n/exit\n")
    assert result.exit_code == 0, result.output
    said = result.output.split("assistant> ", 1)[1].rsplit("\nyou> ", 1)[0]
    assert said == expected
    assert len(set(re.findall(r"[a-z]{2,}", said))) >= 3  # words, not one token repeated
