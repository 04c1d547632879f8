"""The [data] recipe section: profile overrides, defaults, and mistakes named by key."""

from __future__ import annotations

import pytest

from pintsize.curate.config import DataConfig
from pintsize.curate.profiles import PROFILES
from pintsize.errors import RecipeError
from pintsize.recipe import parse_recipe


def test_an_override_changes_one_threshold_of_its_profile_only():
    recipe = parse_recipe({"data": {"heuristics": {"docs": {"gopher_quality": {"max_non_alpha_words_ratio": 0.5}}}}})
    docs = recipe.data.heuristics.docs
    assert docs.gopher_quality.max_non_alpha_words_ratio == 0.5
    assert docs.gopher_quality.min_doc_words == PROFILES["docs"].gopher_quality.min_doc_words
    assert docs.c4 == PROFILES["docs"].c4  # the rest of the docs profile, not the class defaults
    assert recipe.data.heuristics.web == PROFILES["web"]


def test_web_profile_is_finewebs_recipe():
    web = PROFILES["web"]
    assert web.gopher_quality.max_non_alpha_words_ratio == 0.8 and web.fineweb.line_punct_thr == 0.12
    assert web.c4.remove_lines and web.c4.filter_curly_bracket and web.c4.min_num_sentences == 5


def test_defaults_curate_the_stdlib_docs_with_the_docs_profile():
    source = DataConfig().sources[0]
    assert source.format == "pydoc" and source.rules_profile == "docs"
    assert DataConfig(sources=[{"name": "w", "path": "x.jsonl"}]).sources[0].rules_profile == "web"


@pytest.mark.parametrize(
    "data,message",
    [
        ({"heuristics": {"docs": {"c4": {"bogus": 1}}}}, r"\[data\].heuristics.docs.c4.bogus: unknown key"),
        ({"sources": [{"name": "a", "path": "p"}, {"name": "a", "path": "q"}]}, "repeated: a"),
        ({"sources": [{"name": "a b", "path": "p"}]}, r"\[data\].sources\[0\].name"),
        ({"quality": {"threshold": 0.5, "top_percent": 10}}, "only one of threshold, top_percent"),
        ({"dedup": {"bands": 0}}, r"\[data\].dedup.bands"),
    ],
)
def test_mistakes_name_the_key(data, message):
    with pytest.raises(RecipeError, match=message):
        parse_recipe({"data": data}, "r.toml")
