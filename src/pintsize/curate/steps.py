"""The per-document steps of a shard, in order: normalize, language, heuristics, PII, decontamination.

`DocumentSteps.run(doc, source, funnel)` returns the document (possibly rewritten) or the
`Removed` record of the step that removed it, and books the outcome of every step (and the PII
and contamination counts) in the shard's funnel. The object holds only models and settings, so a
worker process keeps one for all its shards.
"""

from __future__ import annotations

from pathlib import Path

from datatrove.data import Document

from pintsize.curate.config import DataConfig, SourceConfig
from pintsize.curate.records import Removed, removed, words
from pintsize.curate.stats import Funnel


class DocumentSteps:
    def __init__(self, config: DataConfig, decontam_index: Path | None = None):
        from pintsize.curate.normalize import Normalizer

        self.config = config
        self.normalizer = Normalizer(config.normalize)
        self._langid = None
        self._chains: dict[str, object] = {}
        self._tokenizer = None
        self._pii = None
        self._decontam = None
        if config.language.enabled:
            from pintsize.curate.langid import LanguageIdentifier

            self._langid = LanguageIdentifier(config.language)
        if config.pii.enabled:
            from pintsize.curate.pii import PIIMasker

            self._pii = PIIMasker(config.pii)
        if decontam_index is not None:
            from pintsize.curate.decontam import DecontamIndex

            self._decontam = DecontamIndex.load(decontam_index)

    def _chain(self, profile: str):
        if profile not in self._chains:
            from pintsize.curate.heuristics import HeuristicChain
            from pintsize.curate.words import CachedSpacyTokenizer

            self._tokenizer = self._tokenizer or CachedSpacyTokenizer()
            self._chains[profile] = HeuristicChain(self.config.heuristics.rules(profile), self._tokenizer)
        return self._chains[profile]

    def run(self, doc: Document, source: SourceConfig, funnel: Funnel) -> Document | Removed:
        for step in (self._normalize, self._language, self._heuristics, self._mask_pii, self._decontaminate):
            tokens_in = words(doc.text)
            outcome = step(doc, source, funnel)
            if outcome is None:
                continue  # the step is off
            if isinstance(outcome, Removed):
                funnel.removed(outcome, tokens_in)
                return outcome
            funnel.passed(outcome, source.name, tokens_in, words(doc.text))
        return doc

    # Each step returns None when it is off, its name when the document passes, or a Removed.

    def _normalize(self, doc: Document, source: SourceConfig, funnel: Funnel) -> str | Removed | None:
        if not self.config.normalize.enabled and source.html == "none":
            return None
        if source.html != "none":
            from pintsize.curate.normalize import html_to_text

            doc.text = html_to_text(doc.text, source.html)
        doc.text = self.normalizer(doc.text)
        if not doc.text.strip():
            return removed(doc, "normalize", "empty_after_normalization")
        return "normalize"

    def _language(self, doc: Document, source: SourceConfig, funnel: Funnel) -> str | Removed | None:
        if self._langid is None:
            return None
        if not self.config.heuristics.rules(source.rules_profile).language_id:
            return "language"  # this kind of text (code) is not judged by language
        lang, prob = self._langid.classify(doc.text)
        doc.metadata["meta"].update(language=lang, language_score=round(prob, 4))
        reason = self._langid.reject_reason(lang, prob)
        return removed(doc, "language", reason) if reason else "language"

    def _heuristics(self, doc: Document, source: SourceConfig, funnel: Funnel) -> str | Removed | None:
        if not self.config.heuristics.enabled:
            return None
        reason = self._chain(source.rules_profile).check(doc)
        return removed(doc, "heuristics", reason, profile=source.rules_profile) if reason else "heuristics"

    def _mask_pii(self, doc: Document, source: SourceConfig, funnel: Funnel) -> str | None:
        if self._pii is None:
            return None
        doc.text, counts = self._pii(doc.text)
        if counts:
            doc.metadata["meta"]["pii"] = dict(counts)
            funnel.masked(source.name, counts)
        return "pii"

    def _decontaminate(self, doc: Document, source: SourceConfig, funnel: Funnel) -> str | Removed | None:
        index = self._decontam
        if index is None:
            return None
        from pintsize.curate.decontam import cut_spans, words_with_spans

        tokens, spans = words_with_spans(doc.text)
        starts, masks = index.matches(tokens)
        if not len(starts):
            return "decontamination"
        per_set = index.set_counts(masks)
        funnel.contaminated(per_set)
        worst = max(sorted(per_set), key=per_set.get)
        cfg = self.config.decontamination
        if cfg.mode == "drop":
            return removed(doc, "decontamination", f"contaminated:{worst}", eval_ngrams=per_set)
        doc.text = cut_spans(doc.text, spans, starts, index.ngram, cfg.cut_margin_words)
        doc.metadata["meta"]["decontaminated"] = per_set
        if words(doc.text) < cfg.min_words_after_cut:
            return removed(doc, "decontamination", "too_short_after_cut", eval_ngrams=per_set)
        return "decontamination"
