"""The quality stage's seed globs: dangling symlinks are not files; the ablation's seed negatives
cover more than one kind of non-expository text (issue 14); the demo and the reference recipes
use the built-in model, with no seeds (issue 26)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pintsize.errors import PintsizeError
from pintsize.pipeline.quality_stage import expand
from pintsize.recipe import load_recipe

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


def test_a_glob_skips_dangling_symlinks(tmp_path):
    (tmp_path / "a.conf").write_text("key = value\n")
    (tmp_path / "gone.conf").symlink_to(tmp_path / "missing")
    assert expand([f"{tmp_path}/*.conf"], "negatives") == [tmp_path / "a.conf"]
    (tmp_path / "a.conf").unlink()
    with pytest.raises(PintsizeError, match=r"^\[quality_model\]\.negatives: nothing matches"):
        expand([f"{tmp_path}/*.conf"], "negatives")


@pytest.mark.parametrize("name", ["demo", "pints-0.12b", "pints-1.5b-2k", "ablation"])
def test_the_demo_and_reference_recipes_use_the_builtin_model_and_no_seeds(name):
    recipe = load_recipe(RECIPES / f"{name}.toml")
    assert recipe.data.quality.model == "builtin:expository" and recipe.quality_model is None
    assert recipe.data.quality.threshold is None  # the model's recommended threshold applies
    # Nothing the demo reads changes when a package is installed under /etc (issue 26).
    assert "/etc" not in (RECIPES / f"{name}.toml").read_text()


def test_the_ablation_gives_the_quality_step_prose_that_explains_nothing():
    """Issue 26, item 6: drama, poetry and chat pass the heuristics, so "no quality" can differ from "curated"."""
    sources = {s.name: s for s in load_recipe(RECIPES / "ablation.toml").data.sources}
    assert {"shakespeare", "assistant-chat"} <= set(sources)
    assert {sources[n].profile for n in ("shakespeare", "assistant-chat")} == {"prose"}
