// Feature: Wan22VolumeInventory shows its report on the node after it runs. The node's ui output
// carries `wan22_inventory` (the report as a JSON string) and `text` (the plain-text report).

import { app } from "../../scripts/app.js";
import { ensureStyles, h } from "./lib/dom.js";
import { renderCompactReport } from "./lib/inventory_view.js";
import { fitNode } from "./lib/live_widget.js";

const NODE_ID = "Wan22VolumeInventory";
const WIDGET = "wan22_report";

function parseReport(message) {
  const raw = message?.wan22_inventory;
  const first = Array.isArray(raw) ? raw[0] : raw;
  if (first && typeof first === "object") return first;
  if (typeof first === "string") {
    try {
      return JSON.parse(first);
    } catch (e) {
      console.warn("[wan22] inventory node: unreadable report", e);
    }
  }
  return null;
}

function reportWidget(node) {
  let w = node.widgets?.find((x) => x.name === WIDGET);
  if (w) return w;
  if (typeof node.addDOMWidget !== "function") return null;
  ensureStyles();
  const inner = h("div", {});
  const el = h("div", { class: "wan22-node-report", dataset: { wan22NodeReport: "" } }, inner);
  w = node.addDOMWidget(WIDGET, "wan22_report", el, {
    serialize: false,
    getValue: () => "",
    setValue: () => {},
    getMinHeight: () => (inner.childElementCount ? Math.min(520, inner.offsetHeight + 8) : 10),
  });
  w.wan22Inner = inner;
  w.serialize = false;
  return w;
}

function showReport(node, message) {
  const report = parseReport(message);
  const text = Array.isArray(message?.text) ? message.text.join("\n") : "";
  const w = reportWidget(node);
  if (!w) {
    console.warn("[wan22] this ComfyUI frontend has no addDOMWidget: the inventory report stays in the node's text output");
    return;
  }
  const inner = w.wan22Inner ?? w.element;
  inner.replaceChildren(report ? renderCompactReport(report) : h("pre", { class: "wan22-hint" }, text || "(no report)"));
  w.element.title = text;
  if ((node.size?.[0] ?? 0) < 400) fitNode(app, node, [400, node.size?.[1] ?? 200]);
  // Grow the node to the report once the browser has laid it out.
  requestAnimationFrame(() => {
    const top = w.y ?? w.last_y;
    const needed = Number.isFinite(top) ? top + Math.min(520, inner.offsetHeight + 8) + 12 : node.computeSize?.()?.[1] ?? 0;
    if ((node.size?.[1] ?? 0) < needed) fitNode(app, node, [node.size[0], needed]);
    node.setDirtyCanvas?.(true, true);
  });
}

app.registerExtension({
  name: "wan22.inventoryNode",
  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (nodeData?.name !== NODE_ID) return;
    const onExecuted = nodeType.prototype.onExecuted;
    nodeType.prototype.onExecuted = function (message) {
      const r = onExecuted?.apply(this, arguments);
      try {
        showReport(this, message);
      } catch (e) {
        console.warn("[wan22] inventory node: could not show the report", e);
      }
      return r;
    };
  },
});
