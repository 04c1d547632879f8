"""Task resolution for the harness: presets expand to the leaderboard's tasks and shot counts;
unknown tasks, missing data and malformed eval files are clear errors that name what is wrong."""

import shutil

import pytest

from pintsize.errors import DataError, PintsizeError
from pintsize.eval.harness import PRESETS, expand, find_eval_data, local_task_names, run_harness
from pintsize.eval.lm import PintsizeLM
from pintsize.serve.generate import Generator


def test_leaderboard_v1_preset_is_the_open_llm_leaderboard_suite():
    assert expand(["leaderboard-v1"], None) == [
        ("arc_challenge", 25), ("hellaswag", 10), ("mmlu", 5), ("truthfulqa_mc2", 0), ("winogrande", 5), ("gsm8k", 5),
    ]
    assert expand(["local", "pintsize_arc_easy"], 0) == [(t, 0) for t, _ in PRESETS["local"]] + [("pintsize_arc_easy", 0)]
    assert set(t for t, _ in PRESETS["local"]) <= set(local_task_names())


@pytest.fixture(scope="module")
def lm(bpe_model_dir):
    return PintsizeLM(Generator.load(bpe_model_dir, device="cpu"), batch_size=16)


def test_unknown_task_or_uncached_dataset_is_explained(lm, eval_data, monkeypatch):
    with pytest.raises(PintsizeError, match=r"unknown lm-eval task 'pintsize_helaswag' \(did you mean pintsize_hellaswag"):
        run_harness(lm, ["pintsize_helaswag"], data_dir=eval_data)
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(PintsizeError, match=r"tasks arc_challenge: a dataset is not available offline .*\(preset 'local'\)"):
        run_harness(lm, ["arc_challenge"], limit=1)


def test_local_arc_and_gsm8k_tasks_run(lm, eval_data):
    out = run_harness(lm, ["pintsize_arc_challenge", "pintsize_gsm8k"], limit=3, num_fewshot=1, data_dir=eval_data)
    assert out["results"]["pintsize_arc_challenge"]["sample_len"] == 3
    assert 0.0 <= out["headline"]["pintsize_gsm8k"]["value"] <= 1.0
    assert out["n-shot"]["pintsize_arc_challenge"] == 1


def test_malformed_eval_file_names_its_line(lm, eval_data, tmp_path):
    bad = tmp_path / "eval"
    (bad / "hellaswag").mkdir(parents=True)
    lines = (eval_data / "hellaswag" / "val.jsonl").read_text().splitlines()[:5]
    lines[3] = lines[3].replace('"label": ', '"label": "x", "was": ')
    (bad / "hellaswag" / "val.jsonl").write_text("\n".join(lines) + "\n{truncated\n")
    with pytest.raises(DataError, match=r"val.jsonl:4: field 'label' must be a int"):
        run_harness(lm, ["pintsize_hellaswag"], data_dir=bad)
    lines[3] = (eval_data / "hellaswag" / "val.jsonl").read_text().splitlines()[3]
    (bad / "hellaswag" / "val.jsonl").write_text("\n".join(lines) + "\n{truncated\n")
    with pytest.raises(DataError, match=r"val.jsonl:6: not valid JSON"):
        run_harness(lm, ["pintsize_hellaswag"], data_dir=bad)


def test_missing_eval_data_is_explained(lm, tmp_path, monkeypatch):
    with pytest.raises(DataError, match="eval data folder not found"):
        run_harness(lm, ["pintsize_hellaswag"], data_dir=tmp_path / "nowhere")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match=r"hellaswag/val.jsonl: missing"):
        run_harness(lm, ["pintsize_hellaswag"], data_dir=empty)


def test_eval_data_is_found_through_the_environment(eval_data, tmp_path, monkeypatch):
    copy = tmp_path / "copy"
    shutil.copytree(eval_data / "mt_bench", copy / "mt_bench")
    monkeypatch.setenv("PINTSIZE_EVAL_DATA", str(copy))
    assert find_eval_data() == copy.resolve()


def test_a_mean_metrics_standard_error_is_its_closed_form(lm):
    """`bootstrap_iters=0` had turned off even lm-eval's closed-form standard error: every stderr
    read N/A. For accuracy it is the sample standard deviation of the 0/1 scores over sqrt(n),
    sqrt(p(1-p)/(n-1)), computed here from the per-item scores."""
    import math

    n = 40
    out = run_harness(lm, ["pintsize_hellaswag_mini"], limit=n, log_samples=True)
    metrics = out["results"]["pintsize_hellaswag_mini"]
    for metric in ("acc", "acc_norm"):
        scores = [s[metric] for s in out["samples"]["pintsize_hellaswag_mini"]]
        p = sum(scores) / len(scores)
        assert len(scores) == n and 0 < p < 1  # a random model: some right, some wrong (else the check is trivial)
        assert metrics[f"{metric},none"] == pytest.approx(p)
        assert metrics[f"{metric}_stderr,none"] == pytest.approx(math.sqrt(p * (1 - p) / (n - 1)), rel=1e-9)
    assert out["headline"]["pintsize_hellaswag_mini"]["stderr"] == metrics["acc_norm_stderr,none"]
    off = run_harness(lm, ["pintsize_hellaswag_mini"], limit=4, bootstrap_iters=0)["results"]["pintsize_hellaswag_mini"]
    assert off["acc_stderr,none"] is None  # lm-eval's "N/A", as JSON null
