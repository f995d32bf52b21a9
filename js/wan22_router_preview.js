// Feature: a live plan preview on Wan22ModeRouter. Whenever mode, preset or an override changes
// (the LoRA choices included), it sends every widget value to GET /wan22/plan, which runs the
// node's own rules and code (wan22/plan) on ComfyUI's own sigmas, and shows which expert runs
// which steps with which LoRA at what strength, cfg / sampler / scheduler / shift, and a chart of
// the sigma schedule with the MoE boundary and the split step. A refused pairing shows its error.

import { api } from "../../scripts/api.js";
import { app } from "../../scripts/app.js";
import { getPlan, PLAN_WIDGETS, planQuery } from "./lib/api.js";
import { ensureStyles, fmtNum, h, STAGE_COLORS, stageKind } from "./lib/dom.js";
import { fitNode, LiveElements, watchValue } from "./lib/live_widget.js";
import { drawPlanChart, isBaseStage, stageBand, stageOfStep } from "./lib/plan_chart.js";

const NODE_ID = "Wan22ModeRouter";
const WIDGET = "wan22_plan_preview";
const DEBOUNCE_MS = 250;
const WATCHED = PLAN_WIDGETS;
const KIND_TEXT = { high: "high-noise expert", low: "low-noise expert", single: "model" };
// Every preview on the page (the elements of removed nodes leave it: see lib/live_widget.js).
const PREVIEWS = new LiveElements("[data-wan22-preview]", () => app.canvas?.graph);

function widgetValues(node) {
  const out = {};
  for (const name of WATCHED) {
    const w = node.widgets?.find((x) => x.name === name);
    if (w) out[name] = w.value;
  }
  return out;
}

class PlanPreview {
  constructor(node) {
    this.node = node;
    this.wantedKey = null;
    this.shownKey = null;
    this.timer = null;
    this.abort = null;
    this.seq = 0;
    this.plan = null;
    this.error = null;
    this.head = h("div", { class: "wan22-preview-head", dataset: { wan22PreviewHead: "" } }, "Wan 2.2 plan…");
    this.settings = h("div", { dataset: { wan22PreviewSettings: "" } });
    this.canvas = h("canvas", { dataset: { wan22Chart: "" }, "aria-label": "sigma schedule" });
    this.stages = h("div", { dataset: { wan22PreviewStages: "" } });
    this.notes = h("div", { dataset: { wan22PreviewNotes: "" } });
    this.inner = h("div", { class: "wan22-preview-inner", style: { display: "flex", flexDirection: "column", gap: "4px" } },
      this.head, this.settings, this.canvas, this.stages, this.notes);
    this.el = h("div", { class: "wan22-preview", dataset: { wan22Preview: "", state: "idle" } }, this.inner);
    if (typeof ResizeObserver === "function") {
      this.resize = new ResizeObserver(() => this.draw());
      this.resize.observe(this.canvas);
    }
  }

  /** Cheap: compares the widget values with what was last asked for; fetches (debounced) on change. */
  check() {
    if (this.removed) return;
    const values = widgetValues(this.node);
    if (!values.mode || !values.preset) return;
    const key = planQuery(values).toString();
    if (key === this.wantedKey) return;
    this.wantedKey = key;
    clearTimeout(this.timer);
    this.el.dataset.state = "pending";
    this.timer = setTimeout(() => this.fetch(values, key), DEBOUNCE_MS);
  }

  async fetch(values, key) {
    this.abort?.abort();
    const ac = typeof AbortController === "function" ? new AbortController() : null;
    this.abort = ac;
    const seq = ++this.seq;
    this.el.dataset.state = "loading";
    try {
      const plan = await getPlan(values, { signal: ac?.signal });
      if (seq !== this.seq) return;
      this.plan = plan;
      this.error = null;
      this.render(values, key);
    } catch (e) {
      if (e?.name === "AbortError" || seq !== this.seq) return;
      this.plan = null;
      this.error = e;
      this.render(values, key);
    }
  }

