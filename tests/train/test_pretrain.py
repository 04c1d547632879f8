"""`pintsize pretrain`: the stage artifact, context extension from a trained model, clear errors."""

import json
import math
import shutil

import pytest
from typer.testing import CliRunner

from pintsize.artifacts import read_manifest
from pintsize.cli import app
from pintsize.data.shards import read_meta
from pintsize.errors import CheckpointError, DataError, RecipeError
from pintsize.model.checkpoint import load_model
from pintsize.recipe import parse_recipe
from pintsize.train.pretrain import resolve_model, run_pretrain
from train_helpers import VOCAB, recipe_dict, series, write_recipe

runner = CliRunner()


def pretrain(tmp_path, data, out, **pretrain):
    shards, tokenizer = data
    recipe = write_recipe(tmp_path / f"{out}.toml", **pretrain)
    args = ["pretrain", str(recipe), "--shards", str(shards), "--tokenizer", str(tokenizer), "--out", str(tmp_path / out), "--device", "cpu"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return tmp_path / out


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data):
    """A tiny model pretrained for 30 steps by the CLI."""
    tmp = tmp_path_factory.mktemp("pretrain")
    return pretrain(tmp, data, "base", max_steps=30, ckpt_every=15, val_every=15, log_every=5)


def test_cli_writes_a_training_stage_artifact(trained, data):
    manifest = read_manifest(trained)
    assert manifest["stage"] == "pretrain" and set(manifest["inputs"]) == {"shards", "tokenizer"}
    assert manifest["stats"]["steps"] == 30 and manifest["stats"]["tokens"] == 30 * 4 * 64
    train_tokens = read_meta(data[0])["splits"]["train"]["tokens"]
    assert manifest["stats"]["data_passes"] == {"all": pytest.approx(30 * 4 * 64 / train_tokens, abs=1e-4)}
    model = load_model(trained / "model")
    assert model.config.vocab_size == VOCAB and model.config.n_layer == 2
    assert (trained / "model/tokenizer/tokenizer.json").read_bytes() == (data[1] / "tokenizer.json").read_bytes()
    assert [p.name for p in sorted((trained / "checkpoints").iterdir())] == ["step-0000015", "step-0000030"]
    assert list((trained / "tb").glob("events.out.tfevents.*"))
    val = series(trained, "val_loss")
    assert sorted(val) == [0, 15, 30] and val[30] < val[0] - 0.8
    assert manifest["stats"]["final_val_loss"] == val[30]


def test_context_extension_starts_from_the_trained_weights(tmp_path, trained, data):
    shards, tokenizer = data
    d = recipe_dict(seq_len=128, micro_batch_size=2, global_batch_tokens=256, max_steps=2, val_tokens=1024,
                    init_from=str(trained))  # a stage artifact: its model/ is used
    d["model"] |= {"block_size": 128, "rope_base": 100000.0}
    out = run_pretrain(parse_recipe(d), shards, tokenizer, tmp_path / "long", device="cpu")
    cfg = json.loads((out / "model/model_config.json").read_text())
    assert cfg["block_size"] == 128 and cfg["rope_base"] == 100000.0
    assert set(read_manifest(out)["inputs"]) == {"shards", "tokenizer", "init"}
    # before any step, the loss at 128 tokens is the trained model's, far below an untrained one's
    assert series(out, "val_loss")[0] < series(trained, "val_loss")[0] - 0.8 < math.log(VOCAB)


def test_only_context_fields_may_change_when_starting_from_a_model(trained):
    d = recipe_dict(init_from=str(trained / "model"))
    d["model"] |= {"n_layer": 3, "rope_base": 1e5}
    with pytest.raises(RecipeError, match=r"n_layer \(2 -> 3\); only block_size, rope_base, rope_scaling may change"):
        resolve_model(parse_recipe(d), VOCAB)


def test_init_from_must_hold_a_model(tmp_path, trained):
    with pytest.raises(CheckpointError, match=r"not a model directory \(no model_config.json\) nor a training-stage artifact .*, given as \[pretrain\]\.init_from"):
        resolve_model(parse_recipe(recipe_dict(init_from=str(tmp_path))), VOCAB)
    shutil.copy(trained / "model/model_config.json", tmp_path)
    with pytest.raises(CheckpointError, match="init_from has no model.safetensors"):
        resolve_model(parse_recipe(recipe_dict(init_from=str(tmp_path))), VOCAB)


def test_sequences_longer_than_the_model_are_refused():
    with pytest.raises(RecipeError, match=r"\[pretrain\].seq_len \(128\) is longer than the model's block_size \(64\)"):
        resolve_model(parse_recipe(recipe_dict(seq_len=128, global_batch_tokens=4 * 128)), VOCAB)


def test_shards_of_another_tokenizer_are_refused(tmp_path, data):
    shards, tokenizer = data
    other = shutil.copytree(shards, tmp_path / "shards")
    meta = json.loads((other / "meta.json").read_text())
    (other / "meta.json").write_text(json.dumps({**meta, "vocab_size": 32064}))
    with pytest.raises(DataError, match="packed with a vocabulary of 32064 tokens, but the tokenizer .* has 512"):
        run_pretrain(parse_recipe(recipe_dict()), other, tokenizer, tmp_path / "out", device="cpu")


def test_cli_names_the_missing_input(tmp_path):
    recipe = write_recipe(tmp_path / "r.toml")
    result = runner.invoke(app, ["pretrain", str(recipe), "--shards", str(tmp_path / "nope")])
    assert result.exit_code != 0 and "no pack artifact here" in str(result.exception)


def test_a_finished_artifact_is_not_trained_again_without_force(trained, data):
    shards, tokenizer = data
    before = read_manifest(trained)["finished"]
    recipe = trained.parent / "base.toml"
    args = ["pretrain", str(recipe), "--shards", str(shards), "--tokenizer", str(tokenizer), "--out", str(trained), "--device", "cpu"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "is a finished pretrain artifact" in " ".join(result.output.split()) and "--force" in result.output
    assert read_manifest(trained)["finished"] == before


def test_non_finite_final_weights_are_an_error_naming_the_step():
    import torch

    from pintsize.train.guard import TrainingDiverged
    from pintsize.train.stage import check_finite

    class Env:
        def all_true(self, flag):
            return flag

    class FakeTrainer:
        section, first_nonfinite_step = "pretrain", 2

    check_finite({"w": torch.ones(2)}, FakeTrainer(), Env())
    with pytest.raises(TrainingDiverged, match=r"not finite \(e.g. w\); the loss or gradient norm was first non-finite at step 2"):
        check_finite({"w": torch.tensor([1.0, float("nan")])}, FakeTrainer(), Env())
