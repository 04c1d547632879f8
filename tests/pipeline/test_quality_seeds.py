"""The quality stage's seed globs: dangling symlinks are not files, and the shipped recipes' seed
negatives cover more than one kind of non-expository text (issue 14)."""

from __future__ import annotations

import glob
from pathlib import Path

import pytest

from pintsize.errors import PintsizeError
from pintsize.pipeline.quality_stage import expand, glob_existing
from pintsize.recipe import load_recipe

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


def test_a_glob_skips_dangling_symlinks(tmp_path):
    (tmp_path / "a.conf").write_text("key = value\n")
    (tmp_path / "gone.conf").symlink_to(tmp_path / "missing")
    assert expand([f"{tmp_path}/*.conf"], "negatives") == [tmp_path / "a.conf"]
    (tmp_path / "a.conf").unlink()
    with pytest.raises(PintsizeError, match=r"^\[quality_model\]\.negatives: nothing matches"):
        expand([f"{tmp_path}/*.conf"], "negatives")


def test_the_demo_seed_negatives_are_several_kinds_that_exist_here():
    if not glob.glob("/usr/share/doc/*/copyright"):
        pytest.skip("the demo reads the files of a Debian-like system")
    negatives = load_recipe(RECIPES / "demo.toml").quality_model.negatives
    # Each entry is its own kind of text (a directory of licences, one of config files, ...):
    # different top-level folders, and every one matches files on a fresh system.
    assert len({Path(entry).parts[1] for entry in negatives}) >= 2
    for entry in negatives:
        assert glob_existing(entry), entry


def test_the_ablation_seed_negatives_are_several_kinds():
    negatives = load_recipe(RECIPES / "ablation.toml").quality_model.negatives
    assert len({Path(entry).parent for entry in negatives}) >= 2
