"""Every command of the CLI against a catalogue of bad input: one clear line, never a traceback.

The commands are read from the Typer app itself, so a new command (or a new option of an old one)
fails `test_every_command_and_option_is_in_the_catalogue` until it says here what kind of
argument each of its parameters is. Each kind has its bad values (missing, empty, binary,
truncated, wrong-format and symlink-loop files, paths through a missing folder with `..`; zero,
negative, huge, non-finite and non-numeric numbers; unknown choices, repeated names), and every
command is run against the bad values of each of its parameters, the others left valid.

A case passes when the command ran through `pintsize.cli.main` (the real entry point, in this
process) and
  - raised nothing but SystemExit, and printed no traceback;
  - exited 2 (a usage error: Typer's own or a PintsizeError), or, for the few values a command
    may accept (a truncated JSONL keeps the records before the damage), exited 0;
  - on failure, said which argument: its option name, its metavar or the bad value itself;
  - left nothing at any output path it was given.
Commands run on tiny inputs made once per session (a 512-token BPE, a 2-layer model of 32
channels); `uvicorn.run` is stubbed, so that a server whose options were accepted returns.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import pytest
from typer.testing import CliRunner
from curate.fake_judge import FakeJudgeServer
from toml_writer import write_toml

BINARY = bytes((i * 167 + 13) % 256 for i in range(4096))  # NULs, invalid UTF-8, every byte value
HUGE = "1" + "0" * 30  # beyond int64 and float precision
TRACEBACK = "Traceback (most recent call last)"


# ---------------------------------------------------------------- the world: valid tiny inputs


@dataclass
class World:
    root: Path
    paths: dict[str, Path] = field(default_factory=dict)
    judge_url: str = ""  # an HTTP server that answers every request with 404: reachable, and no judge
    scoring_judge_url: str = ""  # a judge that gives every document a score (with logprobs)

    def __getitem__(self, key: str) -> Path:
        return self.paths[key]


def _jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def _train(**extra) -> dict:
    return dict(seq_len=32, micro_batch_size=2, global_batch_tokens=64, max_steps=1, precision="fp32", ckpt_every=1,
                val_every=1, val_tokens=64, log_every=1, optimizer=dict(lr=1e-3, min_lr=1e-4, warmup_steps=0), **extra)


MT_BENCH_PROMPTS = [
    {"name": name, "system_prompt": "You are a judge.", "prompt_template": template}
    for name, template in [
        ("single-v1", "{question} {answer} Rate it [[1-10]]."),
        ("single-v1-multi-turn", "{question_1} {answer_1} {question_2} {answer_2} Rate it."),
        ("single-math-v1", "{question} {answer} {ref_answer_1} Rate it."),
        ("single-math-v1-multi-turn", "{question_1} {answer_1} {question_2} {answer_2} {ref_answer_1} {ref_answer_2} Rate it."),
    ]
]


def user_task_yaml(path: Path, data: Path, name: str = "sweep_yes_no", **fields) -> Path:
    """A two-choice lm-eval task reading a local JSONL file; `fields` replace its template fields."""
    f = {"output_type": "multiple_choice", "doc_to_text": '"Q: {{question}}\\nA:"', "doc_to_target": '"{{gold}}"'} | fields
    path.write_text(
        f"task: {name}\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    test: {data}\n"
        f"output_type: {f['output_type']}\ntest_split: test\ndoc_to_text: {f['doc_to_text']}\n"
        f"doc_to_target: {f['doc_to_target']}\ndoc_to_choice: [\" yes\", \" no\"]\n"
        "metric_list:\n  - metric: acc\n    aggregation: mean\n    higher_is_better: true\n"
    )
    return path


@pytest.fixture(scope="session")
def world(tmp_path_factory) -> Iterator[World]:
    """Tiny, valid inputs for every kind of argument (about 10 s on 2 cores)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    import torch

    from pintsize.artifacts import ArtifactWriter
    from pintsize.curate.quality import train_quality_model
    from pintsize.data.config import PackConfig
    from pintsize.data.pack import pack_corpus
    from pintsize.data.pydoc_corpus import pydoc_documents
    from pintsize.model.checkpoint import save_model
    from pintsize.model.config import ModelConfig
    from pintsize.model.gguf import export_gguf
    from pintsize.model.hf import export_hf
    from pintsize.model.llama import Llama
    from pintsize.review.config import QueueConfig
    from pintsize.review.enqueue import enqueue
    from pintsize.review.labeling import save_label
    from pintsize.review.reviewers import add_reviewer
    from pintsize.review.storage import ReviewDB
    from pintsize.tokenizer import TokenizerInfo, build_tokenizer
    from pintsize.tokenizer.config import TokenizerConfig

    root = tmp_path_factory.mktemp("world")
    w = World(root)
    p = w.paths
    docs = pydoc_documents(limit=30)
    chatty = [f"hey!! lol {i} so cool, call me at 555-01{i:02d} ok??? bye bye" * 3 for i in range(30)]
    p["corpus"] = _jsonl(root / "corpus.jsonl", [{"text": d["text"][:3000], "source": "ab"[i % 2]} for i, d in enumerate(docs)])
    p["chatty"] = _jsonl(root / "chatty.jsonl", [{"text": t} for t in chatty])
    p["tokenizer"] = Path(build_tokenizer(TokenizerConfig(kind="train", vocab_size=512), p["corpus"], root / "tokenizer"))
    cfg = ModelConfig(name="sweep-tiny", vocab_size=TokenizerInfo.read(p["tokenizer"]).vocab_size, n_layer=2, d_model=32,
                      n_head=2, n_kv_head=1, d_ff=64, block_size=256)
    torch.manual_seed(0)
    p["model"] = Path(save_model(Llama(cfg), cfg, root / "model", tokenizer_dir=p["tokenizer"]))
    p["run"] = root / "run"  # a run directory for `report`, with one finished stage
    p["shards"] = Path(pack_corpus(p["corpus"], p["tokenizer"], p["run"] / "pack", PackConfig(val_fraction=0.2), workers=1, progress=False))
    p["gguf"] = Path(export_gguf(p["model"], root / "model.gguf", dtype="float32"))
    p["hf"] = Path(export_hf(p["model"], root / "hf"))
    p["quality_model"] = root / "quality"
    train_quality_model([p["corpus"]], [p["chatty"]], [], p["quality_model"], test_fraction=0.2)
    p["labels"] = _jsonl(root / "labels.jsonl", [{"text": d["text"][:500], "label": 1} for d in docs[:5]]
                         + [{"text": t, "label": 0} for t in chatty[:5]])
    with ArtifactWriter(root / "corpus-artifact", "curate", {"test": "sweep"}) as art:
        (art.dir / "data").mkdir()
        records = docs[:10]
        pq.write_table(pa.table({
            "id": [f"d{i}" for i in range(len(records))], "text": [d["text"] for d in records],
            "source": ["ab"[i % 2] for i in range(len(records))], "meta": ["{}"] * len(records),
            "quality_score": np.linspace(0, 1, len(records)),
        }), art.dir / "data" / "part-00000.parquet")
    p["corpus_artifact"] = root / "corpus-artifact"
    p["db"] = root / "review.sqlite"
    db = ReviewDB(p["db"])
    enqueue(db, p["corpus_artifact"], QueueConfig(strategy="random", size=10, seed=1))
    add_reviewer(db, "alice")
    with db.read() as conn:
        doc_ids = [row[0] for row in conn.execute("SELECT id FROM documents")]
    for i, doc_id in enumerate(doc_ids):  # labels, so that `review curve` and `export` have work to do
        save_label(db, "alice", doc_id, i % 2, 3)
    p["chat"] = _jsonl(root / "chat.jsonl", [{"messages": [{"role": "user", "content": f"What is {i}?"},
                                                           {"role": "assistant", "content": f"It is {i}."}]} for i in range(8)])
    p["pairs"] = _jsonl(root / "pairs.jsonl", [{"prompt": f"Say {i}.", "chosen": f"{i}.", "rejected": "No."} for i in range(8)])
    tiny = {"name": "tiny", "n_layer": 2, "d_model": 32, "n_head": 2, "n_kv_head": 1, "d_ff": 64, "block_size": 64}
    base = {
        "run": {"name": "sweep", "out_dir": str(p["run"])},
        "data.sources": [{"name": "docs", "path": str(p["corpus"])}],
        "tokenizer": {"kind": "train", "vocab_size": 512},
        "model": tiny,
        "pretrain": _train(),
        "sft": _train(data=[str(p["chat"])]),
        "dpo": _train(data=[str(p["pairs"])]),
    }
    p["recipe"] = write_toml(root / "recipe.toml", base)
    p["distill_recipe"] = write_toml(root / "distill.toml", {**{k: v for k, v in base.items() if k != "pretrain"},
                                                              "distill": _train(teacher=str(p["model"]), student=str(p["model"]))})
    tasks = root / "tasks"
    tasks.mkdir()
    p["task_data"] = _jsonl(tasks / "items.jsonl", [{"question": q, "gold": g} for q, g in [("Is water wet?", 0), ("Is fire cold?", 1)]])
    p["task"] = user_task_yaml(tasks / "yes_no.yaml", p["task_data"])
    mt = root / "eval-data" / "mt_bench"
    (mt / "reference_answer").mkdir(parents=True)
    _jsonl(mt / "question.jsonl", [{"question_id": 81, "category": "writing", "turns": ["Say hi.", "Say bye."]}])
    _jsonl(mt / "judge_prompts.jsonl", MT_BENCH_PROMPTS)
    _jsonl(mt / "reference_answer" / "gpt-4.jsonl", [{"question_id": 81, "choices": [{"turns": ["hi", "bye"]}]}])
    p["eval_data"] = mt.parent
    p["annotation"] = root / "annotation"
    p["annotation"].mkdir()
    _jsonl(p["annotation"] / "labels.jsonl", [{"id": "d1", "score": 3, "label": 1}])
    scoring_judge = FakeJudgeServer(logprobs=True)
    w.scoring_judge_url = scoring_judge.url
    try:
        with _not_found_server() as w.judge_url:
            yield w
    finally:
        scoring_judge.close()


