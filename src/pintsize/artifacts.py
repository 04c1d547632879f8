"""Artifact directories: one per stage run, each with a manifest.json that records its lineage.

A stage writes into `<out>.partial/`, and only a finished stage is renamed to `<out>/`, so a
crash never leaves a half-written artifact under the final name. The partial directory is
kept on failure, tagged with the stage's fingerprint, so that a resumable stage (pack,
curate) can pick up the shards it already finished when it is rerun with the same inputs.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import shutil
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

from pydantic import BaseModel

from pintsize import __version__
from pintsize.errors import PintsizeError

MANIFEST = "manifest.json"
PARTIAL_SUFFIX = ".partial"
_FINGERPRINT_FILE = ".fingerprint"


# ---------------------------------------------------------------- atomic file writes


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write to a temporary sibling, fsync, then rename over `path` (atomic on POSIX)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(o: Any) -> Any:
    if isinstance(o, BaseModel):
        return o.model_dump(mode="json")
    if isinstance(o, Path):
        return str(o)
    if hasattr(o, "item"):  # numpy / torch scalars
        return o.item()
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


# ---------------------------------------------------------------- hashing


def hash_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def hash_file(path: str | os.PathLike) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def hash_config(config: Any) -> str:
    """A stable hash of a config: canonical JSON (sorted keys) of its plain-data form."""
    if isinstance(config, BaseModel):
        config = config.model_dump(mode="json")
    return hash_bytes(json.dumps(config, sort_keys=True, default=_json_default).encode())


def hash_path(path: str | os.PathLike) -> str:
    """Content hash of an input: an artifact's recorded content hash, a file's bytes, or a tree of files."""
    path = Path(path)
    manifest = path / MANIFEST
    if manifest.is_file():
        return json.loads(manifest.read_text())["content_hash"]
    if path.is_file():
        return hash_file(path)
    if path.is_dir():
        return _hash_tree(path)
    raise PintsizeError(f"{path}: no such file or directory")


def _hash_tree(root: Path, exclude: frozenset[str] = frozenset()) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and rel not in exclude:
            h.update(rel.encode() + b"\0" + hash_file(p).encode() + b"\n")
    return h.hexdigest()


# ---------------------------------------------------------------- code version


def code_version() -> dict[str, Any]:
    """The package version and, when run from a git checkout, its commit and whether it is dirty."""
    info: dict[str, Any] = {"pintsize": __version__}
    src = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=src, capture_output=True, text=True, timeout=5
        )
        if commit.returncode == 0:
            info["git_commit"] = commit.stdout.strip()
            status = subprocess.run(
                ["git", "status", "--porcelain", "--", "."], cwd=src, capture_output=True, text=True, timeout=5
            )
            info["git_dirty"] = bool(status.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    return info


# ---------------------------------------------------------------- manifests


def fingerprint(stage: str, config: Any, input_hashes: Mapping[str, str]) -> str:
    """What decides whether a stage must rerun: its name, its config and its inputs' content."""
    return hash_config({"stage": stage, "config": config, "inputs": dict(sorted(input_hashes.items()))})


