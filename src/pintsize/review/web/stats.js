// The stats page: tables from /api/stats and a small SVG learning curve.
"use strict";

const fmt = (x, digits = 3) => (x === null || x === undefined ? "" : Number(x).toFixed(digits));

function fillTable(id, rows, empty) {
  const body = document.querySelector(`#${id} tbody`);
  body.replaceChildren();
  if (rows.length === 0) {
    const td = document.createElement("td");
    td.colSpan = document.querySelectorAll(`#${id} th`).length;
    td.className = "none";
    td.textContent = empty;
    body.append(document.createElement("tr"));
    body.lastChild.append(td);
  }
  for (const cells of rows) {
    const tr = document.createElement("tr");
    for (const cell of cells) {
      const td = document.createElement("td");
      td.textContent = String(cell);
      tr.append(td);
    }
    body.append(tr);
  }
}

function svg(tag, attrs, text) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}

function drawCurve(points) {
  const plot = document.getElementById("curve");
  plot.replaceChildren();
  const [w, h, left, bottom, top, right] = [640, 260, 48, 40, 12, 16];
  plot.classList.toggle("hidden", points.length === 0);
  if (points.length === 0) return;
  const maxN = Math.max(...points.map((p) => p.n_labels));
  const x = (n) => left + ((w - left - right) * n) / maxN;
  const y = (acc) => h - bottom - (h - bottom - top) * acc;
  for (const acc of [0, 0.25, 0.5, 0.75, 1]) {
    plot.append(svg("line", { x1: left, x2: w - right, y1: y(acc), y2: y(acc), class: "grid" }));
    plot.append(svg("text", { x: left - 6, y: y(acc) + 4, "text-anchor": "end", class: "axis" }, acc.toFixed(2)));
  }
  plot.append(svg("text", { x: (w + left) / 2, y: h - 6, "text-anchor": "middle", class: "axis" }, "human labels used for training"));
  plot.append(svg("polyline", { points: points.map((p) => `${x(p.n_labels)},${y(p.accuracy)}`).join(" "), class: "line" }));
  for (const p of points) {
    plot.append(svg("text", { x: x(p.n_labels), y: h - bottom + 14, "text-anchor": "middle", class: "axis" }, String(p.n_labels)));
    const dot = svg("circle", { cx: x(p.n_labels), cy: y(p.accuracy), r: 4, class: "dot" });
    dot.append(svg("title", {}, `${p.n_labels} labels: ${fmt(p.accuracy)}`));
    plot.append(dot);
  }
}

signOutButton("sign-out");

(async () => {
  const me = await api.me();
  document.getElementById("reviewer").textContent = me.reviewer;
  const stats = await api.call("GET", "/api/stats");
  fillTable("sources", stats.sources.map((s) => [s.source, s.queued, s.labelled, s.accept, s.reject]), "the queue is empty");
  fillTable(
    "agreement",
    stats.agreement.map((a) => [a.reviewers.join(" · "), a.documents, `${(100 * a.agreement).toFixed(0)}%`, fmt(a.kappa), fmt(a.educational_kappa)]),
    "no document has two reviewers' labels yet",
  );
  document.getElementById("llm-documents").textContent = String(stats.llm_documents);
  fillTable(
    "llm-agreement",
    stats.llm_agreement.map((a) => [a.reviewers[0], a.documents, `${(100 * a.agreement).toFixed(0)}%`, fmt(a.kappa), fmt(a.educational_kappa)]),
    "no document has both a reviewer's label and an LLM label",
  );
  fillTable(
    "curve-table",
    stats.learning_curve.map((p) => [p.n_labels, fmt(p.accuracy), p.n_test, p.computed.slice(0, 19).replace("T", " ")]),
    "not computed yet: run pintsize review curve",
  );
  drawCurve(stats.learning_curve);
})();
