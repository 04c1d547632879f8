"""Preflight: a run whose recipe cannot carry it to the end stops before its first stage, with every
reason at once; stages that will not run are not checked."""

from pathlib import Path

import pytest

from pintsize.errors import PintsizeError
from pintsize.eval.harness import local_task_names
from pintsize.pipeline.preflight import preflight
from pintsize.pipeline.run import run
from pintsize.recipe import load_recipe, parse_recipe

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
STAGES = {"curate", "tokenizer", "pack", "pretrain", "sft", "dpo", "eval", "export"}


def test_the_reference_recipe_stops_before_running_anything_and_says_what_to_fill_in(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(PintsizeError) as e:
        run(load_recipe(RECIPES / "pints-1.5b-2k.toml"))
    message = str(e.value)
    assert "nothing was run" in message
    assert "[data] lists no sources and there is no curated corpus at runs/pints-1.5b-2k/curate" in message
    assert "[sft].data is empty" in message and "[dpo].data is empty" in message
    assert not (tmp_path / "runs").exists()  # not even the tokenizer stage ran


def test_the_16k_recipe_needs_the_2k_model(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    recipe = load_recipe(RECIPES / "pints-1.5b-16k.toml")
    problems = preflight(recipe, {"pretrain"}, [])
    assert problems == ["runs/pints-1.5b-2k/pretrain/model: no such file or directory, given as [pretrain].init_from"]


def test_every_bad_data_entry_is_named(tmp_path):
    (tmp_path / "chats.jsonl").write_text('{"messages": []}\n')
    (tmp_path / "empty").mkdir()
    recipe = parse_recipe(
        {
            "data": {"sources": [{"name": "raw", "path": str(tmp_path / "raw" / "*.jsonl"), "format": "jsonl"}]},
            "sft": {"data": [str(tmp_path / "chats.jsonl"), str(tmp_path / "missing.jsonl"), "builtin:docs-chats"]},
            "dpo": {"data": [str(tmp_path / "empty")], "init_from": str(tmp_path / "nowhere")},
        }
    )
    problems = preflight(recipe, STAGES, [])
    assert problems == [
        f"[data] source 'raw': no files (.jsonl, .jsonl.gz) match '{tmp_path}/raw/*.jsonl'",
        f"[sft].data: {tmp_path}/missing.jsonl: no such data file or folder",
        "[sft].data: builtin:docs-chats: unknown built-in data set (known here: builtin:docs-chat)",
        f"[dpo].data: {tmp_path}/empty: no .jsonl or .parquet files in this folder",
        f"{tmp_path}/nowhere: no such file or directory, given as [dpo].init_from",
    ]
    # The same recipe with only pretraining left to run has nothing to fix.
    assert preflight(recipe, {"pretrain", "eval"}, []) == []


def test_a_starting_model_that_this_run_makes_is_not_missing(tmp_path):
    sft_dir = tmp_path / "runs" / "x" / "sft"
    recipe = parse_recipe({"sft": {"data": ["builtin:docs-chat"]}, "dpo": {"data": ["builtin:docs-preferences"], "init_from": str(sft_dir / "model")}})
    assert preflight(recipe, {"sft", "dpo"}, [sft_dir]) == []
    assert "given as [dpo].init_from" in preflight(recipe, {"dpo"}, [])[0]


def test_the_demo_recipe_is_ready_to_run(tmp_path, monkeypatch):
    if not list(Path("/usr/share/doc").glob("*/copyright")):
        pytest.skip("the demo reads the /usr/share/doc licence files of a Debian-like system")
    monkeypatch.chdir(tmp_path)
    assert preflight(load_recipe(RECIPES / "demo.toml"), STAGES, []) == []  # no quality stage: the built-in model


def test_harness_tasks_are_checked_before_training(tmp_path, monkeypatch):
    import pintsize.eval.harness as harness

    missing = parse_recipe({"eval": {"harness_tasks": ["pintsize_hellaswag"], "data_dir": str(tmp_path)}})
    (problem,) = preflight(missing, {"pretrain", "eval"}, [])
    assert problem.startswith(f"{tmp_path}/hellaswag/") and "missing; task pintsize_hellaswag reads it" in problem
    data = harness.find_eval_data(None)
    with monkeypatch.context() as m:
        m.setattr(harness, "find_eval_data", lambda explicit: None)  # a machine without the eval data folder
        optional = parse_recipe({"eval": {"harness_tasks": ["pintsize_hellaswag"], "harness_optional": True}})
        assert preflight(optional, {"eval"}, []) == []  # the eval stage will skip the harness, and say so
    if data is None:
        pytest.skip("the eval data folder (shared/eval or $PINTSIZE_EVAL_DATA) is not here")
    misspelt = parse_recipe({"eval": {"harness_tasks": ["pintsize_hellaswag", "arc_easyy"], "data_dir": str(data)}})
    (problem,) = preflight(misspelt, {"eval"}, [])
    assert "unknown lm-eval task 'arc_easyy' (did you mean arc_easy" in problem


def test_user_task_files_and_include_paths_are_checked(tmp_path):
    problems = preflight(
        parse_recipe({"eval": {"harness_tasks": [str(tmp_path / "mine.yaml")], "harness_include_paths": [str(tmp_path)]}}), {"eval"}, []
    )
    assert problems == [
        f"unknown lm-eval task '{tmp_path}/mine.yaml' (no such task file); looked in pintsize's tasks, include path {tmp_path}, "
        "lm-eval's built-in tasks; presets: leaderboard-v1, local; local tasks: " + ", ".join(local_task_names())
    ]
    _task(tmp_path / "mine.yaml", _items(tmp_path))
    missing = tmp_path / "no-folder"
    assert preflight(parse_recipe({"eval": {"harness_tasks": [str(tmp_path / "mine.yaml")]}}), {"eval"}, []) == []
    assert preflight(parse_recipe({"eval": {"harness_tasks": ["mine"], "harness_include_paths": [str(missing)]}}), {"eval"}, []) == [
        f"{missing}: include path is not a folder (--include-path / harness_include_paths)"
    ]


def _items(root: Path, text: str | None = None) -> Path:
    path = root / "items.jsonl"
    path.write_text(text if text is not None else '{"question": "Is water wet?", "gold": 0}\n{"question": "Is fire cold?", "gold": 1}\n')
    return path


def _task(path: Path, data: Path, name: str = "mine", **fields) -> Path:
    """A two-choice lm-eval task on a local JSONL file; `fields` replace its template fields."""
    f = {"output_type": "multiple_choice", "doc_to_text": '"Q: {{question}}\\nA:"', "doc_to_target": '"{{gold}}"'} | fields
    path.write_text(
        f"task: {name}\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    test: {data}\noutput_type: {f['output_type']}\n"
        f"test_split: test\ndoc_to_text: {f['doc_to_text']}\ndoc_to_target: {f['doc_to_target']}\n"
        'doc_to_choice: [" yes", " no"]\nmetric_list:\n  - metric: acc\n'
    )
    return path


@pytest.mark.parametrize(
    "broken,why",
    [
        (lambda d: _task(d / "t.yaml", d / "missing.jsonl"), "its data file is missing"),
        (lambda d: _task(d / "t.yaml", _items(d, "this is not JSON\n")), "its data could not be read"),
        (lambda d: _task(d / "t.yaml", _items(d), doc_to_text='"Q: {{questoin}}"'), "a template names a field its documents do not have ('questoin' is undefined)"),
        (lambda d: _task(d / "t.yaml", _items(d), output_type="multiple_choyce"), "Got invalid output_type 'multiple_choyce'"),
        (lambda d: _task(d / "t.yaml", _items(d), doc_to_target='"{{gold + 5}}"'), "the gold index (doc_to_target) of its first document is outside its choices"),
        (lambda d: _task(d / "t.yaml", _items(d, '{"question": "a", "gold": 0}\n{"question": "b", "gold": 7}\n')), "document 1: gold index 7 is outside its 2 choices"),
    ],
    ids=["data-file-missing", "data-not-json", "unknown-template-field", "bad-output-type", "gold-out-of-range", "later-gold-out-of-range"],
)
def test_a_broken_user_task_stops_run_dry_run_before_any_training(tmp_path, monkeypatch, broken, why):
    """`run --dry-run` (and so `run`'s preflight) loads each user task's documents and renders them."""
    from typer.testing import CliRunner

    from pintsize.cli import app

    monkeypatch.chdir(tmp_path)
    task = broken(tmp_path)
    (tmp_path / "recipe.toml").write_text(f'[run]\nname = "t"\n[eval]\nharness_tasks = ["{task}"]\n')
    result = CliRunner().invoke(app, ["run", str(tmp_path / "recipe.toml"), "--dry-run"])
    assert isinstance(result.exception, PintsizeError), result.output
    assert f"lm-eval task '{task}': {why}" in str(result.exception)
    assert not (tmp_path / "runs" / "t" / "tokenizer").exists()


def test_ablate_checks_its_eval_data_before_the_first_training(tmp_path, monkeypatch):
    import pintsize.eval.harness as harness
    from pintsize.pipeline.ablate.run import run_ablation

    (tmp_path / "docs.jsonl").write_text('{"text": "Some documentation."}\n')
    recipe = parse_recipe({
        "data": {"sources": [{"name": "docs", "path": str(tmp_path / "docs.jsonl"), "format": "jsonl"},
                             {"name": "gone", "path": str(tmp_path / "gone.jsonl"), "format": "jsonl"}]},
        "pretrain": {"max_steps": 4, "seq_len": 64},
        "ablate": {"harness_tasks": ["pintsize_arc_easy", "pintsize_hellaswag_mini"]},
    })
    monkeypatch.setattr(harness, "find_eval_data", lambda explicit=None: None)  # a fresh clone: no shared/eval
    with pytest.raises(PintsizeError) as e:
        run_ablation(recipe, out=tmp_path / "ablate")
    assert str(e.value).splitlines()[1:] == [
        f"  - [data] source 'gone': no files (.jsonl, .jsonl.gz) match '{tmp_path}/gone.jsonl'",
        "  - [ablate].harness_tasks: tasks pintsize_arc_easy read the local eval data, which was not found: set [eval] data_dir, "
        "--data-dir or $PINTSIZE_EVAL_DATA (the folder with hellaswag/, arc/, gsm8k/)",
    ]
    assert not (tmp_path / "ablate-work").exists()  # nothing was curated, packed or trained
