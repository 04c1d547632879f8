"""The report's adaptation section: held-out bits per byte in the new and the old domain for the
base model, the transferred one and the trained one (stage adapt_eval)."""

from __future__ import annotations

from pintsize.report.elements import StageDirs, artifact_file, read_json, table


def adaptation(dirs: StageDirs) -> str:
    results = read_json(artifact_file(dirs, "adapt_eval", "results.json"))
    if not results:
        return ""
    rows = [[r["model"], r["new_bpb"], r["old_bpb"], r["new_tokens_per_byte"], r["old_tokens_per_byte"]] for r in results["rows"]]
    header = ["model", "new domain bits/byte", "old domain bits/byte", "new domain tokens/byte", "old domain tokens/byte"]
    return (
        "<h2>Adaptation: new and old domain</h2>"
        f"<p>Held-out text: {results['bytes']['new']:,} bytes of the new domain (the val split), "
        f"{results['bytes']['old']:,} bytes of the old one ({results['old_domain']}). Bits per byte compare "
        "models with different tokenizers; a rise in the old domain is what was forgotten.</p>"
        + table(header, rows)
    )
