"""The funnel: documents and tokens in and out of every step, per source, and why each removed
document was removed, with a few examples per rule.

Tokens are whitespace-separated words (`records.words`). For every source,
input = kept + filtered + quarantined, where quarantined = removed by the `read` step and
filtered = removed by any later step.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from pintsize.curate.records import Removed

STEPS = (
    "read", "normalize", "language", "heuristics", "pii", "decontamination",
    "dedup_exact", "dedup_near", "quality", "mixture",
)
EXAMPLES_PER_RULE = 3
TOKEN_UNIT = "whitespace-separated words"


def _counts() -> dict:
    return {"docs_in": 0, "docs_out": 0, "tokens_in": 0, "tokens_out": 0, "removed": {}}


class Funnel:
    def __init__(self) -> None:
        self.steps: dict[str, dict[str, dict]] = defaultdict(lambda: defaultdict(_counts))
        self.examples: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
        self.pii: dict[str, Counter] = defaultdict(Counter)  # source -> masked items by kind
        self.contamination: dict[str, dict[str, int]] = defaultdict(lambda: {"docs": 0, "ngrams": 0})  # eval set ->

    def masked(self, source: str, counts: Counter) -> None:
        self.pii[source].update(counts)

    def contaminated(self, ngrams_per_set: dict[str, int]) -> None:
        for name, n in ngrams_per_set.items():
            self.contamination[name]["docs"] += 1
            self.contamination[name]["ngrams"] += n

    def passed(self, step: str, source: str, tokens_in: int, tokens_out: int | None = None) -> None:
        c = self.steps[step][source]
        c["docs_in"] += 1
        c["docs_out"] += 1
        c["tokens_in"] += tokens_in
        c["tokens_out"] += tokens_in if tokens_out is None else tokens_out

    def removed(self, item: Removed, tokens_in: int) -> None:
        c = self.steps[item.step][item.source]
        c["docs_in"] += 1
        c["tokens_in"] += tokens_in
        c["removed"][item.reason] = c["removed"].get(item.reason, 0) + 1
        examples = self.examples[item.step][item.reason]
        if len(examples) < EXAMPLES_PER_RULE:
            examples.append(item.excerpt())

    def to_dict(self) -> dict:
        return {
            "steps": {s: {src: dict(c) for src, c in by.items()} for s, by in self.steps.items()},
            "examples": {s: dict(by) for s, by in self.examples.items()},
            "pii": {src: dict(c) for src, c in sorted(self.pii.items())},
            "decontamination": dict(sorted(self.contamination.items())),
        }

    def add(self, other: dict) -> None:
        """Add the counts of another funnel's dict (shards are added in shard order, so the
        examples kept are the first ones in input order)."""
        for step, by_source in other["steps"].items():
            for source, c in by_source.items():
                mine = self.steps[step][source]
                for key in ("docs_in", "docs_out", "tokens_in", "tokens_out"):
                    mine[key] += c[key]
                for reason, n in c["removed"].items():
                    mine["removed"][reason] = mine["removed"].get(reason, 0) + n
        for step, by_reason in other["examples"].items():
            for reason, items in by_reason.items():
                mine = self.examples[step][reason]
                mine.extend(items[: EXAMPLES_PER_RULE - len(mine)])
        for source, counts in other["pii"].items():
            self.pii[source].update(counts)
        for name, c in other["decontamination"].items():
            self.contamination[name]["docs"] += c["docs"]
            self.contamination[name]["ngrams"] += c["ngrams"]

    def sources_summary(self, sources: list[str]) -> dict[str, dict]:
        """Per source: input, kept, filtered, quarantined documents, and tokens in and out."""
        ran = [s for s in STEPS if s in self.steps]
        out = {}
        for src in sources:
            read = self.steps["read"].get(src, _counts())
            last = self.steps[ran[-1]].get(src, _counts()) if ran else _counts()
            quarantined = sum(read["removed"].values())
            filtered = sum(sum(self.steps[s].get(src, _counts())["removed"].values()) for s in ran if s != "read")
            out[src] = {
                "input": read["docs_in"],
                "kept": last["docs_out"],
                "filtered": filtered,
                "quarantined": quarantined,
                "tokens_in": read["tokens_in"],
                "tokens_out": last["tokens_out"],
            }
        return out

    def ordered(self) -> dict:
        """The funnel with its steps in pipeline order (for stats.json and the report)."""
        d = self.to_dict()
        d["steps"] = {s: d["steps"][s] for s in STEPS if s in d["steps"]}
        d["examples"] = {s: d["examples"][s] for s in STEPS if s in d["examples"]}
        return d