@contextmanager
def _not_found_server():
    """A loopback HTTP server answering 404 to everything: an endpoint that is there but is no judge."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class NotFound(BaseHTTPRequestHandler):
        def _answer(self):
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            body = b'{"error": {"message": "no such route", "type": "not_found"}}'
            self.send_response(404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------- kinds of arguments and their bad values


@dataclass(frozen=True)
class Bad:
    """A bad value: `make(case_dir, world)` returns it (a string, or a list of strings for a
    list-valued parameter). `accept`: the command may also succeed with it (exit 0)."""

    name: str
    make: Callable[[Path, World], str | list[str]]
    accept: bool = False


@dataclass(frozen=True)
class Kind:
    """What an argument is: `valid` (a valid value, for required arguments and bases), its bad
    values, and whether it names an output (which must not exist after a failed run)."""

    valid: Callable[[Path, World], str | list[str]] | None = None
    bad: tuple[Bad, ...] = ()
    output: bool = False
    always: bool = False  # passed even where optional (the review database: its default is ./review.sqlite)


def _value(v: str) -> Callable[[Path, World], str]:
    return lambda case, w: v


def _numbers(*values: str) -> tuple[Bad, ...]:
    names = {"0": "zero", "-3": "negative", "-1": "negative", "-0.5": "negative", HUGE: "huge", "nan": "nan", "inf": "inf",
             "abc": "not_a_number", "1.5": "above_one", "70000": "above_65535"}
    return tuple(Bad(names[v], _value(v)) for v in values)


COUNT = Kind(bad=_numbers("0", "-3", HUGE, "abc"))  # a whole number >= 1
COUNT0 = Kind(bad=_numbers("-3", HUGE, "abc"))  # a whole number >= 0
SEED = Kind(bad=_numbers("-1", HUGE, "abc"))
PORT = Kind(bad=_numbers("-1", "70000", "abc"))
POSITIVE = Kind(bad=_numbers("0", "-1", "nan", "inf", "abc"))  # a real number > 0
NONNEGATIVE = Kind(bad=_numbers("-1", "nan", "inf", "abc"))  # a real number >= 0
FRACTION = Kind(bad=_numbers("-0.5", "1.5", "nan", "abc"))  # a share in [0, 1]
ENUM = Kind(bad=(Bad("unknown_choice", _value("bogus")),))
FREE = Kind()  # any string is a valid value (a prompt, a host name, a model name at an endpoint)
FLAG = Kind()


def _write(case: Path, name: str, data: bytes) -> str:
    path = case / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return str(path)


def _loop(case: Path, w: World) -> str:
    link = case / "loop"
    os.symlink("loop", link)
    return str(link)


def file_kind(sample: str, suffix: str, wrong_format: Callable[[Path, World], str], *, accept_truncated: bool = False,
              extra: tuple[Bad, ...] = ()) -> Kind:
    """An input file: the world's `sample` is the valid value; the bad values are made from it."""
    src = lambda w: w[sample]  # noqa: E731
    return Kind(
        valid=lambda case, w: str(src(w)),
        bad=(
            Bad("missing", lambda case, w: str(case / f"missing{suffix}")),
            Bad("empty", lambda case, w: _write(case, f"empty{suffix}", b"")),
            Bad("binary", lambda case, w: _write(case, f"binary{suffix}", BINARY)),
            Bad("truncated", lambda case, w: _write(case, f"cut{suffix}", src(w).read_bytes()[: src(w).stat().st_size // 2]),
                accept=accept_truncated),
            Bad("wrong_format", wrong_format),
            Bad("symlink_loop", _loop),
            Bad("dotdot_through_missing_folder", lambda case, w: str(src(w).parent / "nowhere" / ".." / src(w).name)),
            *extra,
        ),
    )


def dir_kind(sample: str, main: tuple[str, ...], wrong_format: Callable[[Path, World], str], *,
             accept_empty: bool = False, extra: tuple[Bad, ...] = ()) -> Kind:
    """An input folder: binary and truncated copies have their `main` files replaced or cut."""

    def corrupt(name: str, how: Callable[[bytes], bytes]):
        def make(case: Path, w: World) -> str:
            dst = case / name
            shutil.copytree(w[sample], dst, symlinks=True)
            for m in main:
                (dst / m).write_bytes(how((dst / m).read_bytes()))
            return str(dst)

        return make

    def empty(case: Path, w: World) -> str:
        (case / "empty").mkdir()
        return str(case / "empty")

    return Kind(
        valid=lambda case, w: str(w[sample]),
        bad=(
            Bad("missing", lambda case, w: str(case / "missing")),
            Bad("empty", empty, accept=accept_empty),
            *((Bad("binary", corrupt("binary", lambda b: BINARY)), Bad("truncated", corrupt("cut", lambda b: b[: len(b) // 2])))
              if main else ()),  # a folder with no file of its own to damage
            Bad("wrong_format", wrong_format),
            Bad("a_file_not_a_folder", lambda case, w: _write(case, "a-file", b"not a folder\n")),
            Bad("symlink_loop", _loop),
            Bad("dotdot_through_missing_folder", lambda case, w: str(w[sample].parent / "nowhere" / ".." / w[sample].name)),
            *extra,
        ),
    )


def _text(name: str, text: str) -> Callable[[Path, World], str]:
    return lambda case, w: _write(case, name, text.encode())


def _copy(key: str) -> Callable[[Path, World], str]:
    return lambda case, w: str(w[key])


RECIPE = file_kind("recipe", ".toml", _text("recipe.toml", '{"run": {"name": "json, not toml"}}\n'))
DISTILL_RECIPE = file_kind("distill_recipe", ".toml", _text("recipe.toml", '{"run": {"name": "json, not toml"}}\n'))
MODEL = dir_kind("model", ("model_config.json", "model.safetensors"), _copy("shards"))
TOKENIZER = dir_kind("tokenizer", ("tokenizer.json",), _copy("shards"))
CORPUS = file_kind("corpus", ".jsonl", _text("corpus.jsonl", "[run]\nname = 'toml, not JSON lines'\n"), accept_truncated=True)
CALIBRATION = file_kind("corpus", ".jsonl", _text("corpus.jsonl", "[run]\nname = 'toml, not JSON lines'\n"), accept_truncated=True)
CORPUS_ARTIFACT = dir_kind("corpus_artifact", ("data/part-00000.parquet",), _copy("shards"))
SHARDS = dir_kind("shards", ("meta.json",), _copy("tokenizer"))
GGUF = file_kind("gguf", ".gguf", lambda case, w: _write(case, "model.gguf", (w["model"] / "model.safetensors").read_bytes()), extra=(
    Bad("cut_after_magic", lambda case, w: _write(case, "cut.gguf", w["gguf"].read_bytes()[:4])),
    Bad("cut_in_metadata", lambda case, w: _write(case, "cut.gguf", w["gguf"].read_bytes()[:2000])),
))
HF_DIR = dir_kind("hf", ("config.json", "model.safetensors"), _copy("shards"))
QUALITY_MODEL = dir_kind("quality_model", ("quality_model.json", "weights.npz"), _copy("shards"))
LABELS = file_kind("labels", ".jsonl", _text("labels.jsonl", json.dumps({"text": "no label field"}) + "\n"))
# A database is written by the commands that read it: each case gets its own copy.
DB = dataclasses.replace(file_kind("db", ".sqlite", _text("review.sqlite", "plain text, not SQLite\n")), always=True,
                         valid=lambda case, w: str(shutil.copy(w["db"], case / "review-copy.sqlite")))
# serve, queue and add-reviewer start a database where there is none (an empty file is an empty SQLite database)
NEW_DB = dataclasses.replace(DB, valid=lambda case, w: str(case / "new.sqlite"),
                             bad=tuple(dataclasses.replace(b, accept=b.name in ("missing", "empty")) for b in DB.bad))
ANNOTATION = dir_kind("annotation", ("labels.jsonl",), _copy("shards"))
EVAL_DATA = dir_kind("eval_data", ("mt_bench/question.jsonl",), _copy("shards"))
# The harness reads the eval data folder only for pintsize's own tasks: a damaged MT-Bench file in it is no concern.
HARNESS_DATA = Kind(bad=tuple(b for b in EVAL_DATA.bad if b.name in ("missing", "a_file_not_a_folder", "symlink_loop",
                                                                     "dotdot_through_missing_folder")))
ARTIFACT = dir_kind("shards", ("manifest.json",), _copy("corpus"))
RUN_DIR = dir_kind("run", (), _copy("corpus"), accept_empty=True)
INCLUDE_PATH = Kind(bad=(
    Bad("missing", lambda case, w: str(case / "missing")),
    Bad("a_file_not_a_folder", lambda case, w: _write(case, "a-file.yaml", b"task: x\n")),
    Bad("symlink_loop", _loop),
))


def _task(**fields) -> Callable[[Path, World], str]:
    return lambda case, w: str(user_task_yaml(case / "task.yaml", w["task_data"], **fields))


def _task_with_data(data: bytes) -> Callable[[Path, World], str]:
    return lambda case, w: str(user_task_yaml(case / "task.yaml", Path(_write(case, "items.jsonl", data))))


TASK = file_kind("task", ".yaml", _text("task.yaml", "[not yaml: {"), extra=(
    Bad("task_path_without_yaml_suffix", lambda case, w: str(case / "tasks" / "nowhere")),
    Bad("data_file_missing", lambda case, w: str(user_task_yaml(case / "task.yaml", case / "missing.jsonl"))),
    Bad("data_not_json", _task_with_data(b"this is not JSON\n")),
    Bad("unknown_template_field", _task(doc_to_text='"Q: {{questoin}}\\nA:"')),
    Bad("bad_output_type", _task(output_type="multiple_choyce")),
    Bad("gold_index_out_of_range", _task(doc_to_target='"{{gold + 5}}"')),
))


def _out(name: str) -> Kind:
    return Kind(valid=lambda case, w: str(case / name), output=True,
                bad=(Bad("parent_is_a_file", lambda case, w: str(Path(_write(case, "a-file", b"x\n")) / name)),))


OUT_DIR, OUT_FILE = _out("out"), _out("out.json")
DRY_RUN_OUT = dataclasses.replace(OUT_DIR, bad=tuple(dataclasses.replace(b, accept=True) for b in OUT_DIR.bad))  # a plan writes nothing
DEVICE = Kind(bad=(Bad("unknown_device", _value("bogus")),))
NAMED_CONFIG = Kind(valid=_value("tiny"), bad=(Bad("unknown_choice", _value("bogus")),))
PRUNE_TARGET = Kind(valid=_value("n_layer=1"), bad=(
    *(Bad(f"{k}_zero", _value(f"{k}=0")) for k in ("n_kv_head", "n_layer", "d_ff", "n_head", "d_model")),
    Bad("negative_count", _value("-5M")), Bad("nan_count", _value("nanM")), Bad("unknown_config", _value("bogus")),
))
CATEGORY = Kind(valid=lambda case, w: [f"a={w['corpus']}", f"b={w['chatty']}"], bad=(
    Bad("repeated_name", lambda case, w: [f"a={w['corpus']}", f"a={w['chatty']}"]),
    Bad("no_equals_sign", lambda case, w: [str(w["corpus"]), f"b={w['chatty']}"]),
    Bad("missing_folder", lambda case, w: [f"a={case / 'missing'}", f"b={w['chatty']}"]),
    Bad("empty_name", lambda case, w: [f"={w['corpus']}", f"b={w['chatty']}"]),
))
TOKENIZER_LIST = Kind(valid=lambda case, w: [str(w["tokenizer"])], bad=(
    *TOKENIZER.bad, Bad("repeated", lambda case, w: [str(w["tokenizer"]), str(w["tokenizer"])]),
))
STAGES = Kind(bad=(Bad("unknown_stage", _value("bogus")),))
VARIANTS = Kind(bad=(Bad("unknown_variant", _value("bogus")), Bad("repeated", _value("curated,curated"))))
LENGTHS = Kind(bad=(Bad("not_a_number", _value("abc")), Bad("negative", _value("-5")), Bad("zero", _value("0")),
                    Bad("huge", _value(HUGE))))
SEEDS = Kind(bad=(Bad("not_a_number", _value("abc")), Bad("negative", _value("-5")), Bad("huge", _value(HUGE)),
                  Bad("repeated", _value("1,1"))))
URL = Kind(valid=lambda case, w: w.judge_url, bad=(Bad("not_a_url", _value("not a url")),))
JUDGE = dataclasses.replace(URL, valid=lambda case, w: w.scoring_judge_url)  # a bad corpus must fail, not the judge
REVIEWER = Kind(valid=_value("alice"), bad=(Bad("path_like_name", _value("../alice")), Bad("empty", _value(""))))
POS_NEG = Kind(bad=(
    Bad("missing", lambda case, w: str(case / "missing.jsonl")),
    Bad("binary", lambda case, w: _write(case, "binary.jsonl", BINARY)),
    Bad("symlink_loop", _loop),
))


@dataclass(frozen=True)
class Spec:
    """A command's parameters by name: their kinds, and base values for optional ones that keep a
    case cheap (`--device cpu`, `--limit 1`)."""

    params: dict[str, Kind]
    base: dict[str, Callable[[Path, World], str | list[str]] | str | list[str]] = field(default_factory=dict)


CPU = {"device": "cpu"}
THRESHOLD_STRATEGY = {"strategy": "threshold", "size": "3"}  # the strategy that reads --quality-model
MODEL_GEN = {"model": MODEL, "max_new_tokens": COUNT, "temperature": NONNEGATIVE, "top_k": COUNT0, "top_p": FRACTION,
             "repetition_penalty": POSITIVE, "seed": SEED, "device": DEVICE}

SPECS: dict[str, Spec] = {
    "recipe check": Spec({"file": RECIPE}),
    "model info": Spec({"name": NAMED_CONFIG, "vocab_size": COUNT, "as_json": FLAG}),
    "artifact lineage": Spec({"path": ARTIFACT}),
    "export hf": Spec({"ckpt": MODEL, "out": OUT_DIR, "dtype": ENUM}),
    "export gguf": Spec({"model": MODEL, "out": _out("out.gguf"), "dtype": ENUM}),
    "import hf": Spec({"hf_dir": HF_DIR, "out": OUT_DIR}),
    "import gguf": Spec({"file": GGUF, "out": OUT_DIR}),
    "prune": Spec({"model": MODEL, "out": OUT_DIR, "target": PRUNE_TARGET, "calibration": CALIBRATION, "calib_tokens": COUNT,
                   "seq_len": COUNT, "depth_score": ENUM}, {"calib_tokens": "256", "seq_len": "32"}),
    "tokenizer pints": Spec({"out": OUT_DIR}),
    "tokenizer train": Spec({"corpus": CORPUS, "out": OUT_DIR, "vocab": COUNT, "max_docs_per_source": COUNT}, {"vocab": "384"}),
    "tokenizer compare": Spec({"tokenizers": TOKENIZER_LIST, "corpus": CORPUS, "out": OUT_DIR, "max_docs_per_source": COUNT},
                              {"max_docs_per_source": "5"}),
    "tokenizer infer-mixture": Spec({"tokenizer": TOKENIZER, "category": CATEGORY, "merges": COUNT, "sample_bytes": COUNT,
                                     "bootstrap": COUNT0, "out": OUT_DIR},
                                    {"bootstrap": "0", "merges": "20", "sample_bytes": "20000"}),
    "tokenizer transfer": Spec({"model": MODEL, "new_tokenizer": TOKENIZER, "out": OUT_DIR, "init": ENUM, "corpus": CORPUS,
                                "fallback": ENUM, "seed": SEED}),
    "tokenizer extend": Spec({"tokenizer": TOKENIZER, "corpus": CORPUS, "out": OUT_DIR, "add": COUNT,
                              "max_docs_per_source": COUNT}, {"add": "8", "max_docs_per_source": "5"}),
    "pack": Spec({"corpus": CORPUS, "out": OUT_DIR, "tokenizer": TOKENIZER, "val_fraction": FRACTION, "seed": SEED,
                  "shard_tokens": COUNT, "workers": COUNT}, {"workers": "1"}),
    "curate": Spec({"recipe": RECIPE, "executor": ENUM, "address": FREE, "out": OUT_DIR, "workers": COUNT},
                   {"workers": "1", "out": OUT_DIR.valid}),
    "quality train": Spec({"out": OUT_DIR, "pos": POS_NEG, "neg": POS_NEG, "labels": LABELS, "llm_labels": LABELS,
                           "test_fraction": FRACTION, "seed": SEED, "c": POSITIVE, "base": QUALITY_MODEL,
                           "prior_c": POSITIVE, "features": ENUM},
                          {"pos": lambda case, w: str(w["corpus"]), "neg": lambda case, w: str(w["chatty"])}),
    "quality annotate": Spec({"corpus": CORPUS, "out": OUT_DIR, "judge": JUDGE, "model": FREE, "sample": COUNT,
                              "concurrency": COUNT, "max_retries": COUNT0, "timeout": POSITIVE, "max_chars": COUNT,
                              "scoring": ENUM, "min_labelled": FRACTION, "api_key_env": FREE},
                             {"model": "judge", "max_retries": "0", "timeout": "1", "sample": "2"}),
    "quality label": Spec({"source": CORPUS_ARTIFACT, "out": OUT_DIR, "judge": JUDGE, "model": FREE, "review_db": FREE,
                           "labels": LABELS, "quality_model": QUALITY_MODEL, "rounds": COUNT, "per_round": COUNT,
                           "heldout": COUNT, "seed": SEED, "keep_seeds": FLAG, "pool": COUNT, "concurrency": COUNT,
                           "max_retries": COUNT0, "timeout": POSITIVE, "max_chars": COUNT, "scoring": ENUM,
                           "min_labelled": FRACTION, "api_key_env": FREE, "workers": COUNT},
                          {"judge": JUDGE.valid, "model": "judge", "max_retries": "0", "timeout": "1", "rounds": "1",
                           "per_round": "2", "heldout": "4", "workers": "1"}),
    "quality score": Spec({"model": QUALITY_MODEL, "corpus": CORPUS_ARTIFACT, "out": OUT_DIR}),
    "pretrain": Spec({"recipe_file": RECIPE, "shards": SHARDS, "tokenizer": TOKENIZER, "out": OUT_DIR, "device": DEVICE,
                      "force": FLAG}, {"shards": _copy("shards"), "tokenizer": _copy("tokenizer"), **CPU}),
    "distill": Spec({"recipe_file": DISTILL_RECIPE, "shards": SHARDS, "tokenizer": TOKENIZER, "teacher": MODEL, "student": MODEL,
                     "correct_teacher_steps": COUNT0, "out": OUT_DIR, "device": DEVICE, "force": FLAG},
                    {"shards": _copy("shards"), "tokenizer": _copy("tokenizer"), **CPU}),
    "sft": Spec({"recipe_file": RECIPE, "model": MODEL, "out": OUT_DIR, "device": DEVICE, "force": FLAG},
                {"model": _copy("model"), **CPU}),
    "dpo": Spec({"recipe_file": RECIPE, "model": MODEL, "out": OUT_DIR, "device": DEVICE, "force": FLAG},
                {"model": _copy("model"), **CPU}),
    "generate": Spec({**MODEL_GEN, "prompt": FREE, "chat": FLAG, "stop": FREE},
                     {"prompt": "Hello", "max_new_tokens": "2", **CPU}),
    "chat": Spec({**MODEL_GEN, "system": FREE}, {"max_new_tokens": "2", **CPU}),
    "serve": Spec({"model": MODEL, "host": FREE, "port": PORT, "name": FREE, "max_tokens": COUNT, "max_concurrent": COUNT,
                   "api_key_env": Kind(bad=(Bad("unset_variable", _value("PINTSIZE_SWEEP_UNSET")),)),
                   "max_request_bytes": COUNT, "device": DEVICE}, CPU),
    "run": Spec({"recipe": RECIPE, "dry_run": FLAG, "force": STAGES}, {"dry_run": "true"}),
    "report": Spec({"run_dir": RUN_DIR, "out": _out("report.html")}),
    "ablate": Spec({"recipe": RECIPE, "out": DRY_RUN_OUT, "variants": VARIANTS, "seeds": SEEDS, "dry_run": FLAG},
                   {"dry_run": "true"}),
    "eval perplexity": Spec({"model": MODEL, "data": CORPUS, "max_documents": COUNT, "seq_len": COUNT, "stride": COUNT,
                             "batch_size": COUNT, "device": DEVICE, "out": OUT_FILE}, {"max_documents": "2", **CPU}),
    "eval harness": Spec({"model": MODEL, "tasks": TASK, "include_paths": INCLUDE_PATH, "limit": COUNT, "num_fewshot": COUNT0,
                          "batch_size": COUNT, "data_dir": HARNESS_DATA, "chat_template": FLAG, "bootstrap_iters": COUNT0, "list_tasks": FLAG,
                          "device": DEVICE, "out": OUT_FILE}, {"tasks": _copy("task"), "limit": "1", **CPU}),
    "eval mtbench": Spec({"model": MODEL, "judge_url": URL, "judge_model": FREE, "judge_key_env": FREE,
                          "judge_max_tokens": COUNT, "out": OUT_DIR, "data_dir": EVAL_DATA, "max_new_tokens": COUNT,
                          "parallel": COUNT, "limit": COUNT, "retry_unscored": FLAG, "min_scored": FRACTION, "device": DEVICE},
                         {"judge_model": "judge", "data_dir": _copy("eval_data"), "max_new_tokens": "2", "limit": "1", **CPU}),
    "eval passkey": Spec({"model": MODEL, "lengths": LENGTHS, "trials": COUNT, "seed": SEED, "device": DEVICE, "out": OUT_FILE},
                         {"lengths": "200", "trials": "1", **CPU}),
    "review serve": Spec({"corpus": CORPUS_ARTIFACT, "db_path": NEW_DB, "host": FREE, "port": PORT, "strategy": ENUM, "size": COUNT,
                          "threshold": FRACTION, "score_column": FREE, "quality_model": QUALITY_MODEL,
                          "double_fraction": FRACTION, "seed": SEED, "session_hours": POSITIVE, "lease_minutes": POSITIVE,
                          "max_request_bytes": COUNT, "llm_labels": ANNOTATION}, THRESHOLD_STRATEGY),
    "review queue": Spec({"corpus": CORPUS_ARTIFACT, "db_path": NEW_DB, "strategy": ENUM, "size": COUNT, "threshold": FRACTION,
                          "score_column": FREE, "quality_model": QUALITY_MODEL, "double_fraction": FRACTION, "seed": SEED},
                         THRESHOLD_STRATEGY),
    "review add-reviewer": Spec({"name": REVIEWER, "db_path": NEW_DB, "replace": FLAG}, {"name": "bob"}),
    "review reviewers": Spec({"db_path": DB}),
    "review revoke": Spec({"name": REVIEWER, "db_path": DB}),
    "review export": Spec({"out": OUT_FILE, "db_path": DB, "mode": ENUM}),
    "review stats": Spec({"db_path": DB}),
    "review audit": Spec({"db_path": DB, "reviewer": FREE, "doc_id": FREE, "limit": COUNT}),
    "review curve": Spec({"db_path": DB, "positives": POS_NEG, "negatives": POS_NEG, "points": COUNT, "test_fraction": FRACTION,
                          "threshold": FRACTION, "seed": SEED}),
}


# ---------------------------------------------------------------- the commands, from the Typer app


def _commands() -> dict[str, object]:
    """Every leaf command of the app by its path ("tokenizer train"), as click sees it."""
    import typer.main

    from pintsize.cli import app

    found, stack = {}, [((), typer.main.get_command(app))]
    while stack:
        path, cmd = stack.pop()
        subs = getattr(cmd, "commands", None)
        if subs is None:
            found[" ".join(path)] = cmd
        else:
            stack.extend(((*path, name), sub) for name, sub in subs.items())
    return found


COMMANDS = _commands()


def test_every_command_and_option_is_in_the_catalogue():
    """A new command, or a new parameter of a command, needs an entry here before it can pass."""
    assert len(COMMANDS) > 30
    missing = sorted(set(COMMANDS) - set(SPECS))
    assert not missing, f"commands with no entry in SPECS: {missing}"
    assert not set(SPECS) - set(COMMANDS), f"entries for commands that no longer exist: {sorted(set(SPECS) - set(COMMANDS))}"
    for path, cmd in COMMANDS.items():
        params = {p.name for p in cmd.params if p.name != "help"}
        assert params == set(SPECS[path].params), f"{path}: parameters {sorted(params)} vs catalogued {sorted(SPECS[path].params)}"


def _cases():
    for path, spec in SPECS.items():
        for param, kind in spec.params.items():
            for bad in kind.bad:
                yield pytest.param(path, param, bad, id=f"{path.replace(' ', '-')}:{param}:{bad.name}")


def _resolve(v, case: Path, w: World):
    return v(case, w) if callable(v) else v


def _argv(path: str, spec: Spec, values: dict[str, str | list[str]]) -> list[str]:
    """The command line for `values` (by parameter name), arguments in order, options by their first flag."""
    cmd = COMMANDS[path]
    argv = path.split()
    for p in cmd.params:
        if p.name not in values:
            continue
        v = values[p.name]
        items = v if isinstance(v, list) else [v]
        if p.param_type_name == "argument":
            argv += items
        elif getattr(p, "is_flag", False):
            argv += [p.opts[0]] if str(v).lower() == "true" else []
        else:
            for item in items:
                argv += [p.opts[0], item]
    return argv


@dataclass
class Outcome:
    code: int | None
    output: str
    error: BaseException | None


def _log_to(stream) -> None:
    """Point the logging handlers that a library made during an earlier case (bound to that case's
    captured, now closed, stderr) at this case's: else each record is a "Logging error" traceback."""
    import logging

    for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
        for handler in getattr(logger, "handlers", []):
            if isinstance(handler, logging.StreamHandler) and getattr(handler.stream, "closed", False):
                handler.stream = stream  # not setStream: it flushes the old, closed stream


class Hung(BaseException):  # not an Exception: code that catches those must not swallow it
    pass


def _hung(signum, frame):
    raise Hung(f"still running after {CASE_SECONDS} s")


CASE_SECONDS = 60  # every case takes well under a second or two; a hang becomes a failure, not a stuck suite


def run_main(argv: list[str]) -> Outcome:
    """`pintsize ARGV` through `pintsize.cli.main`, in this process, with empty stdin."""
    from pintsize import cli

    runner = CliRunner()
    code, error = None, None
    with runner.isolation(input="") as (_, _, mixed):
        _log_to(sys.stderr)
        old_argv = sys.argv
        sys.argv = ["pintsize", *argv]
        old_handler = signal.signal(signal.SIGALRM, _hung)
        signal.alarm(CASE_SECONDS)
        try:
            cli.main()
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except BaseException as e:  # noqa: BLE001 - what main lets through is what a user would see as a traceback
            error = e
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, old_handler)
            sys.argv = old_argv
            sys.stdout.flush()
            sys.stderr.flush()
        output = mixed.getvalue().decode("utf-8", "replace")
    return Outcome(code, output, error)


@pytest.fixture(scope="module", autouse=True)
def quiet_servers():
    """`uvicorn.run` returns at once: a server whose bad options were accepted exits 0 (and is
    reported) instead of serving forever. And the app's click commands are built once, not on
    every call (Typer builds them anew each time: 45 ms of the ~60 a rejected value costs)."""
    import typer.main
    import uvicorn

    from pintsize.cli import app

    built = typer.main.get_command(app)
    real = typer.main.get_command
    mp = pytest.MonkeyPatch()
    mp.setattr(typer.main, "get_command", lambda typer_app: built if typer_app is app else real(typer_app))
    mp.setattr(uvicorn, "run", lambda *a, **k: None)
    mp.setenv("OPENAI_API_KEY", "")
    mp.delenv("PINTSIZE_SWEEP_UNSET", raising=False)
    yield
    mp.undo()


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("path,param,bad", list(_cases()))
def test_bad_input_gets_one_clear_line(path, param, bad, world, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a default output (runs/<name>/...) lands in the case's folder
    spec = SPECS[path]
    case = tmp_path
    values: dict[str, str | list[str]] = {}
    required = {p.name for p in COMMANDS[path].params if p.required}
    for name, kind in spec.params.items():
        if name == param:
            values[name] = bad.make(case, world)
        elif name in spec.base:
            values[name] = _resolve(spec.base[name], case, world)
        elif name in required or kind.always:
            values[name] = kind.valid(case, world)
    argv = _argv(path, spec, values)
    outcome = run_main(argv)

    where = f"pintsize {' '.join(argv)}\n--- exit {outcome.code}, output:\n{outcome.output}"
    assert outcome.error is None, f"{type(outcome.error).__name__}: {outcome.error} (a traceback for the user)\n{where}"
    assert TRACEBACK not in outcome.output, where
    if outcome.code == 0:
        assert bad.accept, f"the bad value was accepted\n{where}"
        return
    assert outcome.code == 2, where
    cmd_param = next(p for p in COMMANDS[path].params if p.name == param)
    bad_value = values[param]
    needles = {*getattr(cmd_param, "opts", ()), param, param.upper(), param.replace("_", "-"), (cmd_param.metavar or "")}
    for v in bad_value if isinstance(bad_value, list) else [bad_value]:
        needles |= {v, f"'{v}'", Path(v).name}
        needles |= {str(p) for p in Path(v).parents if tmp_path in p.parents}  # a/out under a file: "a: a file where..."
    needles.discard("")
    assert any(n in outcome.output for n in needles), f"the message names none of {sorted(needles)}\n{where}"
    for name, kind in spec.params.items():
        if kind.output and name in values and isinstance(values[name], str):
            assert not Path(values[name]).exists(), f"{values[name]} was left behind\n{where}"
