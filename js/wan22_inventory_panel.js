// Feature: the volume's readiness in a sidebar tab, and one toast at start-up when the volume
// cannot serve any Wan 2.2 workflow. Data: GET /wan22/inventory (ComfyUI's configured folders);
// under it, what the prefetcher read for the last prompt (GET /wan22/prefetch, fetched again when
// a prompt starts or ends while the tab is open, and every 1.5 s while a prefetch is running).

import { api } from "../../scripts/api.js";
import { app } from "../../scripts/app.js";
import { getInventory, getPrefetch } from "./lib/api.js";
import { renderCheckWorkflow } from "./lib/check_workflow.js";
import { ensureStyles, h } from "./lib/dom.js";
import { renderFetchCommands } from "./lib/fetch_command.js";
import { readyCounts, renderPrefetch, renderReport, servesNothing } from "./lib/inventory_view.js";

const TAB_ID = "wan22-inventory";
const state = { report: null, error: null, loading: null, at: null, listeners: new Set(), prefetch: null, prefetchError: null,
  prefetchTimer: null };

function notify() {
  for (const fn of state.listeners) {
    try {
      fn();
    } catch (e) {
      console.warn("[wan22] inventory panel update failed:", e);
    }
  }
}

async function refreshPrefetch() {
  clearTimeout(state.prefetchTimer);
  try {
    state.prefetch = await getPrefetch();
    state.prefetchError = null;
  } catch (e) {
    state.prefetchError = e;
  }
  notify();
  if (state.prefetch?.running && state.listeners.size) state.prefetchTimer = setTimeout(refreshPrefetch, 1500);
}

function refresh() {
  if (state.loading) return state.loading;
  const run = async () => {
    try {
      state.report = await getInventory();
      state.error = null;
      await refreshPrefetch();
      state.at = new Date();
    } catch (e) {
      state.error = e;
    }
  };
  state.loading = run().finally(() => {
    state.loading = null;
    notify();
  });
  notify();
  return state.loading;
}

function renderPanel(root) {
  ensureStyles();
  const button = h("button", { class: "wan22-btn", type: "button", title: "Look at the volume again", dataset: { wan22Refresh: "" } },
    h("i", { class: "pi pi-refresh", style: { marginRight: "6px", fontSize: "12px" } }), "Refresh");
  const status = h("div", { class: "wan22-muted", dataset: { wan22Status: "" } });
  const body = h("div", { dataset: { wan22Body: "" } });
  const panel = h("div", { class: "wan22-panel", dataset: { wan22Panel: "" } },
    h("div", { class: "wan22-panel-head" }, h("span", { class: "wan22-title" }, "Wan 2.2 volume"), button),
    status, renderCheckWorkflow(app), body);
  button.addEventListener("click", () => refresh());

  const update = () => {
    button.disabled = !!state.loading;
    panel.dataset.loading = String(!!state.loading);
    if (state.loading && !state.report) status.textContent = "Reading the model folders…";
    else if (state.loading) status.textContent = "Refreshing…";
    else if (state.at) status.textContent = `Checked ${state.at.toLocaleTimeString()} · headers only, nothing written`;
    body.replaceChildren();
    if (state.error) {
      body.append(h("div", { class: "wan22-error", dataset: { wan22Error: "" } }, `Inventory unavailable: ${state.error.message}`));
    }
    if (state.report) {
      const report = renderReport(state.report);
      const fill = renderFetchCommands(state.report);  // right under the workflow cards
      const grid = report.querySelector(".wan22-wf-grid");
      if (fill && grid) grid.after(fill);
      else if (fill) report.append(fill);
      body.append(report);
    }
    if (state.prefetch) body.append(renderPrefetch(state.prefetch));
    if (state.prefetchError) {
      body.append(h("div", { class: "wan22-muted", dataset: { wan22PrefetchError: "" } }, `Prefetch state unavailable: ${state.prefetchError.message}`));
    }
  };
  state.listeners.add(update);
  update();
  root.replaceChildren(panel);
  if (!state.report && !state.loading) refresh();
  return () => state.listeners.delete(update);
}

let unmount = null;
let toastShown = false;

function toastIfNothingRuns() {
  if (toastShown || !state.report || !servesNothing(state.report)) return;
  toastShown = true;
  const { total } = readyCounts(state.report);
  const blocking = [...new Set(Object.values(state.report.workflows ?? {})
    .flatMap((st) => (st.blocking ?? []).map((b) => `${b.name} (${b.status})`)))];
  const problems = state.report.problems ?? [];
  const why = problems.length ? `Configuration: ${problems[0]}`
    : `${blocking.length} file finding(s) block them${blocking.length ? `, e.g. ${blocking.slice(0, 2).join(", ")}` : ""}.`;
  const detail = `0 of ${total} workflows ready. ${why} Open the Wan 2.2 sidebar tab for every finding and its fix.`;
  const toast = app.extensionManager?.toast;
  if (toast && typeof toast.add === "function") {
    toast.add({ severity: "warn", summary: "Wan 2.2: this volume cannot run any workflow", detail, life: 20000 });
  } else {
    console.warn(`[wan22] this volume cannot run any workflow. ${detail}`);
  }
}

app.registerExtension({
  name: "wan22.inventoryPanel",
  async setup() {
    const em = app.extensionManager;
    if (em && typeof em.registerSidebarTab === "function") {
      em.registerSidebarTab({
        id: TAB_ID,
        icon: "pi pi-server",
        title: "Wan 2.2",
        tooltip: "Wan 2.2 volume: which workflows can run, and why not",
        type: "custom",
        render: (el) => {
          unmount?.();
          unmount = renderPanel(el);
        },
        destroy: () => {
          unmount?.();
          unmount = null;
        },
      });
    } else {
      console.warn("[wan22] this ComfyUI frontend has no extensionManager.registerSidebarTab: the Wan 2.2 inventory tab is unavailable (the Wan22VolumeInventory node still works)");
    }
    for (const ev of ["execution_start", "execution_success", "execution_error", "execution_interrupted"]) {
      api.addEventListener(ev, () => {
        if (state.listeners.size) refreshPrefetch();
      });
    }
    // Not awaited: start-up never waits on the volume.
    refresh().then(() => {
      if (state.error) console.warn(`[wan22] inventory at start-up: ${state.error.message}`);
      toastIfNothingRuns();
    });
  },
});
