"""How `--help` reads: commands in pipeline order, arguments in capitals without Typer's braces, no
type tags on flags and repeatable options, and paragraphs that wrap as sentences.

Typer (0.29) writes `Usage: pintsize curate [OPTIONS] {recipe}`, tags every flag `<bool>` and
every repeatable option `<list[str]>`, and keeps a docstring's single line breaks, which breaks a
sentence in the middle wherever the source wrapped it. The command and group classes here say it
the classic way; `tidy(app)` puts them on every command of the app.
"""

from __future__ import annotations

import re

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

# The top-level commands, in the order a run goes through them; then using and inspecting the result.
PANELS: dict[str, tuple[str, ...]] = {
    "The whole run": ("run", "recipe", "report"),
    "Stages, in pipeline order": (
        "quality", "review", "curate", "tokenizer", "pack", "import", "pretrain", "prune", "distill", "sft", "dpo", "eval", "export",
    ),
    "Use the model": ("generate", "chat", "serve"),
    "Inspect and compare": ("artifact", "model", "ablate"),
}
ORDER = [name for names in PANELS.values() for name in names]


def joined(text: str | None) -> str | None:
    """Help text with the single line breaks inside each paragraph made spaces (a paragraph whose
    lines are indented or start with a list marker, or one marked with \\b, keeps its lines)."""
    if not text:
        return text
    paragraphs = []
    for p in text.split("\n\n"):
        lines = p.split("\n")
        keep = p.startswith("\b") or any(re.match(r"\s+\S|[-*] ", line) for line in lines[1:])
        paragraphs.append(p if keep else " ".join(line.strip() for line in lines))
    return "\n\n".join(paragraphs)


def _classic(params: list) -> list:
    for p in params:
        if isinstance(p, TyperOption) and p.metavar is None:
            if p.is_flag:
                p.metavar = ""  # a flag takes no value: no type to show
            elif p.multiple:
                p.metavar = _element(p) + "..."  # given once or more
        elif isinstance(p, TyperArgument) and p.nargs != 1:
            label = _element(p)  # the name column already says "tokenizers..."
            p.display_type_rich = lambda ctx, label=label: label
    return params


def _element(p) -> str:
    """`<path>` for a list[Path] parameter."""
    return re.sub(r"^list\[(.*)\]$", r"<\1>", p.bare_type()).lower()


class Command(TyperCommand):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.help = joined(self.help)

    def get_params(self, ctx):  # --help is made here, not in __init__
        return _classic(super().get_params(ctx))

    def collect_usage_pieces(self, ctx) -> list[str]:
        """`[OPTIONS] RECIPE`, not Typer's `[OPTIONS] {recipe}`."""
        pieces = [self.options_metavar] if self.options_metavar else []
        for p in self.get_params(ctx):
            if isinstance(p, TyperArgument):
                name = (p.metavar or p.name).upper() + ("..." if p.nargs != 1 else "")
                pieces.append(name if p.required else f"[{name}]")
            else:
                pieces.extend(p.get_usage_pieces(ctx))
        return pieces


class Group(TyperGroup):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.help = joined(self.help)

    def get_params(self, ctx):
        return _classic(super().get_params(ctx))

    def list_commands(self, ctx) -> list[str]:
        names = super().list_commands(ctx)
        return sorted(names, key=lambda n: ORDER.index(n) if n in ORDER else len(ORDER))


def _default(cls, typer_class: type) -> bool:
    """Whether a command's class is Typer's own (or unset: a placeholder), not one a command chose."""
    return not isinstance(cls, type) or cls is typer_class


def tidy(app: typer.Typer, top: bool = True) -> None:
    """Put the classes above on every command and group of `app`, and the top-level commands in
    their panels (call it once every command is registered)."""
    panel_of = {name: panel for panel, names in PANELS.items() for name in names}
    if _default(app.info.cls, TyperGroup):
        app.info.cls = Group
    for info in app.registered_commands:
        if _default(info.cls, TyperCommand):
            info.cls = Command
        if top:
            info.rich_help_panel = info.rich_help_panel or panel_of.get(info.name)
    for info in app.registered_groups:
        if _default(info.cls, TyperGroup):
            info.cls = Group
        if top:
            info.rich_help_panel = info.rich_help_panel or panel_of.get(info.name)
        tidy(info.typer_instance, top=False)
