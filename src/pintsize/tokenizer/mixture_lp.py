"""The paper's linear program (Hayase et al. 2024, eq. 3), solved with HiGHS (highspy):
min Σ_t v_t + Σ_p u_p  s.t.  Σ_i α_i (c_i^t(m_t) - c_i^t(p)) + v_t + u_p ≥ 0,  Σ α = 1,  α, v, u ≥ 0,
over every step t and *every* pair p, with counts normalized by each category's sample bytes.
Constraints are added lazily: each round solves the model, then searches all pairs at all steps for
constraints the solution violates, adds each step's most violated ones, and solves again (dual
simplex from the previous basis), until none is violated: then the solution is the full LP's.
Their code uses Gurobi; HiGHS is free.

The search, exact and vectorized: under the current α a pair's weighted count (less its u_p) is
constant on each segment of the replay record (the steps between two changes of its counts). A
segment violates somewhere iff that value exceeds the *minimum* of the merge's side (α·c(m_t) + v_t)
over its steps: one range-minimum query each (sparse table over the T steps). Then, as the reference
(alisawuffles/tokenizer-attack, run_solver.py) pops one priority queue of all pairs' α-weighted
counts at every step, each step takes the violating segments that cover it in decreasing weighted
count, up to `per_step` of them. Its queue is updated step by step in Python; here all steps are
searched at once with numpy.

The model is kept small: once it is large, rows that are slack at the current optimum are deleted
(they have zero dual, so the optimum and the objective stay as they are; the search finds them again
if they become violated), and each pair's u_p is a column only once one of its rows is added."""

from __future__ import annotations

import os
import sys

import numpy as np

from pintsize.errors import PintsizeError
from pintsize.tokenizer.mixture_replay import ReplayRecord


class MixtureInferenceError(PintsizeError):
    """Mixture inference cannot go on (bad input, or an LP that has no answer)."""


CHUNK = 1 << 18  # segments per block of the search (~20 MB of floats at 10 categories)
PER_MB = 1e6  # the model counts per megabyte, not per byte: late merges have counts of ~1e-7 per byte,
# below HiGHS's feasibility tolerance (1e-7); the objective and slacks are reported per byte as before
TOL = 1e-7  # per MB (1e-13 per byte): a constraint counts as violated beyond this, HiGHS's own tolerance


