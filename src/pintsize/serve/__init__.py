"""Generation and serving: KV-cache generation with sampling and stopping (`generate`), the
terminal chat (`chat`), and the OpenAI-compatible HTTP server (`server`)."""
