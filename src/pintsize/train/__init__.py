"""Training: one engine for pretraining, SFT and DPO.

    trainer.py       Trainer: the loop (accumulation, clipping, schedule, guard, validation,
                     checkpoints, resume, progress) around a pluggable objective and data
    objective.py     Objective protocol `(model, batch) -> (loss sum, metrics)` + `units(batch)`; LMObjective
    stage.py         TrainingStage / run_training_stage: process group, artifact, final model/
    pretrain.py      run_pretrain: shards + tokenizer (+ init_from) -> a training-stage artifact
    parallelize.py   precision, activation checkpointing, torch.compile, FSDP2 (applied from outside the model)
    checkpoint.py    atomic, sharded checkpoints (torch.distributed.checkpoint) with loader and RNG states
    optim.py, schedule.py, guard.py, monitor.py, distributed.py

A new stage (SFT, DPO) supplies an objective, a data factory (any iterable of batch dicts with
`state_dict`/`load_state_dict`; rank-sharded) and a TrainingStage; everything else is shared.
"""
