"""The paper's linear program (Hayase et al. 2024, eq. 3), solved with HiGHS (highspy):
min Σ_t v_t + Σ_p u_p  s.t.  Σ_i α_i (c_i^t(m_t) - c_i^t(p)) + v_t + u_p ≥ 0,  Σ α = 1,  α, v, u ≥ 0,
with counts normalized by each category's sample bytes. Constraints are added lazily: start with each
step's strongest competitor under a uniform mixture, then each step's most violated ones, until none is.
Their code uses Gurobi; HiGHS is free.

At 30k merges x 10 categories the record holds millions of candidate constraints, of which an optimal
basis needs at most one per variable (n + T + P). So the model is kept small: the violation check runs
over the record's integer counts in chunks (no dense (R, n) float copy), and once the model is large,
rows that are slack at the current optimum are deleted (they have zero dual, so the optimum and the
objective stay as they are; they go back into the pool of candidates and are checked every round)."""

from __future__ import annotations

import os
import sys

import numpy as np

from pintsize.tokenizer.mixture_replay import ReplayRecord

CHUNK = 1 << 18  # candidate rows per block of the violation check (~20 MB of floats at 10 categories)
PER_MB = 1e6  # the model counts per megabyte, not per byte: late merges have counts of ~1e-7 per byte,
# below HiGHS's feasibility tolerance (1e-7); the objective and slacks are reported per byte as before


def solve_mixture(rec: ReplayRecord, max_rounds: int = 100, per_step: int = 4,
                  max_rows: int | None = None) -> tuple[np.ndarray, dict]:
    """Each round adds, per step, its `per_step` most violated constraints to the model and re-solves
    with dual simplex from the previous basis (highspy), so a round costs only the new rows' pivots.
    When the model holds more than `max_rows` rows (default: 2 x (T + P), twice what a basis can use),
    the rows slack at the current optimum are deleted first; a row deleted twice stays in for good,
    so the rounds cannot cycle."""
    import highspy

    from pintsize.tokenizer.mixture_inference import MixtureInferenceError

    T, n = rec.merge_counts.shape
    inv = PER_MB / np.asarray(rec.scale, dtype=float)
    merge = rec.merge_counts * inv  # (T, n) counts per MB of the step's merge
    step, counts = rec.cand_step, rec.cand_counts
    pair_ids, pair_col = np.unique(rec.cand_pair, return_inverse=True)
    pair_col = pair_col.astype(np.int32)
    P, R = len(pair_ids), len(step)
    if max_rows is None:
        max_rows = 2 * (T + P)
    h = _quiet_highs()
    inf = highspy.kHighsInf
    nv = n + T + P  # variables: α (n), v_t (T), u_p (P); minimize Σv + Σu
    h.addCols(nv, np.r_[np.zeros(n), np.ones(T + P)], np.zeros(nv), np.full(nv, inf), 0, np.zeros(0, np.int32),
              np.zeros(0, np.int32), np.zeros(0))
    h.addRow(1.0, 1.0, n, np.arange(n, dtype=np.int32), np.ones(n))  # Σ α = 1 (row 0, kept)

    in_model = np.zeros(R, dtype=bool)  # candidate r is a row of the model
    rows = np.zeros(0, dtype=np.int64)  # model row 1 + j is candidate rows[j]
    deleted = np.zeros(R, dtype=np.uint8)  # how often candidate r was deleted as slack

    def add(new: np.ndarray) -> None:  # α·diff + v_t + u_p ≥ 0
        nonlocal rows
        for s in range(0, len(new), CHUNK):
            part = new[s:s + CHUNK]
            k = len(part)
            diff = merge[step[part]] - counts[part] * inv  # the merge's lead over pair p, per MB
            idx = np.c_[np.tile(np.arange(n), (k, 1)), n + step[part], n + T + pair_col[part]].astype(np.int32)
            val = np.c_[diff, np.ones((k, 2))]
            h.addRows(k, np.zeros(k), np.full(k, inf), idx.size, np.arange(k, dtype=np.int32) * (n + 2), idx.ravel(), val.ravel())
        in_model[new] = True
        rows = np.r_[rows, new]

    def lhs_of(alpha: np.ndarray, v: np.ndarray, u: np.ndarray) -> np.ndarray:
        """α·diff + v_t + u_p for every candidate, in blocks of the integer counts."""
        out = np.empty(R)
        lead, w = merge @ alpha + v, alpha * inv
        for s in range(0, R, CHUNK):
            e = min(s + CHUNK, R)
            out[s:e] = lead[step[s:e]] + u[pair_col[s:e]] - counts[s:e] @ w
        return out

    def worst_per_step(cands: np.ndarray, score: np.ndarray) -> np.ndarray:
        order = cands[np.lexsort((score[cands], step[cands]))]
        rank = np.arange(len(order)) - np.searchsorted(step[order], step[order])
        return order[rank < per_step]

    if R:  # start with each step's strongest competitor under a uniform mixture
        uniform = np.full(n, 1.0 / n)
        add(worst_per_step(np.arange(R), lhs_of(uniform, np.zeros(T), np.zeros(P))))
    alpha, v, u, rounds, converged = np.full(n, 1.0 / n), np.zeros(T), np.zeros(P), 0, False
    for rounds in range(1, max_rounds + 1):
        h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            raise MixtureInferenceError(f"linear program failed: {h.modelStatusToString(h.getModelStatus())}")
        x = np.asarray(h.getSolution().col_value)
        alpha, v, u = x[:n], x[n:n + T], x[n + T:]  # v and u per MB
        if not R:
            converged = True
            break
        lhs = lhs_of(alpha, v, u)
        violated = np.flatnonzero(~in_model & (lhs < -1e-7))  # per MB: 1e-13 per byte
        if not len(violated):
            converged = True
            break
        if len(rows) > max_rows:  # delete rows basic (slack) at this optimum: zero dual, the optimum stays
            basic = np.fromiter((s == highspy.HighsBasisStatus.kBasic for s in h.getBasis().row_status[1:]), bool, len(rows))
            slack = basic & (deleted[rows] < 2)
            if slack.any():
                h.deleteRows(int(slack.sum()), (1 + np.flatnonzero(slack)).astype(np.int32))
                gone = rows[slack]
                in_model[gone] = False
                deleted[gone] += 1
                rows = rows[~slack]
        add(worst_per_step(violated, lhs))
    info = {"rounds": rounds, "converged": converged, "constraints": int(len(rows)), "candidate_constraints": R,
            "objective": float(h.getInfo().objective_function_value) / PER_MB, "merge_slack": v / PER_MB,
            "pair_slack": dict(zip(pair_ids.tolist(), (u / PER_MB).tolist()))}
    return alpha, info


def _quiet_highs():
    """A Highs instance without its copyright banner, which the C++ constructor prints to fd 1
    before any option can turn output off (it would land in the middle of the CLI's table)."""
    import highspy

    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            h = highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    h.setOptionValue("output_flag", False)
    return h
