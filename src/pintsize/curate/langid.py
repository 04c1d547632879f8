"""Step 2: language identification with py3langid (its model ships in the wheel; DESIGN.md:
the most accurate offline option). datatrove's LanguageFilter downloads a fastText model at run
time, so it cannot run offline."""

from __future__ import annotations

from pintsize.curate.config import LanguageConfig

# Enough text to be sure of a language; bounds the cost of huge documents (py3langid ~10 MB/s).
_PROBE_CHARS = 50_000


class LanguageIdentifier:
    def __init__(self, config: LanguageConfig):
        from py3langid.langid import MODEL_FILE, LanguageIdentifier as _Identifier

        self.config = config
        self.languages = set(config.languages)
        self._model = _Identifier.from_model_file(MODEL_FILE, norm_probs=True)

    def classify(self, text: str) -> tuple[str, float]:
        lang, prob = self._model.classify(text[:_PROBE_CHARS])
        return lang, float(prob)

    def reject_reason(self, lang: str, prob: float) -> str | None:
        """None to keep; else `other_language:<code>` or `low_confidence`."""
        if lang not in self.languages:
            return f"other_language:{lang}"
        if prob < self.config.threshold:
            return "low_confidence"
        return None
