"""Teacher correction (arXiv 2408.11796) on tiny models: the `teacher-correct` stage fine-tunes the
teacher on the distillation shards (its loss there falls), is an ordinary training-stage artifact
that the distillation then reads, is reused on rerun when nothing changed, resumes exactly, and
`pintsize run` plans it between pack and prune."""

import json
import math

import pytest
import torch
from typer.testing import CliRunner

from pintsize.artifacts import read_manifest
from pintsize.cli import app
from pintsize.data.loader import eval_batches
from pintsize.model.checkpoint import load_model
from pintsize.recipe import parse_recipe
from pintsize.train.pretrain import run_pretrain
from pintsize.train.teacher_correct import correction_config, run_teacher_correction
from pintsize.train.trainer import Trainer
from train_helpers import SEQ, recipe_dict, series

runner = CliRunner()


@pytest.fixture(scope="module")
def teacher(tmp_path_factory, data):
    """A tiny model that has barely seen these shards (4 steps): a teacher in need of correction."""
    shards, tokenizer = data
    out = tmp_path_factory.mktemp("tc") / "teacher"
    run_pretrain(parse_recipe(recipe_dict(max_steps=4, ckpt_every=4, val_every=4)), shards, tokenizer, out, device="cpu")
    return out


def corrected_recipe(teacher, **distill) -> dict:
    d = recipe_dict(max_steps=2, ckpt_every=2, val_every=2, log_every=1)
    d["distill"] = {**d.pop("pretrain"), "teacher": str(teacher), "top_k": 16, "correct_teacher_steps": 8,
                    "correct_teacher_lr": 3e-3, "ckpt_every": 4, "val_every": 4} | distill
    return d


@torch.no_grad()
def val_loss(model_dir, shards) -> float:
    model = load_model(model_dir).eval()
    total = n = 0
    for b in eval_batches(shards, "val", SEQ, 4, max_tokens=16 * SEQ):
        logits = model(b["input_ids"], b.get("positions"))
        mask = b["targets"] != -100
        total += torch.nn.functional.cross_entropy(logits[mask], b["targets"][mask], reduction="sum").item()
        n += int(mask.sum())
    return total / n


def test_correction_config_takes_the_distill_settings_with_its_own_steps_and_lr(teacher):
    d = parse_recipe(corrected_recipe(teacher)).distill
    c = correction_config(d)
    assert (c.max_steps, c.optimizer.lr, c.seq_len, c.global_batch_tokens, c.seed) == (8, 3e-3, d.seq_len, d.global_batch_tokens, d.seed)
    assert c.optimizer.min_lr == pytest.approx(d.optimizer.min_lr * 3e-3 / d.optimizer.lr)


def test_distill_corrects_the_teacher_first_and_reuses_the_correction(tmp_path, data, teacher):
    shards, tokenizer = data
    recipe_file = tmp_path / "r.toml"
    d = corrected_recipe(teacher, correct_teacher_steps=0)  # the flag turns it on
    d["run"] = {"name": "tc", "out_dir": str(tmp_path / "run")}
    write_toml(recipe_file, d)
    args = ["distill", str(recipe_file), "--shards", str(shards), "--tokenizer", str(tokenizer), "--device", "cpu"]
    r = runner.invoke(app, [*args, "--correct-teacher-steps", "8"])
    assert r.exit_code == 0, r.output
    corrected = tmp_path / "run" / "teacher-correct"
    m = read_manifest(corrected)
    assert m["stage"] == "teacher-correct" and m["inputs"]["teacher"]["path"] == str((teacher / "model").resolve())
    assert sorted(series(corrected, "loss")) == list(range(1, 9))
    # The corrected teacher fits the shards better, and the distillation learned from it.
    before, after = val_loss(teacher / "model", shards), val_loss(corrected / "model", shards)
    assert after < before - 0.05, (before, after)
    assert read_manifest(tmp_path / "run" / "distill")["inputs"]["teacher"]["path"] == str((corrected / "model").resolve())
    # Rerun (a new distillation elsewhere): the correction is reused, not trained again.
    stamp = (corrected / "manifest.json").stat().st_mtime_ns
    r = runner.invoke(app, [*args, "--correct-teacher-steps", "8", "--out", str(tmp_path / "d2")])
    assert r.exit_code == 0, r.output
    assert "reusing" in r.output and (corrected / "manifest.json").stat().st_mtime_ns == stamp


