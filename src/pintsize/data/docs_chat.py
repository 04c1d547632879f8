"""Chat and preference data that needs no download, for the demo's SFT and DPO stages.

Made from the Python standard library's docstrings: the user asks what a function does, the
assistant says which module it is in and answers with its documentation, plus short drills on
made-up names that teach it to read the module off the question (SFT); the preferred
answer is the one about the function asked about and the rejected one is about another function
(DPO). Real, licence-clean text, small enough for a CPU demo; a real run points [sft]/[dpo] at
real chat data instead. A few functions are left out of both, for the demo's eval.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import zlib
from pathlib import Path

from pintsize.artifacts import atomic_write_text
from pintsize.data.pydoc_corpus import default_cache_path

QUESTIONS = (
    "What does `{name}` do in Python?",
    "Explain the Python function `{name}{sig}`.",
    "How do I use `{name}`?",
    "Can you describe `{name}{sig}` from the standard library?",
)
FOLLOW_UP = "Which module is it in?"

# Functions kept out of the built-in chat and preference data, so that the demo can ask its model
# about functions it never saw answered (pintsize.eval.docs_questions): some that users often ask
# about, and a fixed pseudo-random ~5% of the rest.
HELD_OUT = ("json.dumps", "shutil.copytree", "re.findall", "os.walk", "subprocess.run", "tempfile.mkdtemp", "glob.glob",
            "time.sleep")


def held_out(name: str) -> bool:
    return name in HELD_OUT or zlib.crc32(name.encode()) % 16 == 0


def held_out_functions() -> list[dict]:
    """The documented functions of `function_docs` that the built-in SFT and DPO data never show."""
    return [f for f in function_docs() if held_out(f["name"])]


def trained_functions() -> list[dict]:
    return [f for f in function_docs() if not held_out(f["name"])]


def function_docs() -> list[dict]:
    """[{"name": "bisect.insort_right", "sig": "(a, x, lo=0, ...)", "doc": "..."}], cached like the pydoc corpus."""
    path = default_cache_path().with_name(default_cache_path().stem + "-functions.jsonl")
    if not (path.is_file() and path.stat().st_size > 0):
        out = subprocess.run(
            [sys.executable, "-c", "from pintsize.data.docs_chat import _render; _render()"],
            capture_output=True, text=True, check=True, env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
        atomic_write_text(path, out.stdout)
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _answer(doc: str, max_chars: int = 700) -> str:
    paragraphs = doc.split("\n\n")
    answer = paragraphs[0]
    for p in paragraphs[1:]:
        if len(answer) + len(p) > max_chars:
            break
        answer += "\n\n" + p
    return answer


def reply(f: dict) -> str:
    """The assistant's answer about function `f`: which function of which module it is, then its
    documentation. Saying what it answers about is what lets a tiny model show that it read the
    question (docstrings alone rarely name their module: the demo's model once gave one answer
    to every question)."""
    module = f["name"].rsplit(".", 1)[0]
    return f"`{f['name']}` is in the `{module}` module. {_answer(f['doc'])}"


def sft_conversations(n: int, seed: int = 0) -> list[dict]:
    """Up to `n` conversations in the `messages` format, in a shuffled order: two thirds about
    documented functions (about a third of those with a second turn), one third `module_drills`."""
    rng = random.Random(seed)
    docs = function_docs()
    funcs = [f for f in docs if not held_out(f["name"])]
    drill_names = _drill_parts(funcs)
    rng.shuffle(funcs)
    convs = []
    for f in funcs[:n]:
        q = rng.choice(QUESTIONS).format(name=f["name"], sig=f["sig"])
        msgs = [{"role": "user", "content": q}, {"role": "assistant", "content": reply(f)}]
        if rng.random() < 0.33:
            module = f["name"].rsplit(".", 1)[0]
            msgs += [{"role": "user", "content": FOLLOW_UP}, {"role": "assistant", "content": f"It is in the `{module}` module."}]
        convs.append({"messages": msgs})
    convs += module_drills(len(convs) // 2, rng, *drill_names, real={f["name"] for f in docs})
    rng.shuffle(convs)
    return convs[:n]


def _drill_parts(funcs: list[dict]) -> tuple[list[str], list[str]]:
    """The modules and the function names (after the last dot) of `funcs`, sorted."""
    parts = [f["name"].rsplit(".", 1) for f in funcs]
    return sorted({module for module, _ in parts}), sorted({base for _, base in parts})


def module_drills(n: int, rng: random.Random, modules: list[str], basenames: list[str], real: set[str]) -> list[dict]:
    """`n` short conversations about made-up dotted names (one of `modules` joined to one of
    `basenames`, never a name in `real`): which module would it be in? No answer can be
    remembered, so the only way to get them right is to copy the part of the name in the question
    before its last dot, the skill the held-out questions test. This is what taught the demo's tiny
    model to read the question: without them 13 (6 epochs) or 24 (6 epochs at a higher learning
    rate) of the 58 held-out questions got an answer naming their module, with them 43
    (benchmarks/RESULTS.md, the demo). The answer says "would be" and why, so that it states no
    false fact about the standard library."""
    out = []
    while len(out) < n:
        module, base = rng.choice(modules), rng.choice(basenames)
        name = f"{module}.{base}"
        if name in real:
            continue
        q = rng.choice(QUESTIONS).format(name=name, sig="(...)")
        a = f"`{name}` would be in the `{module}` module: the part of a dotted name before the last dot names its module."
        out.append({"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]})
    return out


def preference_pairs(n: int, seed: int = 1) -> list[dict]:
    """Up to `n` pairs {"prompt", "chosen", "rejected"} (strings): the answer about the function
    asked about vs the answer about another function (`reply`). Chosen and rejected answers come
    from two disjoint halves of the functions, so no answer is preferred in one pair and rejected
    in another (which would teach the model to memorize answers rather than to match them to the
    question)."""
    rng = random.Random(seed)
    funcs = trained_functions()
    rng.shuffle(funcs)
    half = len(funcs) // 2
    asked, wrong = funcs[:half], funcs[half:]
    pairs = []
    for f, other in zip(asked[:n], wrong):
        chosen, rejected = reply(f), reply(other)
        if chosen != rejected:
            q = rng.choice(QUESTIONS).format(name=f["name"], sig=f["sig"])
            pairs.append({"prompt": q, "chosen": chosen, "rejected": rejected})
    return pairs


def write_jsonl(records: list[dict], path: str | Path) -> Path:
    return atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))


def _render() -> None:
    """Child-process entry point: one JSON line per documented public stdlib function."""
    import contextlib
    import importlib
    import inspect
    import io

    from pintsize.data.pydoc_corpus import _module_names

    seen = set()
    for modname in _module_names():
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                mod = importlib.import_module(modname)
        except BaseException:  # noqa: BLE001 - some modules raise SystemExit on import
            continue
        for name, obj in list(vars(mod).items()):
            if name.startswith("_") or not (inspect.isfunction(obj) or inspect.isbuiltin(obj)):
                continue
            if getattr(obj, "__module__", None) != modname or id(obj) in seen:
                continue  # re-exports: document each function once, under its home module
            seen.add(id(obj))
            doc = inspect.getdoc(obj)
            if not doc or len(doc) < 80:
                continue
            try:
                sig = str(inspect.signature(obj))
            except (TypeError, ValueError):
                sig = "(...)"
            rec = {"name": f"{modname}.{name}", "sig": sig, "doc": doc}
            sys.stdout.write(json.dumps(rec, ensure_ascii=False) + "\n")
