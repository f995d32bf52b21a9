// "Check this workflow" in the Wan 2.2 sidebar: sends the graph open in the canvas (subgraphs
// included) to POST /wan22/inventory/workflow, shows what blocks it (each model file with its
// status and fix, node types this ComfyUI lacks with the pack that provides them), and marks the
// nodes at fault on the canvas (red, until the next check). The server does the judging
// (wan22/graph/reader.py + wan22/volume/workflow_check.py); nothing here decides a status.

import { checkWorkflow } from "./api.js";
import { h } from "./dom.js";
import { fileRow, statusBadge } from "./inventory_view.js";

const FAULT_COLORS = { color: "#322", bgcolor: "#533" };  // LiteGraph's "red" node colours
const marked = [];  // [{ node, color, bgcolor }] restored by the next check

function graphOf(app) {
  return app.rootGraph ?? app.graph;
}

/** The node an execution id ("12", "129:95") names, and the subgraph instances around it. */
export function nodesForExecutionId(app, id) {
  const out = [];
  let graph = graphOf(app);
  for (const part of String(id).split(":")) {
    const node = graph?.getNodeById?.(Number(part)) ?? graph?.getNodeById?.(part);
    if (!node) break;
    out.push(node);
    graph = node.subgraph;
  }
  return out;
}

export function clearFaults(app) {
  while (marked.length) {
    const m = marked.pop();
    m.node.color = m.color;
    m.node.bgcolor = m.bgcolor;
    delete m.node.wan22Fault;
  }
  graphOf(app)?.setDirtyCanvas?.(true, true);
  app.canvas?.setDirty?.(true, true);
}

function faultsByNode(report) {
  const st = report?.workflows?.workflow ?? {};
  const out = new Map();
  for (const b of st.blocking ?? []) {
    for (const id of b.nodes ?? []) {
      if (!out.has(id)) out.set(id, []);
      out.get(id).push(`${b.name}: ${b.status}`);
    }
  }
  return out;
}

/** Mark every node at fault (and the subgraph nodes that hold one) on the canvas. */
export function markFaults(app, report) {
  clearFaults(app);
  const shown = [];
  for (const [id, faults] of faultsByNode(report)) {
    for (const node of nodesForExecutionId(app, id)) {
      if (!node.wan22Fault) {
        marked.push({ node, color: node.color, bgcolor: node.bgcolor });
        node.wan22Fault = [];
      }
      node.wan22Fault.push(...faults.map((f) => `${id} ${f}`));
      Object.assign(node, FAULT_COLORS);
    }
    shown.push(id);
  }
  app.canvas?.setDirty?.(true, true);
  return shown;
}

function renderResult(el, report) {
  const st = report?.workflows?.workflow ?? {};
  const ready = !!st.ready;
  el.dataset.ready = String(ready);
  const n = st.stand_ins?.length ?? 0;
  el.append(h("div", { class: `wan22-summary ${ready ? "wan22-good" : "wan22-bad"}` },
    h("div", { style: { fontWeight: "600" } }, ready ? `This workflow can run${n ? ` (${n} stand-in${n === 1 ? "" : "s"})` : ""}`
      : `This workflow cannot run: ${st.blocking?.length ?? 0} blocking`),
    h("div", { class: "wan22-muted" }, `${report.files?.length ?? 0} model file(s) referenced · headers only, nothing written`)));
  for (const b of st.blocking ?? []) {
    // a file's hint is on its row below; a missing node type's, an unjudged input's or a config error's is here
    const own = b.role === "node_type" || b.role === "config" || b.role === "unjudged" || b.role === "pairing";
    el.append(h("div", { class: "wan22-wf-block", dataset: { wan22Blocking: b.name, status: b.status } },
      statusBadge(b.status, report), " ", own && b.role === "node_type" ? `node type ${b.name}` : b.name,
      (b.nodes ?? []).length ? h("span", { class: "wan22-muted" }, ` · node ${b.nodes.join(", ")}`) : null,
      own && b.hint ? h("div", { class: "wan22-hint" }, b.hint) : null));
  }
  for (const id of st.nodes_at_fault ?? []) el.append(h("span", { dataset: { wan22FaultNode: id }, hidden: true }));
  for (const w of st.warnings ?? []) el.append(h("div", { class: "wan22-warn" }, w));
  const usable = new Set(report.usable ?? ["ok", "stand_in"]);
  const files = [...(report.files ?? [])].sort((a, b) => Number(usable.has(a.status)) - Number(usable.has(b.status)));
  if (files.length) el.append(h("div", { class: "wan22-files" }, files.map((f) => fileRow(f, report))));
}

/** The button and its result area, for the sidebar panel. */
export function renderCheckWorkflow(app) {
  const result = h("div", { class: "wan22-report", dataset: { wan22CheckResult: "", state: "idle" } });
  const button = h("button", { class: "wan22-btn", type: "button", dataset: { wan22CheckWorkflow: "" },
    title: "Check the model files of the workflow open in the canvas (subgraphs included) and mark the nodes at fault" },
  h("i", { class: "pi pi-search", style: { marginRight: "6px", fontSize: "12px" } }), "Check this workflow");
  button.addEventListener("click", async () => {
    button.disabled = true;
    result.dataset.state = "loading";
    result.replaceChildren(h("div", { class: "wan22-muted" }, "Checking the workflow's model files…"));
    try {
      const workflow = graphOf(app).serialize();
      const report = await checkWorkflow(workflow);
      result.replaceChildren();
      renderResult(result, report);
      markFaults(app, report);
      result.dataset.state = "done";
    } catch (e) {
      result.replaceChildren(h("div", { class: "wan22-error", dataset: { wan22Error: "" } }, `Check failed: ${e?.message ?? e}`));
      result.dataset.state = "error";
    } finally {
      button.disabled = false;
    }
  });
  return h("div", { class: "wan22-check", dataset: { wan22Check: "" } }, h("h3", {}, "This workflow"), button, result);
}
