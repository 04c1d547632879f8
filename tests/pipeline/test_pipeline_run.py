"""`pintsize run`: every stage on real text, a report at the end, unchanged stages skipped on a
rerun, and a changed section rerunning exactly the stages downstream of it."""

import glob
import json
import shutil
from pathlib import Path

import pytest
import torch

from pintsize.data.docs_chat import write_jsonl
from pintsize.data.pydoc_corpus import pydoc_documents
from pintsize.pipeline.run import plan, run
from pintsize.recipe import parse_recipe

torch.set_num_threads(1)  # tiny models: a second thread only adds contention on a shared machine

STAGES = ["quality", "curate", "tokenizer", "pack", "pretrain", "sft", "dpo", "eval", "export"]


def tiny_training(steps: int) -> dict:
    return {
        "seq_len": 64,
        "micro_batch_size": 4,
        "global_batch_tokens": 256,
        "max_steps": steps,
        "precision": "fp32",
        "val_every": steps,
        "val_tokens": 2048,
        "log_every": 1,
        "ckpt_every": steps,
        "optimizer": {"lr": 3e-3, "min_lr": 3e-4, "warmup_steps": 1},
    }


@pytest.fixture(scope="module")
def recipe_dict(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("run")
    docs = pydoc_documents(limit=60)
    write_jsonl(docs, root / "docs.jsonl")
    found = sorted(glob.glob("/usr/share/doc/*/copyright"))[:30]
    if len(found) < 10:
        pytest.skip("needs the /usr/share/doc licence files of a Debian-like system as negative examples")
    (root / "licences").mkdir()
    licences = [str(shutil.copy(f, root / "licences" / f"{Path(f).parent.name}.txt")) for f in found]
    return {
        "run": {"name": "tiny", "out_dir": str(root / "runs" / "tiny")},
        "quality_model": {"positives": [str(root / "docs.jsonl")], "negatives": licences},
        "data": {
            "sources": [
                {"name": "docs", "path": str(root / "docs.jsonl"), "format": "jsonl", "profile": "docs"},
                {"name": "licences", "path": str(root / "licences" / "*.txt"), "format": "text"},
            ],
            "quality": {"threshold": 0.5},
        },
        "tokenizer": {"kind": "train", "vocab_size": 512},
        "pack": {"val_fraction": 0.1},
        "model": {"name": "tiny", "n_layer": 1, "d_model": 32, "n_head": 2, "n_kv_head": 1, "d_ff": 64, "block_size": 64},
        "pretrain": tiny_training(6),
        "sft": {"data": ["builtin:docs-chat:40"], "epochs": 1, **tiny_training(3)},
        "dpo": {"data": ["builtin:docs-preferences:24"], "epochs": 1, **tiny_training(3)},
        "eval": {"perplexity_max_documents": 5, "samples": ["What does `json.dumps` do?"], "samples_max_new_tokens": 8},
        "export": {"hf": True, "gguf": True, "dtype": "float32"},
    }


@pytest.fixture(scope="module")
def finished(recipe_dict) -> Path:
    report = run(parse_recipe(recipe_dict))
    return report


def test_every_stage_runs_and_the_report_is_written(finished, recipe_dict):
    out = Path(recipe_dict["run"]["out_dir"])
    assert finished == out / "report.html"
    for stage in STAGES:
        assert (out / stage / "manifest.json").is_file(), stage
    stats = json.loads((out / "curate" / "stats.json").read_text())["sources"]
    assert stats["licences"]["kept"] < stats["licences"]["input"]  # the quality model removes licence texts
    assert stats["docs"]["kept"] > 0
    page = finished.read_text()
    for heading in ("Data", "Tokenizer", "Training: pretrain", "Training: dpo", "Evaluation", "Lineage"):
        assert f"<h2>{heading}" in page, heading
    passes = json.loads((out / "pretrain" / "manifest.json").read_text())["stats"]["data_passes"]["all"]
    assert passes > 0 and "passes over the data" in page and f"{passes:.2f}" in page
    assert (out / "export" / "hf" / "config.json").is_file() and (out / "export" / "model.gguf").is_file()
    # the curate stage used the run's own quality model
    assert json.loads((out / "curate" / "manifest.json").read_text())["config"]["quality"]["model"] == str(out / "quality")


def test_rerun_skips_every_unchanged_stage(finished, recipe_dict):
    assert [s.action for s in plan(parse_recipe(recipe_dict)) if s.action != "off"] == ["skip"] * len(STAGES)


def test_a_changed_section_reruns_only_what_depends_on_it(finished, recipe_dict):
    changed = json.loads(json.dumps(recipe_dict))
    changed["dpo"]["beta"] = 0.2
    actions = {s.stage.name: s.action for s in plan(parse_recipe(changed)) if s.action != "off"}
    assert actions == {**{s: "skip" for s in STAGES}, "dpo": "run", "eval": "run", "export": "run"}
    changed["tokenizer"]["vocab_size"] = 640
    actions = {s.stage.name: s.action for s in plan(parse_recipe(changed))}
    assert [s for s in STAGES if actions[s] == "run"] == STAGES[2:]


def test_a_continuation_run_reuses_another_runs_tokenizer_and_shards(finished, recipe_dict, tmp_path):
    """The 16K recipe's shape: no data of its own, the 2K run's tokenizer and shards, its model as
    the start, a longer context and another RoPE base; its report shows the data it trained on."""
    first = Path(recipe_dict["run"]["out_dir"])
    longer = {
        "run": {"name": "long", "out_dir": str(tmp_path / "long"), "reuse": {"tokenizer": str(first / "tokenizer"), "pack": str(first / "pack")}},
        "data": {"sources": []},
        "model": {**recipe_dict["model"], "block_size": 128, "rope_base": 40000.0},
        "pretrain": {**tiny_training(2), "seq_len": 128, "global_batch_tokens": 512, "init_from": str(first / "pretrain" / "model")},
        "eval": {"perplexity": False},
    }
    steps = {s.stage.name: (s.action, s.out) for s in plan(parse_recipe(longer))}
    assert steps["curate"][0] == "off" and steps["tokenizer"] == ("reuse", first / "tokenizer") and steps["pack"] == ("reuse", first / "pack")
    page = run(parse_recipe(longer)).read_text()
    for heading in ("Data", "Tokenizer", "Training: pretrain", "Lineage"):  # the data and tokenizer are the first run's
        assert f"<h2>{heading}" in page, heading
    assert f"pack <span class='muted'>(another run's: <code>{first / 'pack'}</code>)" in page
    inputs = json.loads((tmp_path / "long" / "pretrain" / "manifest.json").read_text())["inputs"]
    assert {Path(v["path"]).resolve() for v in inputs.values()} >= {(first / "pack").resolve(), (first / "pretrain" / "model").resolve()}
    config = json.loads((tmp_path / "long" / "export" / "hf" / "config.json").read_text())
    assert (config["max_position_embeddings"], config["rope_theta"]) == (128, 40000.0)
    assert not (tmp_path / "long" / "tokenizer").exists() and not (tmp_path / "long" / "pack").exists()


def test_the_whole_run_under_torchrun_trains_on_every_rank_and_does_the_rest_once(recipe_dict, tmp_path):
    """`torchrun --nproc_per_node 2 -m pintsize run RECIPE`: rank 0 alone curates, tokenizes,
    packs, evaluates and exports while rank 1 waits; both train (one checkpoint shard each)."""
    import os
    import subprocess
    import sys

    spec = json.loads(json.dumps(recipe_dict))
    spec["run"] = {"name": "ddp", "out_dir": str(tmp_path / "ddp")}
    for key in ("quality_model", "sft", "dpo"):
        spec.pop(key)
    spec["data"].pop("quality")
    spec["export"]["gguf"] = False
    spec["pretrain"]["micro_batch_size"] = 2  # 2 ranks x 2 rows x 64 tokens = the global batch
    recipe = tmp_path / "ddp.toml"
    recipe.write_text(_toml(spec))
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    done = subprocess.run(
        [torchrun, "--standalone", "--nproc_per_node", "2", "-m", "pintsize", "run", str(recipe)],
        capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = tmp_path / "ddp"
    assert done.stdout.count("curate done") == 1 and done.stdout.count("export done") == 1  # rank 0 alone
    checkpoint = sorted((out / "pretrain" / "checkpoints").iterdir())[-1]
    assert sorted(p.name for p in checkpoint.glob("*.distcp")) == ["__0_0.distcp", "__1_0.distcp"]
    assert (out / "report.html").is_file() and (out / "export" / "hf" / "config.json").is_file()


def test_an_artifact_made_by_its_own_command_is_kept_while_its_inputs_are_unchanged(finished, recipe_dict):
    """`pintsize pretrain RECIPE` then `pintsize run RECIPE`: no entry in the run's state, so the run
    once retrained it from scratch (days, at full size). Now it is kept, unless its inputs changed."""
    out = Path(recipe_dict["run"]["out_dir"])
    state_file, manifest_file = out / "run_state.json", out / "pretrain" / "manifest.json"
    state, manifest = state_file.read_text(), manifest_file.read_text()
    try:
        state_file.write_text(json.dumps({k: v for k, v in json.loads(state).items() if k != "pretrain"}))
        step = {s.stage.name: s for s in plan(parse_recipe(recipe_dict))}["pretrain"]
        assert (step.action, step.reason) == ("skip", "made by its own command, inputs unchanged (--force reruns it)")
        edited = json.loads(manifest)
        edited["inputs"]["shards"]["hash"] = "0" * 64  # as if made from other shards
        manifest_file.write_text(json.dumps(edited))
        step = {s.stage.name: s for s in plan(parse_recipe(recipe_dict))}["pretrain"]
        assert (step.action, step.reason) == ("run", "made by its own command from other inputs")
    finally:
        state_file.write_text(state)
        manifest_file.write_text(manifest)


def test_a_failed_stage_is_planned_as_a_resume_and_dry_run_prints_the_plan(finished, recipe_dict):
    from typer.testing import CliRunner

    from pintsize.cli import app

    out = Path(recipe_dict["run"]["out_dir"])
    (out / "eval").rename(out / "eval.partial")  # what a crash in the eval stage leaves behind
    try:
        steps = {s.stage.name: s for s in plan(parse_recipe(recipe_dict))}
        assert (steps["eval"].action, steps["eval"].reason) == ("run", "resume a failed run")
        assert steps["export"].action == "skip"  # its input (the DPO model) did not change
        recipe_file = out.parent / "recipe.toml"
        recipe_file.write_text(_toml(recipe_dict))
        result = CliRunner().invoke(app, ["run", str(recipe_file), "--dry-run"])
        assert result.exit_code == 0, result.output
        assert "resume a failed run" in result.output and "unchanged" in result.output
    finally:
        (out / "eval.partial").rename(out / "eval")


def _toml(data: dict, prefix: str = "") -> str:
    """A minimal TOML writer for the nested dicts and lists of this test's recipe."""
    import json as _json

    lines, tables = [], []
    for key, value in data.items():
        if isinstance(value, dict):
            tables.append(_toml(value, f"{prefix}{key}."))
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            for item in value:
                lines.append(f"[[{prefix}{key}]]\n" + "".join(f"{k} = {_json.dumps(v)}\n" for k, v in item.items()))
        else:
            lines.append(f"{key} = {_json.dumps(value)}")
    head = f"[{prefix[:-1]}]\n" if prefix and any("=" in line and not line.startswith("[[") for line in lines) else ""
    scalars = [line for line in lines if not line.startswith("[[")]
    arrays = [line for line in lines if line.startswith("[[")]
    return head + "\n".join(scalars) + "\n" + "".join(arrays) + "".join(tables)


def test_a_path_tokenizer_is_rebuilt_when_the_tokenizer_at_its_path_changes(recipe_dict, tmp_path):
    """kind = "path" (a distillation run's teacher tokenizer): the file's content is an input."""
    from pintsize.pipeline.run import _fingerprint
    from pintsize.pipeline.stages import STAGES as ALL

    (tmp_path / "teacher" / "tokenizer").mkdir(parents=True)
    (tmp_path / "teacher" / "tokenizer" / "tokenizer.json").write_text('{"model": "one"}')
    recipe = parse_recipe({**recipe_dict, "tokenizer": {"kind": "path", "path": str(tmp_path / "teacher")}})
    stage = next(s for s in ALL if s.name == "tokenizer")
    before = _fingerprint(stage, recipe)
    (tmp_path / "teacher" / "tokenizer" / "tokenizer.json").write_text('{"model": "two"}')
    assert before is not None and _fingerprint(stage, recipe) != before


def test_curation_reruns_when_the_named_quality_model_changes(recipe_dict, tmp_path):
    """[data.quality].model = a directory (or builtin:expository, which a pintsize upgrade replaces):
    its content is an input of curate, not only its name."""
    from pintsize.curate.quality import QualityModel, builtin_dir
    from pintsize.pipeline.run import _fingerprint
    from pintsize.pipeline.stages import STAGES as ALL

    def with_model(model: str):
        without_stage = {k: v for k, v in recipe_dict.items() if k != "quality_model"}
        return parse_recipe({**without_stage, "data": {**recipe_dict["data"], "quality": {"model": model}}})

    model_dir = tmp_path / "labels-model"
    shutil.copytree(builtin_dir("expository"), model_dir)
    recipe = with_model(str(model_dir))
    stage = next(s for s in ALL if s.name == "curate")
    before = _fingerprint(stage, recipe)
    model = QualityModel.load(model_dir)
    model.intercept += 1.0  # what `quality label` retraining into the same directory does
    model.save(model_dir)
    assert before is not None and _fingerprint(stage, recipe) != before
    assert stage.inputs(with_model("builtin:expository"))["quality"] == builtin_dir("expository")  # the package's files
