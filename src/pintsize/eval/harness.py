"""Run lm-evaluation-harness tasks on a pintsize model: hub tasks, local task YAMLs, and presets.

Local tasks (`pintsize_hellaswag`, `pintsize_arc_challenge`, `pintsize_arc_easy`, `pintsize_gsm8k`)
ship as YAML in `pintsize/eval/tasks/` and read JSONL files from the eval data folder (shared/eval
on the project's machines; set it with `data_dir` or $PINTSIZE_EVAL_DATA). Any other lm-eval task
name works too, but needs its dataset in the local Hugging Face cache: nothing is downloaded.

Presets:
  leaderboard-v1  the Open LLM Leaderboard v1 suite with its shot counts: ARC-Challenge 25,
                  HellaSwag 10, MMLU 5, TruthfulQA mc2 0, Winogrande 5, GSM8K 5 (hub datasets,
                  which must already be cached)
  local           the part of that suite whose data ships locally: ARC-Challenge 25,
                  HellaSwag 10, GSM8K 5
"""

from __future__ import annotations

import difflib
import os
import shutil
import tempfile
from pathlib import Path

from pintsize.errors import DataError, PintsizeError
from pintsize.jsonl import read_json_objects

TASKS_DIR = Path(__file__).parent / "tasks"
DATA_PLACEHOLDER = "@EVAL_DATA@"

PRESETS: dict[str, list[tuple[str, int]]] = {
    "leaderboard-v1": [
        ("arc_challenge", 25),
        ("hellaswag", 10),
        ("mmlu", 5),
        ("truthfulqa_mc2", 0),
        ("winogrande", 5),
        ("gsm8k", 5),
    ],
    "local": [("pintsize_arc_challenge", 25), ("pintsize_hellaswag", 10), ("pintsize_gsm8k", 5)],
}

# The metric each task reports on the leaderboard (the row's headline number).
HEADLINE = {
    "arc_challenge": "acc_norm,none",
    "hellaswag": "acc_norm,none",
    "mmlu": "acc,none",
    "truthfulqa_mc2": "acc,none",
    "winogrande": "acc,none",
    "gsm8k": "exact_match,strict-match",
    "pintsize_arc_challenge": "acc_norm,none",
    "pintsize_arc_easy": "acc_norm,none",
    "pintsize_hellaswag": "acc_norm,none",
    "pintsize_gsm8k": "exact_match,strict-match",
}

# Fields each local data file must have, checked before a run so that a broken file is named
# with its line instead of failing deep inside `datasets`.
LOCAL_SCHEMAS: dict[str, tuple[str, dict[str, type]]] = {
    "pintsize_hellaswag": ("hellaswag/val.jsonl", {"ctx": str, "endings": list, "label": int}),
    "pintsize_arc_challenge": ("arc/ARC-Challenge-test.llmfoundry-format.jsonl", {"query": str, "choices": list, "gold": int}),
    "pintsize_arc_easy": ("arc/ARC-Easy-test.llmfoundry-format.jsonl", {"query": str, "choices": list, "gold": int}),
    "pintsize_gsm8k": ("gsm8k/test.jsonl", {"question": str, "answer": str}),
}


def local_task_names() -> list[str]:
    return sorted(p.stem for p in TASKS_DIR.glob("*.yaml"))


def find_eval_data(explicit: str | Path | None = None) -> Path | None:
    """The eval data folder: `explicit`, $PINTSIZE_EVAL_DATA, or shared/eval in or beside the checkout."""
    if explicit:
        path = Path(explicit)
        if not path.is_dir():
            raise DataError(f"{path}: eval data folder not found")
        return path.resolve()
    if env := os.environ.get("PINTSIZE_EVAL_DATA"):
        return find_eval_data(env)
    repo = Path(__file__).resolve().parents[3]
    for candidate in (Path.cwd() / "shared/eval", Path.cwd().parent / "shared/eval", repo / "shared/eval", repo.parent / "shared/eval"):
        if candidate.is_dir():
            return candidate.resolve()
    return None


def expand(tasks: list[str], num_fewshot: int | None) -> list[tuple[str, int | None]]:
    """Task names with presets expanded into (task, shots); `num_fewshot` overrides every count."""
    plan: list[tuple[str, int | None]] = []
    for name in tasks:
        for task, shots in PRESETS.get(name, [(name, None)]):
            plan.append((task, shots if num_fewshot is None else num_fewshot))
    return plan