def test_an_interrupted_correction_resumes_with_the_same_losses(tmp_path, data, teacher, monkeypatch):
    shards, tokenizer = data
    recipe = parse_recipe(corrected_recipe(teacher))
    ref = run_teacher_correction(recipe, shards, tokenizer, teacher, tmp_path / "ref", device="cpu")
    launch = Trainer.launch_step

    def crash_at_6(self, batches):
        if self.step == 5:
            raise RuntimeError("crash")
        return launch(self, batches)

    monkeypatch.setattr(Trainer, "launch_step", crash_at_6)
    with pytest.raises(RuntimeError, match="crash"):
        run_teacher_correction(recipe, shards, tokenizer, teacher, tmp_path / "run", device="cpu")
    monkeypatch.undo()
    out = run_teacher_correction(recipe, shards, tokenizer, teacher, tmp_path / "run", device="cpu")
    assert series(out, "loss") == series(ref, "loss") and series(out, "val_loss") == series(ref, "val_loss")
    assert torch.equal(load_model(out / "model").tok_emb.weight, load_model(ref / "model").tok_emb.weight)


def test_run_corrects_then_prunes_and_distills_from_the_corrected_teacher(tmp_path, data, teacher):
    from pintsize.pipeline.run import plan, run

    shards, tokenizer = data
    d = corrected_recipe(teacher, prune="d_model=48,n_head=2,n_kv_head=1,d_ff=96", calib_tokens=1024)
    d["run"] = {"name": "tc", "out_dir": str(tmp_path / "run"), "reuse": {"pack": str(shards), "tokenizer": str(tokenizer)}}
    d["eval"] = {"perplexity": False}
    d["export"] = {"hf": False, "gguf": False}
    recipe = parse_recipe(d)
    names = [s.stage.name for s in plan(recipe)]
    assert names.index("pack") < names.index("teacher-correct") < names.index("prune") < names.index("distill")
    run(recipe, report=False)
    corrected = str((tmp_path / "run" / "teacher-correct" / "model").resolve())
    assert read_manifest(tmp_path / "run" / "prune")["inputs"]["model"]["path"] == corrected
    assert read_manifest(tmp_path / "run" / "distill")["inputs"]["teacher"]["path"] == corrected
    # Rerun with a longer distillation: the correction (and the prune) are reused.
    actions = {s.stage.name: s.action for s in plan(parse_recipe(d | {"distill": d["distill"] | {"max_steps": 4}}))}
    assert (actions["teacher-correct"], actions["prune"], actions["distill"]) == ("skip", "skip", "run")
    actions = {s.stage.name: s.action for s in plan(parse_recipe(d | {"distill": d["distill"] | {"correct_teacher_steps": 6}}))}
    assert (actions["teacher-correct"], actions["prune"], actions["distill"]) == ("run", "run", "run")
    assert math.isfinite(series(tmp_path / "run" / "distill", "loss")[2])


def write_toml(path, d: dict) -> None:
    lines = []

    def table(name, section):
        lines.append(f"[{name}]")
        lines.extend(f"{k} = {json.dumps(v)}" for k, v in section.items() if not isinstance(v, dict))
        for k, v in section.items():
            if isinstance(v, dict):
                table(f"{name}.{k}", v)

    for name, section in d.items():
        table(name, section)
    path.write_text("\n".join(lines) + "\n")