def solve_mixture(rec: ReplayRecord, max_rounds: int = 200, per_step: int = 4,
                  max_rows: int | None = None, max_add: int | None = None) -> tuple[np.ndarray, dict]:
    """Each round adds, per step, its `per_step` most violated constraints (over all pairs) and
    re-solves from the previous basis. When the model holds more than `max_rows` rows (default:
    2 x (T + its pair columns), twice what a basis can use), the rows slack at the current optimum are
    deleted first; a row deleted twice stays in for good, so the rounds cannot cycle."""
    import highspy

    T, n = rec.merge_counts.shape
    inv = PER_MB / np.asarray(rec.scale, dtype=float)
    merge = rec.merge_counts * inv  # (T, n) counts per MB of the step's merge
    P = len(rec.pair_keys)
    h = _quiet_highs()
    inf = highspy.kHighsInf
    h.addCols(n + T, np.r_[np.zeros(n), np.ones(T)], np.zeros(n + T), np.full(n + T, inf), 0,
              np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0))  # α (n), v_t (T); u_p added as needed
    h.addRow(1.0, 1.0, n, np.arange(n, dtype=np.int32), np.ones(n))  # Σ α = 1 (row 0, kept)

    col_of_pair = np.full(P, -1, dtype=np.int64)  # column of u_p, once pair p has a row
    pair_of_col: list[np.ndarray] = []
    rows = np.zeros(0, dtype=np.int64)  # model row 1 + j is constraint rows[j] = step * P + pair
    deleted: dict[int, int] = {}  # how often a constraint was deleted as slack

    def add(step: np.ndarray, seg: np.ndarray) -> None:  # α·diff + v_t + u_p ≥ 0
        nonlocal rows
        pair = rec.seg_pair[seg]
        fresh = np.unique(pair[col_of_pair[pair] < 0])
        if len(fresh):
            col_of_pair[fresh] = h.getNumCol() + np.arange(len(fresh))
            pair_of_col.append(fresh)
            h.addCols(len(fresh), np.ones(len(fresh)), np.zeros(len(fresh)), np.full(len(fresh), inf), 0,
                      np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0))
        for s in range(0, len(seg), CHUNK):
            t, r = step[s:s + CHUNK], seg[s:s + CHUNK]
            k = len(r)
            diff = merge[t] - rec.seg_counts[r] * inv  # the merge's lead over pair p, per MB
            idx = np.c_[np.tile(np.arange(n), (k, 1)), n + t, col_of_pair[rec.seg_pair[r]]].astype(np.int32)
            val = np.c_[diff, np.ones((k, 2))]
            h.addRows(k, np.zeros(k), np.full(k, inf), idx.size, np.arange(k, dtype=np.int32) * (n + 2), idx.ravel(), val.ravel())
        rows = np.r_[rows, step.astype(np.int64) * P + pair]

    def most_violated(alpha: np.ndarray, v: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per step, its `per_step` most violated constraints not in the model: (steps, segments).
        As the reference pops its priority queue of every pair's α-weighted count (less u_p) at each
        step, each step takes the segments covering it in decreasing weighted count; only segments
        that violate somewhere (a range-minimum query each) are ranked at all."""
        thr = merge @ alpha + v  # the merge's side at each step
        low, at = _range_min_table(thr)
        w = alpha * inv
        segs, xs = [np.zeros(0, np.int64)], [np.zeros(0)]
        for s in range(0, len(rec.seg_pair), CHUNK):
            e = min(s + CHUNK, len(rec.seg_pair))
            x = rec.seg_counts[s:e] @ w - u[rec.seg_pair[s:e]]  # each segment's weighted count
            m, _ = _range_min(low, at, rec.seg_start[s:e], rec.seg_end[s:e])
            bad = np.flatnonzero(x - m > TOL)  # violated at one step at least
            segs.append(s + bad)
            xs.append(x[bad])
        seg, x = np.concatenate(segs), np.concatenate(xs)
        order = np.argsort(-x, kind="stable")
        step, pick = _top_per_step(rec.seg_start[seg[order]], rec.seg_end[seg[order]], T, per_step)
        seg, viol = seg[order][pick], x[order][pick] - thr[step]
        # A step's top segments that do not violate there are dropped; any violated row is then either
        # proposed or outranked at its step by `per_step` heavier, hence also violated, rows: the
        # search returns nothing only when no constraint over all pairs is violated.
        keep = (viol > TOL) & ~np.isin(step.astype(np.int64) * P + rec.seg_pair[seg], rows)
        step, seg = step[keep], seg[keep]
        if max_add is not None:  # the earliest steps first, as the reference adds them (its max_add=100)
            order = np.argsort(step, kind="stable")[:max_add]
            step, seg = step[order], seg[order]
        return step, seg

    alpha, v, u = np.full(n, 1.0 / n), np.zeros(T), np.zeros(P)
    rounds, converged = 0, False
    new = most_violated(alpha, v, u)  # start from the constraints a uniform mixture violates
    for rounds in range(1, max_rounds + 1):
        limit = 2 * (T + sum(map(len, pair_of_col))) if max_rows is None else max_rows
        if len(rows) > limit:
            basic = np.fromiter((s == highspy.HighsBasisStatus.kBasic for s in h.getBasis().row_status[1:]), bool, len(rows))
            slack = basic & np.fromiter((deleted.get(int(k), 0) < 2 for k in rows), bool, len(rows))
            if slack.any():  # rows basic (slack) at this optimum: zero dual, the optimum stays
                h.deleteRows(int(slack.sum()), (1 + np.flatnonzero(slack)).astype(np.int32))
                for k in rows[slack].tolist():
                    deleted[k] = deleted.get(k, 0) + 1
                rows = rows[~slack]
        add(*new)
        h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            raise MixtureInferenceError(f"linear program failed: {h.modelStatusToString(h.getModelStatus())}")
        x = np.asarray(h.getSolution().col_value)
        alpha, v = x[:n], x[n:n + T]  # v and u per MB
        u = np.zeros(P)
        if pair_of_col:
            u[np.concatenate(pair_of_col)] = x[n + T:]
        new = most_violated(alpha, v, u)
        if not len(new[0]):
            converged = True
            break
    has = col_of_pair >= 0
    info = {"rounds": rounds, "converged": converged, "constraints": int(len(rows)), "pairs": P,
            "segments": int(len(rec.seg_pair)), "objective": float(h.getInfo().objective_function_value) / PER_MB,
            "merge_slack": v / PER_MB, "pair_slack": dict(zip(rec.pair_keys[has].tolist(), (u[has] / PER_MB).tolist()))}
    return alpha, info


def _top_per_step(start: np.ndarray, end: np.ndarray, steps: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Given intervals [start, end) in order of decreasing value, each step's first k intervals that
    cover it: (step, interval index) pairs. Steps that have their k are skipped by a union-find
    pointer to the next open step, so the work is O(k * steps + intervals)."""
    nxt = list(range(steps + 1))  # nxt[t]: a step >= t that may still be open (steps: none)
    filled = [0] * steps
    out_t, out_i = [], []

    def find(t: int) -> int:
        while nxt[t] != t:
            nxt[t] = nxt[nxt[t]]
            t = nxt[t]
        return t

    for i, (a, b) in enumerate(zip(start.tolist(), end.tolist())):
        t = find(a)
        while t < b:
            out_t.append(t)
            out_i.append(i)
            filled[t] += 1
            if filled[t] == k:
                nxt[t] = t + 1
            t = find(t + 1)
    return np.array(out_t, dtype=np.int64), np.array(out_i, dtype=np.int64)


def _range_min_table(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sparse table: row k holds the minimum of values[i : i + 2**k] and where it is (inf past the end)."""
    T = len(values)
    K = max(1, int(T).bit_length())
    low, at = np.full((K, T), np.inf), np.zeros((K, T), dtype=np.int32)
    low[0], at[0] = values, np.arange(T)
    for k in range(1, K):
        h, m = 1 << (k - 1), T - (1 << k) + 1
        left, right = low[k - 1, :m], low[k - 1, h:h + m]
        pick = right < left
        low[k, :m] = np.where(pick, right, left)
        at[k, :m] = np.where(pick, at[k - 1, h:h + m], at[k - 1, :m])
    return low, at


def _range_min(low: np.ndarray, at: np.ndarray, start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Minimum of the tabled values over each [start, end) (end > start), and the step where it is."""
    k = np.frexp((end - start).astype(np.float64))[1] - 1  # floor(log2(length))
    right = end - (1 << k)
    a, b = low[k, start], low[k, right]
    pick = b < a
    return np.where(pick, b, a), np.where(pick, at[k, right], at[k, start])


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
