// Browser driver for tests/browser/test_preview_renderers.py: the router's plan preview under both
// node renderers of the frontend, the classic canvas and Nodes 2.0 (`Comfy.VueNodes.Enabled`), in
// one headless Debian chromium session through playwright-core against a real ComfyUI server. It
// only observes (what the page shows where the router is) and writes a results JSON; the Python
// tests make the assertions.
//
//   node drive_preview.mjs INPUT.json
//
// INPUT: {url, chromium, artifacts, results, renderers: ["classic", "nodes2"], plan_cases: [{id, widgets}]}.
// Phases, per renderer R (results.phases["R:phase"]):
//   load    a workflow with one router (i2v / fast) loaded with app.loadGraphData
//   cases   (nodes2 only; drive.mjs covers the classic canvas) every plan case set on the widgets
//   edit    mode changed to t2v with the mouse (the canvas combo's arrow; Nodes 2.0's select), then
//           a click on the empty canvas
//   undo    Ctrl+Z; redo: Ctrl+Y
//   silent  widget.value assigned with no callback and no canvas draw (what other extensions do)
//   reload  another workflow with the same node id loaded over it
//   layout  the preview's spare height and the space between it and the node's bottom
//   remove  the router removed from the graph: no preview element left on the page
// Each phase records what is on screen: every preview element in the document, and which one
// belongs to the router now in the graph.
//
// Hermetic: every request that is not to the loopback server is aborted and recorded.

import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { chromium } = require("playwright-core");

const input = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
fs.mkdirSync(input.artifacts, { recursive: true });
const LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic", "--disable-dev-shm-usage"];
const DEFAULTS = { mode: "i2v", preset: "fast", steps: 0, cfg: 0, shift: 0, split_step: -1, sampler_name: "auto", scheduler: "auto",
  lora_high: "auto", lora_low: "auto", lora_strength: 0, relight: true };
const ORDER = Object.keys(DEFAULTS);

const results = { phases: {}, console: [], pageErrors: [], aborted: [], timings: {}, screenshots: {}, frontend_version: null };
let phase = "boot";
const T0 = Date.now();
const save = () => fs.writeFileSync(input.results, JSON.stringify(results, null, 1));
const log = (msg) => process.stdout.write(`[drive_preview ${((Date.now() - T0) / 1000).toFixed(1)}s] ${msg}\n`);

/** A workflow (UI format) with one router, node id 1, and these widget values. */
function routerWorkflow(values, size = [440, 400]) {
  const v = { ...DEFAULTS, ...values };
  return { last_node_id: 1, last_link_id: 0, version: 0.4, links: [], groups: [], config: {}, extra: {},
    nodes: [{ id: 1, type: "Wan22ModeRouter", pos: [120, 110], size, flags: {}, order: 0, mode: 0,
      inputs: [], outputs: [], properties: {}, widgets_values: ORDER.map((k) => v[k]) }] };
}

async function shot(page, name, clip) {
  const file = path.join(input.artifacts, `${name}.png`);
  await page.screenshot({ path: file, ...(clip ? { clip } : {}) });
  results.screenshots[name] = file;
}

async function step(page, name, fn) {
  phase = name;
  const t = Date.now();
  log(`phase ${name}`);
  try {
    results.phases[name] = { ok: true, ...((await fn()) ?? {}) };
  } catch (e) {
    results.phases[name] = { ok: false, error: String(e?.stack ?? e) };
    log(`phase ${name} FAILED: ${String(e?.message ?? e).split("\n")[0]}`);
    await shot(page, `failure_${name.replace(":", "_")}`).catch(() => {});
  }
  results.timings[name] = Date.now() - t;
  save();
}

