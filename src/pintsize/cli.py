"""The `pintsize` command line: one Typer app; every command is a thin wrapper over a stage function.

Each stage package has a `commands.py` with `register(app, groups)`; heavy libraries are
imported inside the commands so that `pintsize --help` stays fast.
"""

from __future__ import annotations

import importlib
import sys

import typer
from rich.console import Console
from rich.markup import escape

from pintsize import __version__
from pintsize.cli_help import tidy as tidy_help
from pintsize.errors import PintsizeError, Reported, file_error_message

app = typer.Typer(
    name="pintsize",
    help="From raw text to a small, capable chat model: curate, tokenize, pretrain, align, evaluate, export.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

GROUPS = {
    "recipe": "Validate and print recipes.",
    "model": "Model configs and sizes.",
    "artifact": "Inspect artifacts and their lineage.",
    "export": "Export a model (Hugging Face, GGUF).",
    "import": "Import a model from another format.",
    "tokenizer": "Build, train and compare tokenizers.",
    "quality": "Train and apply the textbook-likeness quality classifier.",
    "eval": "Evaluate a model: perplexity, lm-eval-harness, MT-Bench, passkey.",
    "review": "Human review of documents: the web app, reviewers, label export.",
}
groups: dict[str, typer.Typer] = {}
for _name, _help in GROUPS.items():
    groups[_name] = typer.Typer(help=_help, no_args_is_help=True)
    app.add_typer(groups[_name], name=_name)

COMMAND_MODULES = (
    "pintsize.model.commands",
    "pintsize.tokenizer.commands",
    "pintsize.tokenizer.adapt_commands",
    "pintsize.data.commands",
    "pintsize.curate.commands",
    "pintsize.train.commands",
    "pintsize.train.distill_commands",
    "pintsize.train.posttrain_commands",
    "pintsize.eval.commands",
    "pintsize.serve.commands",
    "pintsize.review.commands",
    "pintsize.pipeline.commands",
)
for _module in COMMAND_MODULES:
    try:
        _mod = importlib.import_module(_module)
    except ModuleNotFoundError as _e:
        if _e.name != _module:  # a real missing dependency, not a stage that is not written yet
            raise
        continue
    _mod.register(app, groups)
tidy_help(app)  # pipeline order, classic argument names, sentences that wrap (pintsize.cli_help)


def _version(value: bool) -> None:
    if value:
        print(f"pintsize {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    pass


INTERRUPTED = 130  # what Typer exits with on Ctrl-C (KeyboardInterrupt), without a word


def _fail(message: str) -> None:
    # soft_wrap: the message stays one line (rich would cut it at 80 columns off a terminal)
    Console(stderr=True).print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    sys.exit(2)


def main() -> None:
    try:
        app()
    except PintsizeError as e:
        _fail(str(e))
    except OSError as e:  # a path the user gave that cannot be read or written: named, not a traceback
        if (message := file_error_message(e)) is None:
            raise
        _fail(message)
    except SystemExit as e:
        if e.code == INTERRUPTED and not isinstance(e, Reported):
            Console(stderr=True).print(
                "[yellow]interrupted.[/] Run the same command again to go on: finished stages are kept, "
                "curation and packing resume their partial work, training resumes from its last checkpoint.",
                highlight=False,
            )
        raise


if __name__ == "__main__":
    main()
