"""The paper's linear program (Hayase et al. 2024, eq. 3), solved with HiGHS (highspy):
min Σ_t v_t + Σ_p u_p  s.t.  Σ_i α_i (c_i^t(m_t) - c_i^t(p)) + v_t + u_p ≥ 0,  Σ α = 1,  α, v, u ≥ 0,
with counts normalized by each category's sample bytes. Constraints are added lazily: start with each
step's strongest competitor under a uniform mixture, then each step's most violated one, until none is. Their code uses Gurobi; HiGHS is free."""

from __future__ import annotations

import os
import sys

import numpy as np

from pintsize.tokenizer.mixture_replay import ReplayRecord


def solve_mixture(rec: ReplayRecord, max_rounds: int = 100, per_step: int = 4) -> tuple[np.ndarray, dict]:
    """Each round adds, per step, its `per_step` most violated constraints to the model and re-solves
    with dual simplex from the previous basis (highspy), so a round costs only the new rows' pivots."""
    import highspy

    from pintsize.tokenizer.mixture_inference import MixtureInferenceError

    T, n = rec.merge_counts.shape
    merge = rec.merge_counts / rec.scale
    diffs = merge[rec.cand_step] - rec.cand_counts / rec.scale  # (R, n): the merge's lead over pair p
    pair_ids, pair_col = np.unique(rec.cand_pair, return_inverse=True)
    P, R = len(pair_ids), len(rec.cand_step)
    h = _quiet_highs()
    inf = highspy.kHighsInf
    nv = n + T + P  # variables: α (n), v_t (T), u_p (P); minimize Σv + Σu
    h.addCols(nv, np.r_[np.zeros(n), np.ones(T + P)], np.zeros(nv), np.full(nv, inf), 0, np.zeros(0, np.int32),
              np.zeros(0, np.int32), np.zeros(0))
    h.addRow(1.0, 1.0, n, np.arange(n, dtype=np.int32), np.ones(n))  # Σ α = 1

    def add(rows: np.ndarray) -> None:  # α·diff + v_t + u_p ≥ 0
        k = len(rows)
        idx = np.c_[np.tile(np.arange(n), (k, 1)), n + rec.cand_step[rows], n + T + pair_col[rows]].astype(np.int32)
        val = np.c_[diffs[rows], np.ones((k, 2))]
        h.addRows(k, np.zeros(k), np.full(k, inf), idx.size, np.arange(k, dtype=np.int32) * (n + 2), idx.ravel(), val.ravel())

    def worst_per_step(rows: np.ndarray, score: np.ndarray) -> np.ndarray:
        order = rows[np.lexsort((score[rows], rec.cand_step[rows]))]
        rank = np.arange(len(order)) - np.searchsorted(rec.cand_step[order], rec.cand_step[order])
        return order[rank < per_step]

    active = np.zeros(R, dtype=bool)
    if R:  # start with each step's strongest competitor under a uniform mixture
        first = worst_per_step(np.arange(R), diffs.sum(1))
        active[first] = True
        add(first)
    alpha, rounds, converged = np.full(n, 1.0 / n), 0, False
    for rounds in range(1, max_rounds + 1):
        h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            raise MixtureInferenceError(f"linear program failed: {h.modelStatusToString(h.getModelStatus())}")
        x = np.asarray(h.getSolution().col_value)
        alpha, v, u = x[:n], x[n:n + T], x[n + T:]
        lhs = diffs @ alpha + v[rec.cand_step] + u[pair_col] if R else np.zeros(0)
        violated = np.flatnonzero(~active & (lhs < -1e-12))
        if not len(violated):
            converged = True
            break
        new = worst_per_step(violated, lhs)
        active[new] = True
        add(new)
    info = {"rounds": rounds, "converged": converged, "constraints": int(active.sum()), "candidate_constraints": R,
            "objective": float(h.getInfo().objective_function_value), "merge_slack": v,
            "pair_slack": dict(zip(pair_ids.tolist(), u.tolist()))}
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
