"""The user's own lm-eval tasks: a task YAML given by path or found by name in an include path
runs through lm-eval's own TaskManager and scores as HFLM scores it; an unknown task stops the
command before the model loads, in one line that says where it looked; the HellaSwag slice that
ships in the package runs with no eval data folder at all."""

import json
from pathlib import Path

import pytest
from lm_eval.models.huggingface import HFLM
from typer.testing import CliRunner

import pintsize.eval.harness as harness
from pintsize.cli import app
from pintsize.errors import PintsizeError
from pintsize.eval.harness import PACKAGE_DATA, run_harness
from pintsize.eval.lm import PintsizeLM
from pintsize.eval.run import run_eval
from pintsize.eval.config import EvalConfig
from pintsize.serve.generate import Generator

runner = CliRunner()
ITEMS = [
    ("Is water wet?", 0), ("Is fire cold?", 1), ("Do fish swim?", 0),
    ("Can stones fly?", 1), ("Is the sun hot?", 0), ("Is ice warm?", 1),
]


@pytest.fixture(scope="module")
def user_task(tmp_path_factory) -> Path:
    """A two-choice task in its own folder, reading a local JSONL file."""
    root = tmp_path_factory.mktemp("user-task")
    data = root / "items.jsonl"
    data.write_text("".join(json.dumps({"question": q, "gold": g}) + "\n" for q, g in ITEMS))
    (root / "tasks").mkdir()
    yaml = root / "tasks" / "yes_no.yaml"
    yaml.write_text(
        "task: my_yes_no\ndataset_path: json\ndataset_kwargs:\n  data_files:\n"
        f"    test: {data}\noutput_type: multiple_choice\ntest_split: test\n"
        'doc_to_text: "Question: {{question}}\\nAnswer:"\ndoc_to_target: "{{gold}}"\ndoc_to_choice: [" yes", " no"]\n'
        "metric_list:\n  - metric: acc\n    aggregation: mean\n    higher_is_better: true\n"
    )
    return yaml


@pytest.fixture(scope="module")
def ours(bpe_model_dir):
    return PintsizeLM(Generator.load(bpe_model_dir, device="cpu"), batch_size=4)


def test_a_task_yaml_by_path_or_include_path_scores_as_hflm(ours, bpe_hf_dir, user_task):
    by_path = run_harness(ours, [str(user_task)], log_samples=True)
    by_name = run_harness(ours, ["my_yes_no"], include_paths=[user_task.parent])
    theirs = run_harness(HFLM(pretrained=str(bpe_hf_dir), batch_size=1, device="cpu", dtype="float32"), [str(user_task)], log_samples=True)
    result = by_path["results"]["my_yes_no"]
    assert result["sample_len"] == len(ITEMS)
    assert result["acc,none"] == by_name["results"]["my_yes_no"]["acc,none"] == theirs["results"]["my_yes_no"]["acc,none"]
    assert by_path["headline"]["my_yes_no"] == {"metric": "acc,none", "value": result["acc,none"], "stderr": result["acc_stderr,none"]}
    for sa, sb in zip(by_path["samples"]["my_yes_no"], theirs["samples"]["my_yes_no"], strict=True):
        assert [r[0][0] for r in sa["resps"]] == pytest.approx([r[0][0] for r in sb["resps"]], abs=1e-4)


def test_cli_takes_include_paths(bpe_model_dir, user_task):
    result = runner.invoke(
        app, ["eval", "harness", str(bpe_model_dir), "-t", "my_yes_no", "--include-path", str(user_task.parent), "--device", "cpu"]
    )
    assert result.exit_code == 0, result.output
    assert "my_yes_no" in result.stdout and "acc,none" in result.stdout


def test_unknown_tasks_stop_the_command_before_the_model_loads(tmp_path, user_task):
    missing_model = tmp_path / "no-model"  # loading it would fail with another message
    result = runner.invoke(
        app, ["eval", "harness", str(missing_model), "-t", f"{tmp_path}/nowhere.yaml,{user_task}", "--include-path", str(user_task.parent)]
    )
    assert isinstance(result.exception, PintsizeError)
    message = str(result.exception)
    assert "\n" not in message
    assert message.startswith(f"unknown lm-eval task '{tmp_path}/nowhere.yaml' (no such task file); looked in pintsize's tasks, "
                              f"include path {user_task.parent}, lm-eval's built-in tasks")
    with pytest.raises(PintsizeError, match=r"nowhere: include path is not a folder"):
        harness.check_tasks(["my_yes_no"], include_paths=[tmp_path / "nowhere"])


@pytest.mark.parametrize("given,why", [
    ("{tmp}/tasks/nowhere", "no such task file"),  # a path without the .yaml of a task file
    ("./nowhere.json", "no such task file"),
    ("{tmp}", "a folder: pass it with --include-path"),
])
def test_a_task_path_that_is_no_task_is_reported_without_indexing_lm_evals_tasks(tmp_path, monkeypatch, given, why):
    """A name that can only be a path is not looked for among lm-eval's ~15k built-in tasks (an
    index that took 31 s to build before the answer came)."""
    import lm_eval.tasks

    real = lm_eval.tasks.TaskManager

    def no_builtin_index(*args, include_defaults=True, **kwargs):
        assert not include_defaults, "lm-eval's built-in task index was built"
        return real(*args, include_defaults=include_defaults, **kwargs)

    monkeypatch.setattr(lm_eval.tasks, "TaskManager", no_builtin_index)
    name = given.format(tmp=tmp_path)
    result = runner.invoke(app, ["eval", "harness", str(tmp_path / "no-model"), "-t", name])
    assert isinstance(result.exception, PintsizeError), result.output
    assert str(result.exception).startswith(f"unknown lm-eval task '{name}' ({why}")


def test_the_shipped_slice_runs_without_an_eval_data_folder(bpe_model_dir, ours, tmp_path, monkeypatch):
    monkeypatch.delenv("PINTSIZE_EVAL_DATA", raising=False)
    monkeypatch.setattr(harness, "find_eval_data", lambda explicit=None: None)  # a fresh clone: no shared/eval
    out = run_harness(ours, ["pintsize_hellaswag_mini"], limit=6)
    assert out["results"]["pintsize_hellaswag_mini"]["sample_len"] == 6
    assert out["headline"]["pintsize_hellaswag_mini"]["metric"] == "acc_norm,none"
    config = EvalConfig(perplexity=False, harness_tasks=["pintsize_hellaswag_mini"], harness_limit=4, harness_optional=True)
    results = json.loads((run_eval(config, bpe_model_dir, tmp_path / "eval") / "results.json").read_text())
    assert 0.0 <= results["harness"]["headline"]["pintsize_hellaswag_mini"]["value"] <= 1.0  # a score, not "skipped"


def test_the_shipped_slice_is_every_25th_hellaswag_item_with_its_licence(eval_data):
    lines = (PACKAGE_DATA / "hellaswag_mini.jsonl").read_text().splitlines()
    full = (eval_data / "hellaswag" / "val.jsonl").read_text().splitlines()
    assert len(lines) == 402 and lines == full[::25]
    assert "MIT License" in (PACKAGE_DATA / "LICENSE-hellaswag.txt").read_text()
    assert "Licence: MIT" in (PACKAGE_DATA / "README.txt").read_text()
