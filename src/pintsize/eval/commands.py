"""CLI: `pintsize eval perplexity | harness | mtbench | passkey`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from pintsize import cli_options

from pintsize.serve.commands import DEVICE_OPT, MODEL_ARG  # one wording for every command that loads a model

console = Console()
OUT_OPT = typer.Option(None, "--out", help="also write the results as JSON to this file")


def _list_tasks(value: bool) -> None:
    """`eval harness --list`: eager, so it needs no model argument."""
    if not value:
        return
    from pintsize.eval.harness import PRESETS, local_task_names

    for name, plan in PRESETS.items():
        console.print(f"[bold]{name}[/]: " + ", ".join(f"{t} ({s}-shot)" for t, s in plan))
    console.print("[bold]local tasks[/]: " + ", ".join(local_task_names()))
    raise typer.Exit()


def _fmt(v) -> str:
    if v is None:
        return "-"
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def _progress():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console, transient=True)


def _save(out: Path | None, results: dict) -> None:
    if out is not None:
        from pintsize.artifacts import atomic_write_json

        atomic_write_json(out, results)
        console.print(f"[green]wrote[/] {out}")


def _split_list(values: list[str] | None) -> list[str]:
    return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    ev = groups["eval"]

    @ev.command("perplexity")
    def perplexity_cmd(
        model: Path = MODEL_ARG,
        data: Path = typer.Argument(..., help="held-out text: a corpus artifact, .jsonl/.parquet/text files or a folder of them, or pack shards (val split)"),
        max_documents: int = cli_options.count(None, help="evaluate at most this many documents"),
        seq_len: int = cli_options.count(None, help="window length in tokens (default: the model's context)"),
        stride: int = cli_options.count(None, help="new tokens scored per window (default: the window length)"),
        batch_size: int = cli_options.count(8, max=cli_options.MAX_BATCH, help="windows per forward pass"),
        device: str = DEVICE_OPT,
        out: Path = OUT_OPT,
    ) -> None:
        """Loss, perplexity and bits-per-byte on held-out text (bits-per-byte compares models across tokenizers)."""
        from pintsize.eval.perplexity import evaluate_perplexity
        from pintsize.eval.texts import read_texts, texts_from_shards
        from pintsize.serve.generate import Generator

        gen = Generator.load(model, device=device)
        if (data / "meta.json").is_file():
            texts, stats = texts_from_shards(data, "val", max_documents)
        else:
            texts, stats = read_texts(data, max_documents)
        with _progress() as bar:
            task = bar.add_task("scoring windows", total=None)
            result = evaluate_perplexity(
                gen.model, gen.tokenizer, texts, seq_len, stride, batch_size, progress=lambda n, total: bar.update(task, advance=n, total=total)
            )
        t = Table(title=f"{gen.name} on {data}", show_header=False)
        for k, v in [
            ("documents (kept / filtered / quarantined)", f"{stats.kept} / {stats.filtered} / {stats.quarantined}"),
            ("tokens scored", f"{result.tokens:,}"),
            ("UTF-8 bytes", f"{result.bytes:,}"),
            ("loss (nats/token)", f"{result.loss:.4f}"),
            ("perplexity", f"{result.perplexity:.2f}"),
            ("bits per byte", f"{result.bits_per_byte:.4f}"),
        ]:
            t.add_row(k, v)
        console.print(t)
        for p in stats.problems:
            console.print(f"[yellow]quarantined[/] {p}")
        _save(out, {**result.as_dict(), "records": {"kept": stats.kept, "filtered": stats.filtered, "quarantined": stats.quarantined, "problems": stats.problems}})

    @ev.command("harness")
    def harness_cmd(
        model: Path = MODEL_ARG,
        tasks: list[str] = typer.Option(
            None, "--task", "-t",
            help="lm-eval task, local pintsize_* task, preset (leaderboard-v1, local) or a task YAML file; repeatable or comma-separated",
        ),
        include_paths: list[Path] = typer.Option(
            None, "--include-path", help="a folder of your own lm-eval task YAMLs (repeatable); its tasks are then known by name"
        ),
        limit: int = cli_options.count(None, help="examples per task (for quick runs)"),
        num_fewshot: int = cli_options.count(None, min=0, max=1000, help="override every task's number of few-shot examples"),
        batch_size: int = cli_options.count(8, max=cli_options.MAX_BATCH, help="requests per forward pass"),
        data_dir: Path = typer.Option(None, help="the local eval data folder (default: $PINTSIZE_EVAL_DATA or shared/eval)"),
        chat_template: bool = typer.Option(False, "--chat-template", help="wrap prompts in the model's chat template"),
        bootstrap_iters: int = cli_options.count(
            100, min=0, max=1_000_000, help="bootstrap draws for the standard error of metrics without a closed form (f1, bleu, ...); "
            "0 turns every standard error off",
        ),
        list_tasks: bool = typer.Option(
            False, "--list", help="list the presets and local tasks, then exit", is_eager=True, callback=_list_tasks
        ),
        device: str = DEVICE_OPT,
        out: Path = OUT_OPT,
    ) -> None:
        """Run lm-evaluation-harness tasks (local YAML tasks, cached hub tasks, presets) on the model."""
        from pintsize.eval.harness import prepared_tasks, run_harness, stderr_key

        names = _split_list(tasks)
        if not names:
            raise typer.BadParameter("give at least one --task (or --list to see them)")
        from pintsize.eval.lm import PintsizeLM
        from pintsize.serve.generate import Generator

        with prepared_tasks(names, num_fewshot, data_dir, include_paths or []) as manager:  # unknown tasks fail before the model loads
            lm = PintsizeLM(Generator.load(model, device=device), batch_size=batch_size)
            results = run_harness(lm, names, limit, num_fewshot, apply_chat_template=chat_template, manager=manager,
                                  bootstrap_iters=bootstrap_iters)
        t = Table(title=f"{Path(model).name}: lm-eval")
        for col in ("task", "shots", "metric", "value", "stderr"):
            t.add_column(col)
        for task, metrics in results["results"].items():
            for key, value in metrics.items():
                if "," not in key or "_stderr" in key:
                    continue  # name, alias, sample_len; stderrs go in their own column
                t.add_row(task, _fmt(results["n-shot"].get(task)), key, _fmt(value), _fmt(metrics.get(stderr_key(key))))
        console.print(t)
        _save(out, results)

    @ev.command("mtbench")
    def mtbench_cmd(
        model: Path = MODEL_ARG,
        judge_url: str = cli_options.url(..., help="the judge's OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1"),
        judge_model: str = typer.Option(..., help="the judge model's name at that endpoint"),
        judge_key_env: str = typer.Option("OPENAI_API_KEY", help="environment variable holding the judge's API key (unset: no key)"),
        judge_max_tokens: int = cli_options.count(2048, help="the most tokens the judge may write per judgment"),
        out: Path = typer.Option(..., "--out", help="folder for answers.jsonl, judgments.jsonl and results.json (a rerun resumes)"),
        data_dir: Path = typer.Option(None, help="the eval data folder holding mt_bench/ (default: $PINTSIZE_EVAL_DATA or shared/eval)"),
        max_new_tokens: int = cli_options.count(1024, help="the most tokens per answer"),
        parallel: int = cli_options.count(4, max=cli_options.MAX_WORKERS, help="judge requests in flight at once"),
        limit: int = cli_options.count(None, help="answer only the first N questions"),
        retry_unscored: bool = typer.Option(False, "--retry-unscored", help="ask the judge again where it gave no rating"),
        min_scored: float = cli_options.real(
            0.5, at_least=0.0, at_most=1.0, help="fail (exit 2) when a smaller share of the judgments has a rating"
        ),
        device: str = DEVICE_OPT,
    ) -> None:
        """Answer the 80 MT-Bench questions (2 turns) and have a judge grade them 1-10; table per category."""
        import os

        from pintsize.errors import DataError
        from pintsize.eval.harness import find_eval_data
        from pintsize.eval.judge import Judge
        from pintsize.eval.mtbench import run_mtbench
        from pintsize.serve.generate import Generator

        data = find_eval_data(data_dir)
        if data is None:
            raise DataError("the MT-Bench data was not found: pass --data-dir (the folder holding mt_bench/) or set $PINTSIZE_EVAL_DATA")
        gen = Generator.load(model, device=device)
        judge = Judge(judge_url, judge_model, os.environ.get(judge_key_env), max_tokens=judge_max_tokens)
        with _progress() as bar:
            tasks = {}

            def progress(stage: str):
                tasks[stage] = bar.add_task(stage, total=None)
                return lambda: bar.advance(tasks[stage])

            results = run_mtbench(gen, judge, data / "mt_bench", out, max_new_tokens, parallel, limit, retry_unscored, progress,
                                  min_scored=min_scored)
        t = Table(title=f"MT-Bench: {gen.name} judged by {judge_model}")
        for col in ("category", "turn 1", "turn 2", "score", "scored", "unscored"):
            t.add_column(col)
        for cat, row in results["categories"].items():
            t.add_row(cat, _fmt(row["turn1"]), _fmt(row["turn2"]), _fmt(row["score"]), str(row["scored"]), str(row["unscored"]))
        t.add_row("[bold]overall[/]", _fmt(results["turn1"]), _fmt(results["turn2"]), f"[bold]{_fmt(results['score'])}[/]", str(results["scored"]), str(results["unscored"]))
        console.print(t)
        if results["unscored"]:
            console.print(f"[yellow]{results['unscored']} judgments have no rating[/] (see 'error' in {out / 'judgments.jsonl'}; --retry-unscored asks again)")

    @ev.command("passkey")
    def passkey_cmd(
        model: Path = MODEL_ARG,
        lengths: list[str] = typer.Option(None, "--length", "-l", help="prompt lengths in tokens, repeatable or comma-separated (default: 2K, 4K, ... up to the context)"),
        trials: int = cli_options.count(5, help="trials per length, the key at evenly spread depths"),
        seed: int = cli_options.seed(0, help="seed for the pass keys"),
        device: str = DEVICE_OPT,
        out: Path = OUT_OPT,
    ) -> None:
        """Long-context retrieval: accuracy at finding a pass key hidden in filler text, per length."""
        from pintsize.eval.passkey import default_lengths, run_passkey
        from pintsize.serve.generate import Generator

        try:
            sizes = [int(v) for v in _split_list(lengths)]
        except ValueError:
            sizes = [0]
        if not all(0 < n <= cli_options.MAX_COUNT for n in sizes):
            raise typer.BadParameter(f"takes whole numbers of tokens above 0 (got {', '.join(lengths)})", param_hint="'--length'")
        gen = Generator.load(model, device=device)
        sizes = sizes or default_lengths(gen.context_length)
        with _progress() as bar:
            task = bar.add_task("passkey trials", total=len(sizes) * trials)
            results = run_passkey(gen, sizes, trials, seed, progress=lambda: bar.advance(task))
        t = Table(title=f"passkey retrieval: {gen.name} (context {gen.context_length})")
        for col in ("length", "accuracy", "correct / trials"):
            t.add_column(col)
        for length, row in results["lengths"].items():
            t.add_row(length, f"{row['accuracy']:.2f}", f"{row['correct']} / {row['trials']}")
        console.print(t)
        _save(out, results)
