"""CLI: `pintsize generate`, `pintsize chat`, `pintsize serve`, `pintsize export gguf`."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer
from rich.console import Console

from pintsize import cli_options

err = Console(stderr=True)

MODEL_ARG = typer.Argument(
    ..., help="a pintsize model directory (model_config.json, model.safetensors, tokenizer/), or a training stage's artifact holding one (runs/NAME/sft)"
)
DEVICE_OPT = cli_options.device("auto", help="cpu, cuda, cuda:1, ... or auto (CUDA when available)")


def _sampling(max_new_tokens, temperature, top_k, top_p, repetition_penalty, stop, seed):
    from pintsize.serve.sampling import SamplingParams

    return SamplingParams(
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        repetition_penalty=repetition_penalty,
        stop=tuple(stop or ()),
        seed=seed,
    )


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    @app.command("generate")
    def generate_cmd(
        model: Path = MODEL_ARG,
        prompt: str = typer.Argument(..., help="the text to continue (or the user's message with --chat)"),
        chat: bool = typer.Option(False, "--chat", help="wrap the prompt in the chat template as a user message"),
        max_new_tokens: int = cli_options.count(256, help="the most tokens to generate"),
        temperature: float = cli_options.real(0.0, at_least=0, help="0 = greedy; higher = more random"),
        top_k: int = cli_options.count(0, min=0, help="sample among the k most likely tokens (0 = off)"),
        top_p: float = cli_options.real(1.0, above=0, at_most=1, help="sample among the most likely tokens covering this probability (1 = off)"),
        repetition_penalty: float = cli_options.real(1.0, above=0, help="> 1 discourages repeating earlier tokens (1 = off)"),
        stop: list[str] = typer.Option(None, "--stop", help="stop before this string (repeatable)"),
        seed: int = cli_options.seed(None, help="seed for reproducible sampling"),
        device: str = DEVICE_OPT,
    ) -> None:
        """Continue a prompt with the model, streaming the text as it is generated."""
        import time

        from pintsize.serve.generate import Generator

        gen = Generator.load(model, device=device)
        params = _sampling(max_new_tokens, temperature, top_k, top_p, repetition_penalty, stop, seed)
        ids = gen.chat_prompt([{"role": "user", "content": prompt}]) if chat else gen.encode(prompt)
        t0 = time.perf_counter()
        stream = gen.stream(ids, params)
        for piece in stream:
            sys.stdout.write(piece)
            sys.stdout.flush()
        sys.stdout.write("\n")
        dt = time.perf_counter() - t0
        n = len(stream.token_ids)
        err.print(f"[dim]{n} tokens in {dt:.2f} s ({n / dt:.1f} tokens/s), finish: {stream.finish_reason}[/]")

    @app.command("chat")
    def chat_cmd(
        model: Path = MODEL_ARG,
        system: str = typer.Option(None, help="a system message that opens the conversation"),
        max_new_tokens: int = cli_options.count(512, help="the most tokens per reply"),
        temperature: float = cli_options.real(0.7, at_least=0, help="0 = greedy; higher = more random"),
        top_k: int = cli_options.count(0, min=0, help="sample among the k most likely tokens (0 = off)"),
        top_p: float = cli_options.real(0.9, above=0, at_most=1, help="sample among the most likely tokens covering this probability (1 = off)"),
        repetition_penalty: float = cli_options.real(1.1, above=0, help="> 1 discourages repeating earlier tokens (1 = off)"),
        seed: int = cli_options.seed(None, help="seed for reproducible sampling"),
        device: str = DEVICE_OPT,
    ) -> None:
        """Talk with a chat model in the terminal (/reset forgets the conversation, /exit ends it)."""
        from pintsize.serve.chat import run_chat
        from pintsize.serve.generate import Generator

        gen = Generator.load(model, device=device)
        params = _sampling(max_new_tokens, temperature, top_k, top_p, repetition_penalty, None, seed)
        err.print(f"[dim]{gen.name}: context {gen.context_length} tokens. /reset forgets, /exit ends.[/]")
        run_chat(gen, params, input, sys.stdout, system=system)

    @app.command("serve")
    def serve_cmd(
        model: Path = MODEL_ARG,
        host: str = typer.Option("127.0.0.1", help="address to listen on (0.0.0.0 for every interface)"),
        port: int = cli_options.port(8000),
        name: str = typer.Option(None, help="the model name clients ask for (default: the directory's name)"),
        max_tokens: int = cli_options.count(1024, help="the most new tokens one request may ask for"),
        max_concurrent: int = cli_options.count(4, max=cli_options.MAX_WORKERS, help="requests generating at once, decoded together in one batch; more are refused with 429"),
        api_key_env: str = typer.Option(
            None, help="name of an environment variable holding the API key clients must send (default: no key)"
        ),
        max_request_bytes: int = cli_options.count(
            1 << 20, help="a request body larger than this is refused with 413 before it is read in full (default 1 MiB)"
        ),
        device: str = DEVICE_OPT,
    ) -> None:
        """Serve the model over an OpenAI-compatible HTTP API (/v1/chat/completions, /v1/completions, /v1/models)."""
        import uvicorn

        from pintsize.serve.generate import Generator
        from pintsize.serve.sampling import GenerationError
        from pintsize.serve.server import ServerSettings, create_app

        api_key = None
        if api_key_env:
            api_key = os.environ.get(api_key_env)
            if not api_key:
                raise GenerationError(f"--api-key-env {api_key_env}: that environment variable is not set")
        gen = Generator.load(model, device=device)
        settings = ServerSettings(
            model_name=name or gen.name,
            max_tokens=max_tokens,
            max_concurrent=max_concurrent,
            api_key=api_key,
            max_request_bytes=max_request_bytes,
        )
        err.print(f"serving [bold]{settings.model_name}[/] at http://{host}:{port}/v1 (context {gen.context_length} tokens)")
        uvicorn.run(create_app(gen, settings), host=host, port=port, log_level="info")

    @groups["export"].command("gguf")
    def export_gguf_cmd(
        model: Path = MODEL_ARG,
        out: Path = typer.Argument(..., help="the .gguf file to write"),
        dtype: str = typer.Option("float16", help="float32, float16 or bfloat16 for the weight matrices"),
    ) -> None:
        """Write a GGUF file (weights, tokenizer, chat template) that llama.cpp loads."""
        from pintsize.model.gguf import export_gguf

        path = export_gguf(model, out, dtype=dtype)
        err.print(f"[green]wrote[/] {path} ({path.stat().st_size / 2**20:.1f} MiB)")