  render(values, key) {
    const plan = this.plan;
    this.shownKey = key;
    this.el.dataset.planKey = key;
    this.notes.replaceChildren();
    if (!plan) {
      this.el.dataset.state = "error";
      this.head.replaceChildren(`Wan 2.2 ${values.mode} / ${values.preset}`, h("span", { class: "wan22-muted" }, " · no plan"));
      this.settings.replaceChildren();
      this.stages.replaceChildren();
      this.canvas.style.display = "none";
      this.notes.append(h("div", { class: "wan22-error", dataset: { wan22PreviewError: "" } }, this.error?.message ?? "no plan"));
      this.fit();
      return;
    }
    this.el.dataset.state = "ready";
    this.canvas.style.display = "";
    this.head.replaceChildren(`${plan.mode} / ${plan.preset}`, h("span", { class: "wan22-muted" }, ` → workflow ${plan.workflow}`));
    const split = plan.boundary === null || plan.boundary === undefined ? ""
      : ` · boundary ${Number(plan.boundary).toFixed(3)} → split @ step ${plan.split_step}`;
    this.settings.replaceChildren(
      `${plan.steps} steps · cfg ${fmtNum(plan.cfg)} · ${plan.sampler} / ${plan.scheduler} · shift ${fmtNum(plan.shift)}${split}`);
    const n = plan.stages.length;
    const ownCfg = new Set(plan.stages.map((st) => st.cfg ?? plan.cfg)).size > 1;
    this.stages.replaceChildren(...plan.stages.map((st, k) => {
      const kind = stageKind(st, k, n);
      const color = stageBand(plan, k).color ?? STAGE_COLORS[kind];
      const loras = st.loras ?? [];
      return h("div", { class: "wan22-stage", dataset: { wan22Stage: String(k), expert: st.expert, cfg: String(st.cfg ?? plan.cfg) } },
        h("span", { class: "wan22-swatch", style: { background: color } }),
        h("div", { class: "wan22-stage-main" },
          h("div", {}, h("span", { class: "wan22-stage-steps" }, `steps ${st.start_step}–${st.end_step}`), " · ",
            h("b", { style: { color } }, `${isBaseStage(plan.stages, k) ? "base: " : ""}${KIND_TEXT[kind]}`),
            ...(ownCfg ? [" · ", h("span", { class: "wan22-stage-cfg" }, `cfg ${fmtNum(st.cfg ?? plan.cfg)}`)] : [])),
          h("div", { class: "wan22-ellipsis wan22-mono", title: st.expert_file }, st.expert_file),
          ...(loras.length
            ? loras.map((l) => h("div", { class: "wan22-stage-lora wan22-ellipsis", title: `${l.file} × ${fmtNum(l.strength)}`,
              dataset: { wan22Lora: l.file, strength: String(l.strength) } },
            h("span", { class: "wan22-strength" }, `LoRA × ${fmtNum(l.strength)}`), " ", h("span", { class: "wan22-mono" }, l.file)))
            : [h("div", { class: "wan22-stage-lora" }, "no LoRA")])));
    }));
    for (const w of plan.warnings ?? []) this.notes.append(h("div", { class: "wan22-warn" }, `⚠ ${w}`));
    if (plan.summary) this.notes.append(h("div", { class: "wan22-muted" }, `Preset ${plan.mode}/${plan.preset}: ${plan.summary}`));
    // The chart's data, for anyone inspecting the page (and the browser tests).
    Object.assign(this.canvas.dataset, {
      sigmas: plan.sigmas.join(","),
      boundary: plan.boundary === null || plan.boundary === undefined ? "" : String(plan.boundary),
      split: String(plan.split_step),
      owners: plan.sigmas.slice(0, -1).map((_, i) => stageOfStep(plan, i)).join(","),
    });
    this.draw();
    this.fit();
  }

  draw() {
    if (this.plan && this.canvas.isConnected && this.canvas.style.display !== "none") {
      try {
        // The bands drawn, for anyone inspecting the page (and the browser tests).
        this.canvas.dataset.bands = JSON.stringify(drawPlanChart(this.canvas, this.plan) ?? []);
      } catch (e) {
        console.warn("[wan22] plan chart:", e);
      }
    }
  }

