"""The [eval] section: which evaluations the pipeline's eval stage runs, and how."""

from __future__ import annotations

from pydantic import Field, field_validator

from pintsize.config_base import Section


class EvalConfig(Section):
    device: str = Field("auto", description="cpu, cuda, ... or auto")
    # perplexity and bits-per-byte on held-out text
    perplexity: bool = True
    perplexity_data: str | None = Field(
        None, description="held-out text (corpus artifact, JSONL, Parquet, text files); default: the val split of the run's shards"
    )
    perplexity_max_documents: int | None = Field(500, gt=0, description="evaluate at most this many documents")
    perplexity_seq_len: int | None = Field(None, gt=1, description="window length; default: the model's context")
    perplexity_stride: int | None = Field(None, gt=0, description="new tokens scored per window; default: the window length")
    # lm-evaluation-harness
    harness_tasks: list[str] = Field(
        default_factory=list,
        description="lm-eval task names, local pintsize_* tasks, presets (leaderboard-v1, local) or paths of task YAML files",
    )
    harness_include_paths: list[str] = Field(
        default_factory=list, description="folders of the user's own lm-eval task YAMLs (lm-eval's --include_path)"
    )
    harness_limit: int | None = Field(None, gt=0, description="examples per task (for quick runs)")
    num_fewshot: int | None = Field(None, ge=0, description="overrides the tasks' own shot counts")
    harness_batch_size: int = Field(8, gt=0)
    harness_optional: bool = Field(
        False, description="when a task needs the eval data folder and it is missing, record the harness as skipped instead of failing"
    )
    data_dir: str | None = Field(
        None, description="folder of the local eval data (hellaswag/, arc/, gsm8k/, mt_bench/); default: $PINTSIZE_EVAL_DATA or shared/eval"
    )
    # MT-Bench
    mtbench_judge_url: str | None = Field(None, description="an OpenAI-compatible endpoint, e.g. http://host:8000/v1")
    mtbench_judge_model: str | None = None
    mtbench_judge_key_env: str = Field("OPENAI_API_KEY", description="environment variable holding the judge's API key")
    mtbench_max_new_tokens: int = Field(1024, gt=0)
    mtbench_parallel: int = Field(4, gt=0, description="judge requests in flight at once")
    mtbench_min_scored: float = Field(
        0.5, ge=0, le=1, description="the stage fails when a smaller share of the judgments has a rating"
    )
    # long-context retrieval
    passkey_lengths: list[int] = Field(default_factory=list, description="prompt lengths in tokens, e.g. [2048, 4096, 8192, 16384]")
    passkey_trials: int = Field(5, gt=0, description="trials per length (the key's depth varies)")
    # sample generations for the report
    samples: list[str] = Field(default_factory=list, description="prompts for sample generations in the report")
    samples_max_new_tokens: int = Field(128, gt=0)
    samples_chat: bool | None = Field(
        None, description="put the sample prompts in the chat template; default: in a pipeline run only when it has "
        "SFT or DPO (a pretrained or adapted model continues the prompt as text), on its own when the tokenizer has one",
    )
    # does the chat model listen: questions about stdlib functions that the built-in SFT data leaves out
    docs_questions: int = Field(
        0, ge=0, description="ask this many questions about stdlib functions that builtin:docs-chat never answers "
        "(at most 58; answers up to samples_max_new_tokens long); 0: off",
    )

    @field_validator("passkey_lengths")
    @classmethod
    def _positive(cls, v: list[int]) -> list[int]:
        if any(n < 64 for n in v):
            raise ValueError("passkey lengths must be at least 64 tokens")
        return v
