"""Recipes: the shipped ones validate with the reference hyperparameters; mistakes name the key and file."""

from pathlib import Path

import pytest

from pintsize.errors import RecipeError
from pintsize.recipe import load_recipe

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


SHIPPED = sorted(p.stem for p in RECIPES.glob("*.toml"))


def test_the_reference_recipes_are_shipped():
    assert {"demo", "tiny-cpu", "pints-0.12b", "pints-1.5b-2k", "pints-1.5b-16k"} <= set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_recipes_validate_and_plan(name, tmp_path, monkeypatch):
    """`pintsize run RECIPE --dry-run` plans every shipped recipe from nothing; a stage the recipe
    leaves out is planned off (planning once read the inputs of stages that were off and crashed)."""
    from pintsize.pipeline.run import plan

    recipe = load_recipe(RECIPES / f"{name}.toml")
    monkeypatch.chdir(tmp_path)  # runs/NAME is relative: nothing of this checkout's runs is seen
    for reused in recipe.run.reuse.values():  # another run's finished artifacts (the 16K run reuses the 2K one's)
        Path(reused).mkdir(parents=True)
        (Path(reused) / "manifest.json").write_text("{}")
    steps = {s.stage.name: s.action for s in plan(recipe)}
    assert steps["pretrain"] == ("off" if recipe.distill else "run")  # [distill] replaces pretraining
    assert steps["distill"] == ("run" if recipe.distill else "off")
    assert (steps["sft"] == "off") == (recipe.sft is None) and (steps["dpo"] == "off") == (recipe.dpo is None)
    assert (steps["quality"] == "off") == (recipe.quality_model is None)


def test_reference_hyperparameters():
    r = load_recipe(RECIPES / "pints-1.5b-2k.toml")
    assert r.model.resolve(vocab_size=32064).num_params() == 1_565_886_464
    opt = r.pretrain.optimizer
    assert (opt.lr, opt.min_lr, opt.betas, opt.weight_decay, opt.warmup_steps, opt.grad_clip) == (4e-4, 4e-5, (0.9, 0.95), 0.1, 2000, 1.0)
    assert r.pretrain.global_batch_tokens == 512 * 2048 and r.pretrain.max_steps == 96180
    assert (r.sft.optimizer.lr, r.sft.epochs, r.sft.global_batch_tokens // r.sft.seq_len) == (2e-5, 5, 512)
    assert (r.dpo.beta, r.dpo.optimizer.lr, r.dpo.warmup_ratio, r.dpo.global_batch_tokens // r.dpo.seq_len) == (0.1, 5e-7, 0.1, 32)
    long = load_recipe(RECIPES / "pints-1.5b-16k.toml")
    assert long.model.resolve().block_size == 16384 and long.model.resolve().rope_base == 1e6
    assert not long.pretrain.document_mask  # positions up to 16K: short documents would restart them


def write(tmp_path, text: str) -> Path:
    p = tmp_path / "r.toml"
    p.write_text(text)
    return p


def test_unknown_key_names_key_and_file(tmp_path):
    p = write(tmp_path, "[pretrain]\nlearning_rate = 3e-4\n")
    with pytest.raises(RecipeError) as e:
        load_recipe(p)
    assert str(p) in str(e.value) and "[pretrain].learning_rate: unknown key" in str(e.value)


def test_wrong_type_names_key(tmp_path):
    p = write(tmp_path, '[pretrain.optimizer]\nlr = "fast"\n')
    with pytest.raises(RecipeError, match=r"\[pretrain\]\.optimizer\.lr: .*valid number.*'fast'"):
        load_recipe(p)


def test_unknown_model_and_bad_heads(tmp_path):
    with pytest.raises(RecipeError, match=r"\[model\]\.name: unknown model 'gpt-5'"):
        load_recipe(write(tmp_path, '[model]\nname = "gpt-5"\n'))
    with pytest.raises(RecipeError, match=r"\[model\]: n_head \(4\) must be divisible by n_kv_head \(3\)"):
        load_recipe(write(tmp_path, '[model]\nname = "tiny"\nn_kv_head = 3\n'))


def test_toml_syntax_error_names_line(tmp_path):
    with pytest.raises(RecipeError, match=r"invalid TOML.*line 2"):
        load_recipe(write(tmp_path, "[run]\nname = \n"))
