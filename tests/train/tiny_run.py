"""`run_pretrain` of the tiny model in its own process, for the resume and multi-process tests.

    python tiny_run.py OUT SHARDS TOKENIZER [--steps N] [--micro-batch B] [--freeze-until-step N]
                       [--kill-after-step N] [--kill-in-save N]
    torchrun --standalone --nproc_per_node 2 tiny_run.py OUT SHARDS TOKENIZER --micro-batch 2 [--then OUT2]

Every step sees 4 rows of 64 tokens in all (gradient accumulation makes up the rest), so runs
with different numbers of processes or micro-batch sizes train on the same global batches.
`--kill-after-step` and `--kill-in-save` end the process with SIGKILL, as a crash would;
`--signal-after-step` asks it to stop as Ctrl-C or a scheduler's SIGTERM does.
`--then` runs a second stage in the same process (as `pintsize run` does), continuing from the
first one's model, and writes how often the process group was made and destroyed meanwhile to
OUT2/process-groups-rank<R>.json.
"""

import argparse
import json
import os
import signal
import sys
from pathlib import Path

import torch
import torch.distributed as dist

sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_helpers import recipe_dict  # noqa: E402

from pintsize.recipe import parse_recipe  # noqa: E402
from pintsize.train import checkpoint  # noqa: E402
from pintsize.train.pretrain import run_pretrain  # noqa: E402
from pintsize.train.trainer import Trainer  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("out", type=Path)
    p.add_argument("shards", type=Path)
    p.add_argument("tokenizer", type=Path)
    p.add_argument("--steps", type=int, default=24)
    p.add_argument("--micro-batch", type=int, default=4)
    p.add_argument("--keep-last", type=int, default=2)
    p.add_argument("--freeze-until-step", type=int, default=0, help="train only the embeddings for the first N steps")
    p.add_argument("--kill-after-step", type=int)
    p.add_argument("--kill-in-save", type=int, help="SIGKILL after the sharded state is written, before the rename")
    p.add_argument("--signal-after-step", nargs=2, metavar=("STEP", "SIGNAL"), help="send SIGNAL (INT, TERM) once STEP is launched")
    p.add_argument("--signal-rank", type=int, help="with --signal-after-step: only this rank gets the signal")
    p.add_argument("--then", type=Path, metavar="OUT2", help="a second stage, continuing from the first one's model")
    args = p.parse_args()

    torch.set_num_threads(1)  # the same kernels, hence the same sums, in every run
    if args.kill_after_step:
        step = Trainer.launch_step

        def launch_step(self, batches):
            result = step(self, batches)
            if result.step == args.kill_after_step:
                os.kill(os.getpid(), signal.SIGKILL)
            return result

        Trainer.launch_step = launch_step
    if args.signal_after_step:
        at, name = int(args.signal_after_step[0]), args.signal_after_step[1]
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a background test process inherits SIGINT ignored
        step_ = Trainer.launch_step

        def launch_and_signal(self, batches):
            result = step_(self, batches)
            if result.step == at and args.signal_rank in (None, int(os.environ.get("RANK", "0"))):
                os.kill(os.getpid(), getattr(signal, f"SIG{name}"))
            return result

        Trainer.launch_step = launch_and_signal
    if args.kill_in_save:
        write = checkpoint.atomic_write_json

        def atomic_write_json(path, obj):
            if Path(path).parent.name == f"step-{args.kill_in_save:07d}.tmp":
                os.kill(os.getpid(), signal.SIGKILL)
            return write(path, obj)

        checkpoint.atomic_write_json = atomic_write_json

    def pretrain(out: Path, **more) -> None:
        recipe = parse_recipe(recipe_dict(
            max_steps=args.steps, micro_batch_size=args.micro_batch, global_batch_tokens=4 * 64,
            ckpt_every=8, keep_last=args.keep_last, val_every=8, freeze_until_step=args.freeze_until_step, **more,
        ))
        run_pretrain(recipe, args.shards, args.tokenizer, out, device="cpu")

    calls = count_process_groups() if args.then else {}
    pretrain(args.out)
    if args.then:
        pretrain(args.then, init_from=str(args.out / "model"))
        (args.then / f"process-groups-rank{os.environ.get('RANK', '0')}.json").write_text(json.dumps(calls))


def count_process_groups() -> dict[str, int]:
    """From now on, count the calls that make and destroy a process group."""
    calls = {"init_process_group": 0, "destroy_process_group": 0}
    for name in calls:

        def counted(*a, _name=name, _original=getattr(dist, name), **k):
            calls[_name] += 1
            return _original(*a, **k)

        setattr(dist, name, counted)
    return calls

if __name__ == "__main__":
    main()
