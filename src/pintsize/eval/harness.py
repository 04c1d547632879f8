"""Run lm-evaluation-harness tasks on a pintsize model: hub tasks, local task YAMLs, the user's own
task YAMLs, and presets.

Local tasks ship as YAML in `pintsize/eval/tasks/`. `pintsize_hellaswag_mini` reads 402 HellaSwag
items that ship in the package (tasks/data/, MIT), so it runs anywhere. `pintsize_hellaswag`,
`pintsize_arc_challenge`, `pintsize_arc_easy` and `pintsize_gsm8k` read JSONL files from the eval
data folder (shared/eval on the project's machines; set it with `data_dir` or
$PINTSIZE_EVAL_DATA). The user's tasks come from include paths (folders of task YAMLs, found by
their `task:` name) or as YAML file paths given in place of a name; lm-eval's own TaskManager
loads them. Any other lm-eval task name works too, but needs its dataset in the local Hugging
Face cache: nothing is downloaded.

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
from contextlib import contextmanager
from pathlib import Path

from pintsize.errors import DataError, PintsizeError
from pintsize.jsonl import read_json_objects

TASKS_DIR = Path(__file__).parent / "tasks"
DATA_PLACEHOLDER = "@EVAL_DATA@"  # the eval data folder (shared/eval)
PACKAGE_DATA = TASKS_DIR / "data"  # data that ships inside the package
PACKAGE_PLACEHOLDER = "@PACKAGE_DATA@"

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
    "pintsize_hellaswag_mini": "acc_norm,none",
    "pintsize_gsm8k": "exact_match,strict-match",
}

# lm-eval gives a mean metric (acc, acc_norm, exact_match) its standard error in closed form,
# sample std / sqrt(n), whenever bootstrap_iters > 0, and bootstraps only the metrics without one
# (f1, mcc, bleu, perplexity, median). Its default of 100,000 draws takes minutes per such metric;
# 100 draws (what lm-eval itself caps bleu/chrf/ter at) take a moment and give the error to about
# 7% of itself. With 0, lm-eval computes no standard error at all, not even the closed-form ones.
BOOTSTRAP_ITERS = 100

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


def is_task_file(name: str) -> bool:
    """A task given as the path of a YAML file rather than a name."""
    return name.endswith((".yaml", ".yml"))


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


def needs_eval_data(tasks: list[str]) -> bool:
    """Whether any of these tasks (presets expanded) reads the eval data folder."""
    return any(t in LOCAL_SCHEMAS for t, _ in expand(tasks, None))


def check_local_data(task: str, data_dir: Path) -> None:
    """Raise a DataError naming the file and line of the first malformed record of a local task."""
    rel, fields = LOCAL_SCHEMAS[task]
    path = data_dir / rel
    if not path.is_file():
        raise DataError(f"{path}: missing; task {task} reads it (eval data folder {data_dir})")
    for _ in read_json_objects(path, fields):  # reading checks every record
        pass


def render_local_tasks(data_dir: Path | None, dest: Path) -> Path:
    """Copy the shipped task YAMLs into `dest` with the data folders filled in (the eval data
    folder's tasks stay unfilled without one; resolve_tasks refuses them then)."""
    for src in TASKS_DIR.glob("*.yaml"):
        text = src.read_text().replace(PACKAGE_PLACEHOLDER, str(PACKAGE_DATA))
        if data_dir is not None:
            text = text.replace(DATA_PLACEHOLDER, str(data_dir))
        (dest / src.name).write_text(text)
    return dest


DATA_SUFFIXES = (".json", ".jsonl", ".txt", ".csv", ".py", ".toml")


def _looks_like_path(name: str) -> bool:
    """A task name that can only be a path (lm-eval's names have no slash and no file suffix)."""
    return "/" in name or os.sep in name or name.endswith(DATA_SUFFIXES) or Path(name).exists()


def _path_problem(name: str) -> str | None:
    """Why a task given as a path is not a task: answered at once, before lm-eval's index of its
    built-in tasks is built (about 30 s) to look for it as a name."""
    if is_task_file(name):
        return _task_file_problem(name)
    if not _looks_like_path(name):
        return None
    path = Path(name)
    if path.is_dir():
        return f"'{name}' (a folder: pass it with --include-path / harness_include_paths, and its tasks by name)"
    if path.exists():
        return f"'{name}' (not a task YAML: a task given by path is a .yaml file)"
    return f"'{name}' (no such task file)"


def _task_file_problem(name: str) -> str | None:
    """Why lm-eval could not load a task YAML given by path, or None."""
    from lm_eval.tasks._index import TaskIndex

    path = Path(name)
    if not path.is_file():
        return f"'{name}' (no such task file)"
    try:
        entry = TaskIndex.entry_from_path(path)
    except Exception as e:  # noqa: BLE001 - a YAML error names the line; lm-eval's own wording
        return f"'{name}' (not a readable task YAML: {' '.join(str(e).split())})"
    return None if entry else f"'{name}' (a task YAML needs a 'task' or 'group' key)"


def resolve_tasks(plan: list[tuple[str, int | None]], data_dir: Path | None, workdir: Path, include_paths=()):
    """An lm-eval TaskManager that knows every planned task (names found in pintsize's tasks, the
    include paths or lm-eval's own; YAML files by path), or a PintsizeError naming the unknown ones
    and where they were looked for. lm-eval's ~15k built-in tasks are indexed (about 30 s) only
    when a name is not found among the others."""
    from lm_eval.tasks import TaskManager

    includes = [Path(p) for p in include_paths]
    for p in includes:
        if not p.is_dir():
            raise DataError(f"{p}: include path is not a folder (--include-path / harness_include_paths)")
    local = set(local_task_names())
    wanted = [t for t, _ in plan]
    uses_local = [t for t in wanted if t in LOCAL_SCHEMAS]
    if uses_local:
        if data_dir is None:
            raise DataError(
                f"tasks {', '.join(uses_local)} read the local eval data, which was not found: "
                "set [eval] data_dir, --data-dir or $PINTSIZE_EVAL_DATA (the folder with hellaswag/, arc/, gsm8k/)"
            )
        for t in uses_local:
            check_local_data(t, data_dir)
    where = ["pintsize's tasks", *(f"include path {p}" for p in includes), "lm-eval's built-in tasks"]

    def unknown(problems: list[str]) -> PintsizeError:
        return PintsizeError(
            f"unknown lm-eval task {', '.join(problems)}; looked in {', '.join(where)}; "
            f"presets: {', '.join(PRESETS)}; local tasks: {', '.join(sorted(local))}"
        )

    if problems := [p for t in wanted if (p := _path_problem(t))]:
        raise unknown(problems)
    paths = [str(render_local_tasks(data_dir, workdir)), *map(str, includes)]
    names = [t for t in wanted if not is_task_file(t)]
    manager = TaskManager(include_path=paths, include_defaults=False)
    if any(t not in manager.all_tasks for t in names):
        manager = TaskManager(include_path=paths, include_defaults=True)
    known = set(manager.all_tasks)
    problems = []
    for t in names:
        if t not in known:
            close = difflib.get_close_matches(t, known | set(PRESETS), n=3)
            problems.append(f"'{t}'" + (f" (did you mean {', '.join(close)}?)" if close else ""))
    if problems:
        raise unknown(problems)
    check_user_tasks(manager, [t for t in wanted if is_task_file(t) or _in_include_path(manager, t, includes)])
    return manager


def _in_include_path(manager, name: str, includes: list[Path]) -> bool:
    entry = manager.task_index.get(name)
    path = getattr(entry, "yaml_path", None)
    return path is not None and any(inc.resolve() in Path(path).resolve().parents for inc in includes)


CHECKED_DOCS = 10_000  # documents of a user task rendered before a run (a few seconds at most)


def check_user_tasks(manager, tasks: list[str]) -> None:
    """The user's own tasks load their documents and render them as lm-eval will (prompt, target,
    choices; a gold index inside the choices), so that a broken task stops `eval harness` before
    the model loads and `run`'s preflight before any training, in one line that names it.
    lm-eval's own tasks and pintsize's are left to lm-eval (their data is checked by schema)."""
    for name in tasks:
        try:
            loaded = manager.load([name])["tasks"]
        except Exception as e:  # noqa: BLE001 - a user's YAML and data can fail in lm-eval, datasets or jinja in many ways
            raise PintsizeError(f"lm-eval task '{name}': {_load_problem(e)}") from None
        for task in loaded.values():
            problem = _render_problem(task)
            if problem:
                raise PintsizeError(f"lm-eval task '{name}': {problem}")


def _load_problem(e: Exception) -> str:
    """What stopped lm-eval from building a task, in words (its own exceptions name no file)."""
    import traceback

    import jinja2

    if isinstance(e, jinja2.exceptions.UndefinedError):
        return f"a template names a field its documents do not have ({e})"
    if isinstance(e, FileNotFoundError):
        return f"its data file is missing ({e})"
    cause = e.__cause__ or e.__context__
    if type(e).__name__ == "DatasetGenerationError":
        return f"its data could not be read ({' '.join(str(cause or e).split())[:300]})"
    if isinstance(e, IndexError) and "test_choice[" in (traceback.extract_tb(e.__traceback__)[-1].line or ""):
        return "the gold index (doc_to_target) of its first document is outside its choices (doc_to_choice)"
    if isinstance(e, IndexError):
        return f"its test split has no documents, or a template indexes past a list ({e})"
    said = " ".join(str(e).split())[:300]
    return said if isinstance(e, ValueError) and said else f"{type(e).__name__}: {said}"  # lm-eval's own ValueErrors are sentences


def _render_problem(task) -> str | None:
    """The first document whose prompt, target or choices do not render, or whose gold index is
    outside its choices; None when all of the first CHECKED_DOCS are fine."""
    if not hasattr(task, "doc_to_text") or not hasattr(task, "eval_docs"):
        return None
    for i, doc in enumerate(task.eval_docs):
        if i >= CHECKED_DOCS:
            break
        try:
            task.doc_to_text(doc)
            target = task.doc_to_target(doc)
            choices = task.doc_to_choice(doc) if task.config.doc_to_choice is not None else None
        except Exception as e:  # noqa: BLE001 - a template error (jinja) or a field of the wrong type
            return f"document {i} does not render ({_load_problem(e)})"
        if choices is not None and isinstance(target, int) and not 0 <= target < len(choices):
            return f"document {i}: gold index {target} is outside its {len(choices)} choices"
    return None


@contextmanager
def prepared_tasks(tasks: list[str], num_fewshot: int | None = None, data_dir: str | Path | None = None, include_paths=()):
    """The TaskManager for these tasks, checked (unknown names, missing local data) before any
    model is loaded; the rendered task files live until the block ends."""
    if not tasks:
        raise PintsizeError("no harness tasks given")
    workdir = Path(tempfile.mkdtemp(prefix="pintsize-tasks-"))
    try:
        yield resolve_tasks(expand(tasks, num_fewshot), find_eval_data(data_dir), workdir, include_paths)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def check_tasks(tasks: list[str], num_fewshot: int | None = None, data_dir: str | Path | None = None, include_paths=()) -> None:
    """Raise the PintsizeError that running these tasks would raise before scoring anything."""
    with prepared_tasks(tasks, num_fewshot, data_dir, include_paths):
        pass


def _headline(task: str, metrics: dict) -> str | None:
    """The task's leaderboard metric, else (a user's task) the first metric it reports."""
    if task in HEADLINE:
        return HEADLINE[task] if HEADLINE[task] in metrics else None
    return next((k for k in metrics if "," in k and "_stderr" not in k), None)


def stderr_key(metric: str) -> str:
    """lm-eval's key of a metric's standard error: "acc,none" -> "acc_stderr,none"."""
    return metric.replace(",", "_stderr,", 1)


@contextmanager
def _single_process_bootstrap():
    """lm-eval bootstraps in a pool of one process per CPU unless DISABLE_MULTIPROC is set: for
    100 draws, starting the pool (a fork of a process holding the model) costs more than the draws."""
    before = os.environ.get("DISABLE_MULTIPROC")
    os.environ["DISABLE_MULTIPROC"] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("DISABLE_MULTIPROC", None)
        else:
            os.environ["DISABLE_MULTIPROC"] = before


def run_harness(
    lm,
    tasks: list[str],
    limit: int | None = None,
    num_fewshot: int | None = None,
    data_dir: str | Path | None = None,
    apply_chat_template: bool = False,
    log_samples: bool = False,
    include_paths=(),
    manager=None,
    bootstrap_iters: int = BOOTSTRAP_ITERS,
) -> dict:
    """Run the tasks (presets expanded; names, or YAML files by path) with `lm` (a PintsizeLM, or
    any lm-eval LM); `manager` is prepared_tasks' (else the tasks are resolved here). Returns
    {"results": {task: metrics}, "n-shot": {...}, "headline": {task: {metric, value, stderr}}, "samples": ...};
    a metric's standard error is `<metric>_stderr,<filter>` (None where lm-eval has none)."""
    if manager is None:
        with prepared_tasks(tasks, num_fewshot, data_dir, include_paths) as manager:
            return run_harness(lm, tasks, limit, num_fewshot, apply_chat_template=apply_chat_template, log_samples=log_samples,
                               manager=manager, bootstrap_iters=bootstrap_iters)
    from lm_eval import simple_evaluate

    plan = expand(tasks, num_fewshot)
    merged: dict = {"results": {}, "n-shot": {}, "n-samples": {}, "samples": {}, "headline": {}}
    for shots in dict.fromkeys(s for _, s in plan):  # one lm-eval run per shot count, in order
        names = [t for t, s in plan if s == shots]
        try:
            with _single_process_bootstrap():
                out = simple_evaluate(
                    model=lm,
                    tasks=names,
                    num_fewshot=shots,
                    limit=limit,
                    task_manager=manager,
                    log_samples=log_samples,
                    apply_chat_template=apply_chat_template,
                    bootstrap_iters=bootstrap_iters,
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
        for key in [k for k in metrics if "_stderr," in k]:
            if not isinstance(metrics[key], (int, float)):
                metrics[key] = None  # lm-eval's "N/A" (no standard error for this metric, or one sample)
        if metric := _headline(task, metrics):
            merged["headline"][task] = {"metric": metric, "value": metrics[metric], "stderr": metrics.get(stderr_key(metric))}
    if not log_samples:
        merged.pop("samples")
    return merged