def read_manifest(path: str | os.PathLike) -> dict[str, Any]:
    path = Path(path)
    manifest = path / MANIFEST
    if not manifest.is_file():
        raise PintsizeError(f"{path}: not an artifact (no {MANIFEST})")
    try:
        data = json.loads(manifest.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise PintsizeError(f"{manifest}: broken manifest ({e})") from None
    if not isinstance(data, dict):
        raise PintsizeError(f"{manifest}: broken manifest (a JSON {type(data).__name__}, not an object)")
    return data


def is_up_to_date(out: str | os.PathLike, stage: str, config: Any, inputs: Mapping[str, str | os.PathLike]) -> bool:
    """True when `out` is a finished artifact of this stage with this config and these inputs."""
    out = Path(out)
    if not (out / MANIFEST).is_file():
        return False
    try:
        expected = fingerprint(stage, config, {k: hash_path(v) for k, v in inputs.items()})
    except PintsizeError:
        return False
    return read_manifest(out).get("fingerprint") == expected


def inputs_unchanged(out: str | os.PathLike) -> bool:
    """Whether every input recorded in a finished artifact's manifest still has its recorded
    content hash (False when one is gone)."""
    try:
        return all(hash_path(i["path"]) == i["hash"] for i in read_manifest(out).get("inputs", {}).values())
    except PintsizeError:
        return False


@dataclass
class ArtifactWriter:
    """Write a stage's artifact: files go into `.dir` (the partial directory); on success the
    manifest is written and the directory renamed to its final name.

        with ArtifactWriter(out, "pack", config, inputs={"corpus": corpus_dir}) as art:
            ...write files under art.dir...
            art.stats["tokens"] = n
    """

    out: Path
    stage: str
    config: Any
    inputs: Mapping[str, str | os.PathLike] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        if isinstance(self.config, BaseModel):
            self.config = self.config.model_dump(mode="json")
        self.input_hashes = {k: hash_path(v) for k, v in self.inputs.items()}
        self.fingerprint = fingerprint(self.stage, self.config, self.input_hashes)
        self.dir = self.out.with_name(self.out.name + PARTIAL_SUFFIX)

    @property
    def resumed(self) -> bool:
        """Whether the partial directory holds work from an earlier, interrupted run of the same stage."""
        return self._resumed

    def __enter__(self) -> "ArtifactWriter":
        self._lock = _exclusive_lock(self.out)
        try:
            tag = self.dir / _FINGERPRINT_FILE
            self._resumed = tag.is_file() and tag.read_text().strip() == self.fingerprint
            if self.dir.exists() and not self._resumed:
                shutil.rmtree(self.dir)
            self.dir.mkdir(parents=True, exist_ok=True)
            atomic_write_text(tag, self.fingerprint)
        except BaseException:
            self._lock.close()
            raise
        self._t0 = time.time()
        self._started = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self._finish()
            # else: keep the partial directory for a resume; the final name is untouched
        finally:
            self._lock.close()

    def _finish(self) -> None:
        (self.dir / _FINGERPRINT_FILE).unlink(missing_ok=True)
        manifest = {
            "stage": self.stage,
            "config": self.config,
            "inputs": {
                k: {"path": str(Path(v).resolve()), "hash": self.input_hashes[k]} for k, v in self.inputs.items()
            },
            "fingerprint": self.fingerprint,
            "content_hash": _hash_tree(self.dir, exclude=frozenset({MANIFEST})),
            "code": code_version(),
            "started": self._started,
            "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "seconds": round(time.time() - self._t0, 3),
            "stats": self.stats,
            **self.extra,
        }
        atomic_write_json(self.dir / MANIFEST, manifest)
        replace_dir(self.dir, self.out)


def record_run_stage(out: str | os.PathLike, stage: str, seconds: float) -> None:
    """Note in a finished artifact's manifest the run stage that made it and the stage's whole time
    as the run printed it. The manifest's own `stage` is the kind of artifact (`import-gguf` for the
    run's `base` and `teacher` stages) and its `seconds` time only the writing of the artifact, not
    the reading, loading and converting before it. The content hash is unchanged."""
    path = Path(out) / MANIFEST
    manifest = json.loads(path.read_text())
    manifest["run"] = {"stage": stage, "seconds": round(seconds, 1)}
    atomic_write_json(path, manifest)


def stage_name(manifest: dict) -> str:
    """The run stage that made an artifact, else the kind of artifact (one made by its own command)."""
    return manifest.get("run", {}).get("stage") or manifest["stage"]


def stage_seconds(manifest: dict) -> float | None:
    """How long the stage took: the run's time where a run made it, else the artifact's own."""
    return manifest.get("run", {}).get("seconds", manifest.get("seconds"))


def _exclusive_lock(out: Path):
    """This process's claim on an artifact while it writes it: a second `pintsize` on the same
    recipe would otherwise train into the same partial directory. The OS releases the lock when
    the process ends, however it ends; the small hidden lock file stays."""
    import fcntl

    path = out.with_name(f".{out.name}.lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    f = open(path, "a+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        holder = f.read().strip()
        f.close()
        raise PintsizeError(
            f"{out}: another process{f' (pid {holder})' if holder else ''} is writing this artifact; "
            "wait for it to finish or stop it"
        ) from None
    f.seek(0)
    f.truncate()
    f.write(str(os.getpid()))
    f.flush()
    return f


def replace_dir(src: Path, dst: Path) -> None:
    """Move `src` to `dst`, replacing an existing `dst` (the old one is removed only after the move)."""
    old = None
    if dst.exists():
        old = dst.with_name(f"{dst.name}.old-{os.getpid()}")
        os.replace(dst, old)
    os.replace(src, dst)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextmanager
def atomic_dir(dst: str | os.PathLike) -> Iterator[Path]:
    """A plain directory written atomically (no manifest): yields a temporary directory that
    becomes `dst` only when the block finishes without error."""
    dst = Path(dst)
    tmp = dst.with_name(f".{dst.name}.tmp-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    replace_dir(tmp, dst)


# ---------------------------------------------------------------- lineage


def lineage(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Every artifact upstream of `path`, nearest first: stage, path, fingerprint, and whether
    the input found on disk still has the content hash that was recorded."""
    seen: set[str] = set()
    out: list[dict[str, Any]] = []

    def visit(p: Path, depth: int, recorded_hash: str | None) -> None:
        key = str(p.resolve())
        if key in seen:
            return
        seen.add(key)
        if not (p / MANIFEST).is_file():
            node = {"path": str(p), "stage": None, "depth": depth, "hash": recorded_hash}
            if recorded_hash is not None and p.exists():
                node["unchanged"] = hash_path(p) == recorded_hash
            out.append(node)
            return
        m = read_manifest(p)
        node = {
            "path": str(p),
            "stage": stage_name(m),
            "kind": m["stage"],
            "seconds": stage_seconds(m),
            "depth": depth,
            "fingerprint": m["fingerprint"],
            "hash": m["content_hash"],
            "code": m.get("code", {}),
            "finished": m.get("finished"),
        }
        if recorded_hash is not None:
            node["unchanged"] = m["content_hash"] == recorded_hash
        out.append(node)
        for ref in m.get("inputs", {}).values():
            visit(Path(ref["path"]), depth + 1, ref.get("hash"))

    if not Path(path).exists():
        raise PintsizeError(f"{path}: no such file or directory")
    visit(Path(path), 0, None)
    return out
