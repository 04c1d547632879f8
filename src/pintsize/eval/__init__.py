"""Evaluation: perplexity and bits-per-byte, lm-evaluation-harness tasks through our adapter,
MT-Bench with an LLM judge, passkey retrieval, and the pipeline's eval stage (`run.run_eval`)."""