  minHeight() {
    return Math.max(120, (this.inner.offsetHeight || 260) + 6);
  }

  fit() {
    const node = this.node;
    requestAnimationFrame(() => {
      if (this.el.closest("[data-node-id]")) {
        this.fitNodes2();
        return;
      }
      const widget = node.widgets?.find((w) => w.name === WIDGET);
      const top = widget?.y ?? widget?.last_y;
      const computed = node.computeSize?.()?.[1] ?? 0;
      const needed = Number.isFinite(top) ? top + this.inner.offsetHeight + 28 : computed;
      const w = Math.max(node.size?.[0] ?? 0, 440);
      const hgt = Math.max(node.size?.[1] ?? 0, computed, needed);
      if (w !== node.size?.[0] || hgt !== node.size?.[1]) fitNode(app, node, [w, hgt]);
      node.setDirtyCanvas?.(true, true);
    });
  }

  /** Nodes 2.0 lays the node out from its DOM, with the node's size as the minimum: grow or shrink
   * the node by what the preview lacks or has spare (never the classic renderer's widget sums,
   * which count widgets Nodes 2.0 folds away: that left ~150 px of blank space). */
  fitNodes2() {
    const node = this.node;
    const spare = this.el.offsetHeight - (this.inner.offsetHeight + 6);
    if (!this.el.offsetHeight || Math.abs(spare) < 2 || !node.size) return;
    const w = Math.max(node.size[0] ?? 0, 440);
    fitNode(app, node, [w, Math.max(80, node.size[1] - spare)]);
    node.setDirtyCanvas?.(true, true);
  }

  dispose() {
    this.removed = true;
    clearTimeout(this.timer);
    this.abort?.abort();
    this.resize?.disconnect();
  }
}

function chain(obj, method, after) {
  const orig = obj[method];
  obj[method] = function (...args) {
    const r = orig?.apply(this, args);
    try {
      after.apply(this, args);
    } catch (e) {
      console.warn(`[wan22] router preview (${method}):`, e);
    }
    return r;
  };
}

function attach(node) {
  if (node.widgets?.some((w) => w.name === WIDGET)) return;
  if (typeof node.addDOMWidget !== "function") {
    console.warn("[wan22] this ComfyUI frontend has no addDOMWidget: no plan preview on Wan22ModeRouter (GET /wan22/plan still answers)");
    return;
  }
  ensureStyles();
  const preview = new PlanPreview(node);
  const widget = node.addDOMWidget(WIDGET, "wan22_plan_preview", preview.el, {
    serialize: false,
    getValue: () => "",
    setValue: () => {},
    getMinHeight: () => preview.minHeight(),
  });
  widget.serialize = false;
  Object.defineProperty(widget, "plan", { get: () => preview.plan, configurable: true });
  node.wan22Preview = preview;

  // Values also change without a callback (undo, paste, other extensions): each assignment to a
  // watched widget's value, and each change the graph's change tracker records, runs check(),
  // which only compares strings until something really changed.
  for (const w of node.widgets ?? []) {
    if (!WATCHED.includes(w.name)) continue;
    chain(w, "callback", () => preview.check());
    watchValue(w, () => preview.check());
  }
  chain(node, "onWidgetChanged", () => preview.check());
  chain(node, "onConfigure", () => preview.check());
  chain(node, "onRemoved", () => {
    preview.dispose();
    PREVIEWS.remove(preview);
  });
  PREVIEWS.add(preview);
  preview.check();
}

api?.addEventListener?.("graphChanged", () => {
  for (const preview of PREVIEWS.live) preview.check();
  PREVIEWS.schedule();
});

app.registerExtension({
  name: "wan22.routerPreview",
  async nodeCreated(node) {
    const cls = node?.comfyClass ?? node?.constructor?.comfyClass ?? node?.type;
    if (cls !== NODE_ID) return;
    attach(node);
  },
});