async function installHelpers(page) {
  await page.evaluate(() => {
    const W = (window.__wan22preview = {});
    const nodes = () => [...(window.app.graph._nodes ?? window.app.graph.nodes ?? [])];
    W.router = () => nodes().find((n) => n.type === "Wan22ModeRouter" || n.comfyClass === "Wan22ModeRouter") ?? null;
    W.values = (node) => Object.fromEntries((node?.widgets ?? []).filter((w) => w.name !== "wan22_plan_preview").map((w) => [w.name, w.value]));
    W.setWidget = (node, name, value) => {
      // as a widget edit does: the value, then the widget's callback
      const w = node.widgets.find((x) => x.name === name);
      if (!w) throw new Error(`no widget ${name}`);
      const old = w.value;
      w.value = value;
      w.callback?.(value, window.app.canvas, node);
      node.onWidgetChanged?.(name, value, old, w);
    };
    /** What the page shows: every preview element in the document, and the router's own. */
    W.shown = () => {
      const node = W.router();
      const own = node?.widgets?.find((w) => w.name === "wan22_plan_preview")?.element ?? null;
      const text = (el, sel) => el.querySelector(sel)?.innerText ?? "";
      const els = [...document.querySelectorAll("[data-wan22-preview]")];
      const view = (el) => {
        const canvas = el.querySelector("canvas");
        const r = el.getBoundingClientRect();
        return {
          own: el === own,
          state: el.dataset.state,
          key: el.dataset.planKey ?? null,
          head: text(el, "[data-wan22-preview-head]"),
          settings: text(el, "[data-wan22-preview-settings]"),
          stages: [...el.querySelectorAll("[data-wan22-stage]")].map((s) => ({
            expert: s.dataset.expert, text: s.innerText,
            loras: [...s.querySelectorAll("[data-wan22-lora]")].map((l) => ({ file: l.dataset.wan22Lora, strength: Number(l.dataset.strength), text: l.innerText })),
          })),
          notes: text(el, "[data-wan22-preview-notes]"),
          error: text(el, "[data-wan22-preview-error]"),
          chart: canvas ? { ...canvas.dataset, width: canvas.width, height: canvas.height, visible: canvas.offsetParent !== null } : null,
          visible: el.offsetParent !== null && r.height > 50 && r.bottom > 0 && r.top < window.innerHeight,
          in_vue_node: el.closest("[data-node-id]")?.dataset.nodeId ?? null,
        };
      };
      return {
        node_id: node ? String(node.id) : null,
        values: W.values(node),
        vue_nodes: document.querySelectorAll("[data-node-id]").length,
        previews: els.map(view),
      };
    };
    /** Waits until exactly one preview is on the page, it is the router's own, it is settled and
     * shows the router's current mode / preset; on the timeout returns what is shown anyway. */
    W.settle = async (timeout = 15000) => {
      const t0 = Date.now();
      let st = W.shown();
      while (Date.now() - t0 < timeout) {
        st = W.shown();
        const [p] = st.previews;
        const head = `${st.values.mode} / ${st.values.preset}`;
        if (st.previews.length === 1 && p.own && ["ready", "error"].includes(p.state)
            && (p.head.startsWith(head) || p.head.includes(`${head} ·`) || p.head.endsWith(head))) {
          await new Promise((r) => setTimeout(r, 300)); // a debounced request would have started by now
          const again = W.shown();
          if (JSON.stringify(again) === JSON.stringify(st)) return { settled: true, ms: Date.now() - t0, ...st };
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      return { settled: false, ms: Date.now() - t0, ...st };
    };
    W.waitValues = async (want, timeout = 30000) => {
      const t0 = Date.now();
      while (Date.now() - t0 < timeout) {
        const v = W.values(W.router());
        if (Object.entries(want).every(([k, x]) => v[k] === x)) return true;
        await new Promise((r) => setTimeout(r, 50));
      }
      return false;
    };
    /** The change tracker's undo / redo depth and the focused element (for the failure messages). */
    W.history = () => {
      const ct = window.app.extensionManager?.workflow?.activeWorkflow?.changeTracker;
      const router = (st) => st?.nodes?.find((n) => n.type === "Wan22ModeRouter");
      const modes = (q) => (q ?? []).map((st) => router(st)?.widgets_values?.[0] ?? null);
      // The router's size in each undo state and the current one, and on the canvas: a step that
      // differs from the next only in size is layout recorded as an edit.
      return { undo: modes(ct?.undoQueue), redo: modes(ct?.redoQueue), active: modes([ct?.activeState])[0],
        focus: document.activeElement?.tagName ?? null, live: [...(W.router()?.size ?? [])],
        sizes: [...(ct?.undoQueue ?? []), ct?.activeState].map((st) => router(st)?.size ?? null) };
    };
    W.layout = () => {
      const node = W.router();
      const el = node.widgets.find((w) => w.name === "wan22_plan_preview").element;
      const inner = el.querySelector(".wan22-preview-inner");
      const scale = window.app.canvas.ds.scale;
      const host = el.closest("[data-node-id]");
      let nodeBottom;
      if (host) nodeBottom = host.getBoundingClientRect().bottom;
      else {
        const ds = window.app.canvas.ds;
        const r = window.app.canvas.canvas.getBoundingClientRect();
        nodeBottom = (node.pos[1] + node.size[1] + ds.offset[1]) * scale + r.top;
      }
      const er = el.getBoundingClientRect();
      const ir = inner.getBoundingClientRect();
      return {
        renderer: host ? "nodes2" : "classic",
        size: [...node.size],
        // graph units (the canvas's scale divided out)
        spare_in_preview: (er.height - ir.height) / scale,
        below_preview: (nodeBottom - er.bottom) / scale,
        below_content: (nodeBottom - ir.bottom) / scale,
      };
    };
  });
}

async function clickEmptyCanvas(page) {
  // The right half of the canvas is empty (the router sits at the left); a click there is a user's
  // click: the change tracker records the graph's state on mouseup. (One click: two in a row are a
  // double click, which opens the node search box and takes the keyboard.)
  await page.mouse.click(1300, 760);
  await page.waitForTimeout(300);
}

/** Classic canvas: the mode combo's right arrow (the next mode). Nodes 2.0: the mode select, then
 * the option "t2v" in its list. */
async function editModeWithTheMouse(page, vue) {
  if (vue) {
    const node = await page.evaluate(() => String(window.__wan22preview.router().id));
    await page.locator(`[data-node-id="${node}"]`).getByRole("combobox", { name: "mode" }).click();
    await page.getByRole("option", { name: "t2v", exact: true }).click();
    return;
  }
  const xy = await page.evaluate(() => {
    const node = window.__wan22preview.router();
    const w = node.widgets.find((x) => x.name === "mode");
    const ds = window.app.canvas.ds;
    const r = window.app.canvas.canvas.getBoundingClientRect();
    const h = window.LiteGraph.NODE_WIDGET_HEIGHT ?? 20;
    return [(node.pos[0] + node.size[0] - 22 + ds.offset[0]) * ds.scale + r.left, (node.pos[1] + w.y + h / 2 + ds.offset[1]) * ds.scale + r.top];
  });
  await page.mouse.click(xy[0], xy[1]);
}

async function nodeClip(page) {
  const r = await page.evaluate(() => {
    const W = window.__wan22preview;
    const node = W.router();
    const host = document.querySelector(`[data-node-id="${node.id}"]`);
    if (host) {
      const b = host.getBoundingClientRect();
      return { x: b.x, y: b.y, width: b.width, height: b.height };
    }
    const ds = window.app.canvas.ds;
    const c = window.app.canvas.canvas.getBoundingClientRect();
    const th = window.LiteGraph.NODE_TITLE_HEIGHT ?? 30;
    return { x: (node.pos[0] + ds.offset[0]) * ds.scale + c.left, y: (node.pos[1] - th + ds.offset[1]) * ds.scale + c.top,
      width: node.size[0] * ds.scale, height: (node.size[1] + th) * ds.scale };
  });
  const x = Math.max(0, r.x - 12);
  const y = Math.max(0, r.y - 12);
  return { x, y, width: Math.min(1440 - x, r.width + 24), height: Math.min(1080 - y, r.height + 24) };
}

async function loadRouter(page, values, size) {
  await page.evaluate(async (wf) => {
    await window.app.loadGraphData(wf, true, false, "wan22_preview");
    const ds = window.app.canvas.ds;
    ds.scale = 1;
    ds.offset[0] = 380;
    ds.offset[1] = 0;
    window.app.canvas.setDirty(true, true);
  }, routerWorkflow(values, size));
}

async function runRenderer(page, r) {
  const vue = r === "nodes2";
  const settle = () => page.evaluate(() => window.__wan22preview.settle());
  await step(page, `${r}:load`, async () => {
    await page.evaluate((on) => window.app.extensionManager.setting.set("Comfy.VueNodes.Enabled", on), vue);
    await page.waitForTimeout(800);
    await loadRouter(page, { mode: "i2v", preset: "fast" });
    const shown = await settle();
    await shot(page, `preview_${r}`, await nodeClip(page));
    return { shown, vue_nodes_mode: await page.evaluate(() => !!window.LiteGraph.vueNodesMode) };
  });
  if (vue) {
    await step(page, `${r}:cases`, async () => {
      const cases = [];
      for (const c of input.plan_cases) {
        await page.evaluate(({ widgets, defaults }) => {
          const W = window.__wan22preview;
          const node = W.router();
          const values = { ...defaults, ...widgets };
          W.setWidget(node, "mode", values.mode);
          for (const [k, v] of Object.entries(values)) if (k !== "mode") W.setWidget(node, k, v);
        }, { widgets: c.widgets, defaults: DEFAULTS });
        cases.push({ id: c.id, widgets: c.widgets, shown: await settle() });
        if (c.screenshot) await shot(page, `${c.screenshot}_${r}`, await nodeClip(page));
      }
      await loadRouter(page, { mode: "i2v", preset: "fast" });
      await settle();
      return { cases };
    });
  }
  await step(page, `${r}:edit`, async () => {
    // A router saved smaller than its preview (an older file, another tool): the preview grows the
    // node after the load and again after each undo, and that growth must not become a step of the
    // undo history (it would empty the redo queue: Ctrl+Y after Ctrl+Z would do nothing).
    await loadRouter(page, { mode: "i2v", preset: "fast" }, [440, 160]);
    await settle();
    await page.waitForTimeout(300);
    const loaded = await page.evaluate(() => window.__wan22preview.history());
    // A user's edit: the mode combo i2v -> t2v, with the mouse (the change tracker records it).
    await editModeWithTheMouse(page, vue);
    const reached = await page.evaluate(() => window.__wan22preview.waitValues({ mode: "t2v" }));
    await clickEmptyCanvas(page);
    const shown = await settle();
    await page.waitForTimeout(300);
    return { reached, shown, history: { loaded, edited: await page.evaluate(() => window.__wan22preview.history()) } };
  });
  await step(page, `${r}:undo`, async () => {
    const before = await page.evaluate(() => window.__wan22preview.history());
    await page.keyboard.press("Control+z");
    const reached = await page.evaluate(() => window.__wan22preview.waitValues({ mode: "i2v", preset: "fast" }));
    const shown = await settle();
    await shot(page, `preview_${r}_undo`, await nodeClip(page));
    return { reached, shown, history: { before, after: await page.evaluate(() => window.__wan22preview.history()) } };
  });
  await step(page, `${r}:redo`, async () => {
    const before = await page.evaluate(() => window.__wan22preview.history());
    await page.keyboard.press("Control+y");
    const reached = await page.evaluate(() => window.__wan22preview.waitValues({ mode: "t2v", preset: "fast" }));
    return { reached, shown: await settle(), history: { before, after: await page.evaluate(() => window.__wan22preview.history()) } };
  });
  await step(page, `${r}:silent`, async () => {
    await page.evaluate(() => {
      const node = window.__wan22preview.router();
      node.widgets.find((w) => w.name === "mode").value = "s2v"; // no callback, no onWidgetChanged, no draw
    });
    return { shown: await settle() };
  });
  await step(page, `${r}:reload`, async () => {
    await loadRouter(page, { mode: "animate", preset: "quality", relight: false });
    return { shown: await settle() };
  });
  await step(page, `${r}:layout`, async () => {
    await page.waitForTimeout(300);
    const layout = await page.evaluate(() => window.__wan22preview.layout());
    await shot(page, `preview_${r}_layout`, await nodeClip(page));
    return { layout };
  });
  await step(page, `${r}:remove`, async () => {
    await page.evaluate(() => {
      const W = window.__wan22preview;
      window.app.graph.remove(W.router());
      window.app.canvas.setDirty(true, true);
    });
    await page.waitForTimeout(600);
    return { shown: await page.evaluate(() => window.__wan22preview.shown()) };
  });
}

const browser = await chromium.launch({ executablePath: input.chromium, args: LAUNCH_ARGS, timeout: 60000 });
const context = await browser.newContext({ viewport: { width: 1440, height: 1080 }, deviceScaleFactor: 1 });
const page = await context.newPage();
page.on("console", (m) => results.console.push({ phase, type: m.type(), text: m.text().slice(0, 2000), url: m.location()?.url ?? "" }));
page.on("pageerror", (e) => results.pageErrors.push({ phase, text: String(e?.stack ?? e).slice(0, 2000) }));
await page.route("**/*", (route) => {
  const u = new URL(route.request().url());
  if (u.protocol === "data:" || u.protocol === "blob:" || ["127.0.0.1", "localhost", "[::1]"].includes(u.hostname)) {
    return route.continue();
  }
  results.aborted.push({ phase, url: u.href.slice(0, 300) });
  return route.abort();
});

try {
  await step(page, "boot", async () => {
    await page.goto(input.url, { waitUntil: "domcontentloaded" });
    await page.waitForFunction(() => window.app?.graph && window.app?.extensionManager && window.app?.canvas
      && window.LiteGraph?.registered_node_types?.Wan22ModeRouter, null, { timeout: 90000 });
    await page.evaluate(() => window.app.extensionManager.setting.set("Comfy.Minimap.Visible", false)).catch(() => {});
    await installHelpers(page);
    await page.waitForTimeout(1000);
    results.frontend_version = await page.evaluate(() => window.__COMFYUI_FRONTEND_VERSION__ ?? null);
    return { frontend_version: results.frontend_version };
  });
  for (const r of input.renderers) await runRenderer(page, r);
} finally {
  phase = "end";
  save();
  await browser.close();
  log("done");
}