def check_local_data(task: str, data_dir: Path) -> None:
    """Raise a DataError naming the file and line of the first malformed record of a local task."""
    rel, fields = LOCAL_SCHEMAS[task]
    path = data_dir / rel
    if not path.is_file():
        raise DataError(f"{path}: missing; task {task} reads it (eval data folder {data_dir})")
    for _ in read_json_objects(path, fields):  # reading checks every record
        pass


def render_local_tasks(data_dir: Path, dest: Path) -> Path:
    """Copy the shipped task YAMLs into `dest` with the data folder filled in."""
    for src in TASKS_DIR.glob("*.yaml"):
        (dest / src.name).write_text(src.read_text().replace(DATA_PLACEHOLDER, str(data_dir)))
    return dest


def resolve_tasks(plan: list[tuple[str, int | None]], data_dir: Path | None, workdir: Path):
    """An lm-eval TaskManager that knows every planned task, or a PintsizeError naming the unknown ones."""
    from lm_eval.tasks import TaskManager

    local = set(local_task_names())
    wanted = [t for t, _ in plan]
    uses_local = [t for t in wanted if t in local]
    if uses_local:
        if data_dir is None:
            raise DataError(
                f"tasks {', '.join(uses_local)} read the local eval data, which was not found: "
                "set [eval] data_dir, --data-dir or $PINTSIZE_EVAL_DATA (the folder with hellaswag/, arc/, gsm8k/)"
            )
        for t in uses_local:
            check_local_data(t, data_dir)
    include = str(render_local_tasks(data_dir, workdir)) if data_dir is not None else None
    manager = TaskManager(include_path=include, include_defaults=any(t not in local for t in wanted))
    known = set(manager.all_tasks)
    unknown = [t for t in wanted if t not in known]
    if unknown:
        hints = []
        for t in unknown:
            close = difflib.get_close_matches(t, known | set(PRESETS), n=3)
            hints.append(f"'{t}'" + (f" (did you mean {', '.join(close)}?)" if close else ""))
        raise PintsizeError(
            f"unknown lm-eval task {', '.join(hints)}; presets: {', '.join(PRESETS)}; local tasks: {', '.join(sorted(local))}"
        )
    return manager


def run_harness(
    lm,
    tasks: list[str],
    limit: int | None = None,
    num_fewshot: int | None = None,
    data_dir: str | Path | None = None,
    apply_chat_template: bool = False,
    log_samples: bool = False,
) -> dict:
    """Run the tasks (presets expanded) with `lm` (a PintsizeLM, or any lm-eval LM); returns
    {"results": {task: metrics}, "n-shot": {...}, "headline": {task: (metric, value)}, "samples": ...}."""
    from lm_eval import simple_evaluate

    if not tasks:
        raise PintsizeError("no harness tasks given")
    plan = expand(tasks, num_fewshot)
    workdir = Path(tempfile.mkdtemp(prefix="pintsize-tasks-"))
    try:
        manager = resolve_tasks(plan, find_eval_data(data_dir), workdir)
        merged: dict = {"results": {}, "n-shot": {}, "n-samples": {}, "samples": {}, "headline": {}}
        for shots in dict.fromkeys(s for _, s in plan):  # one lm-eval run per shot count, in order
            names = [t for t, s in plan if s == shots]
            try:
                out = simple_evaluate(
                    model=lm,
                    tasks=names,
                    num_fewshot=shots,
                    limit=limit,
                    task_manager=manager,
                    log_samples=log_samples,
                    apply_chat_template=apply_chat_template,
                    bootstrap_iters=0,
                )
            except ConnectionError as e:  # `datasets` reports a dataset missing from the offline cache so
                raise PintsizeError(
                    f"tasks {', '.join(names)}: a dataset is not available offline ({e}); hub tasks need their "
                    "datasets in the local Hugging Face cache beforehand, or use the local tasks (preset 'local')"
                ) from None
            for key in ("results", "n-shot", "n-samples"):
                merged[key].update(out.get(key, {}))
            merged["samples"].update(out.get("samples", {}))
        for task, metrics in merged["results"].items():
            metric = HEADLINE.get(task)
            if metric and metric in metrics:
                merged["headline"][task] = {"metric": metric, "value": metrics[metric]}
        if not log_samples:
            merged.pop("samples")
        return merged
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
