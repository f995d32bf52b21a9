// Browser driver for the browser tier: one headless Debian chromium session through
// playwright-core against a real ComfyUI server that has the pack loaded. It only *observes*
// (what is registered, what the panels and the preview show, what graphToPrompt gives, whether
// a queued prompt completes) and writes everything to a results JSON; tests/browser/test_*.py
// make the assertions, against the CLI, the API twins and the server.
//
//   node drive.mjs INPUT.json        (INPUT: written by tests/browser/conftest.py)
//
// Hermetic: every request that is not to the loopback server is aborted and recorded.

import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { TAB_BUTTON, TOAST } from "./selectors.mjs";

const require = createRequire(import.meta.url);
const { chromium } = require("playwright-core");

const input = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const ART = input.artifacts;
fs.mkdirSync(ART, { recursive: true });

export const LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic", "--disable-dev-shm-usage"];

const results = { phases: {}, console: [], pageErrors: [], aborted: [], timings: {}, screenshots: {} };
let phase = "boot";
const save = () => fs.writeFileSync(input.results, JSON.stringify(results, null, 1));

function log(msg) {
  process.stdout.write(`[drive ${((Date.now() - T0) / 1000).toFixed(1)}s] ${msg}\n`);
}
const T0 = Date.now();

function watch(page, label) {
  page.on("console", (m) => {
    const loc = m.location() ?? {};
    results.console.push({ page: label, phase, type: m.type(), text: m.text().slice(0, 2000), url: loc.url ?? "" });
  });
  page.on("pageerror", (e) => results.pageErrors.push({ page: label, phase, text: String(e?.stack ?? e).slice(0, 2000) }));
}

async function hermetic(page) {
  await page.route("**/*", (route) => {
    const u = new URL(route.request().url());
    if (u.protocol === "data:" || u.protocol === "blob:" || ["127.0.0.1", "localhost", "[::1]"].includes(u.hostname)) {
      return route.continue();
    }
    results.aborted.push({ phase, url: u.href.slice(0, 300) });
    return route.abort();
  });
}

async function shot(page, name, opts = {}) {
  const file = path.join(ART, `${name}.png`);
  await page.screenshot({ path: file, ...opts });
  results.screenshots[name] = file;
  return file;
}

async function step(page, name, fn) {
  if (input.only && !input.only.includes(name) && name !== "boot") return;
  phase = name;
  const t = Date.now();
  log(`phase ${name}`);
  try {
    results.phases[name] = { ok: true, ...((await fn()) ?? {}) };
  } catch (e) {
    results.phases[name] = { ok: false, error: String(e?.stack ?? e) };
    log(`phase ${name} FAILED: ${String(e?.message ?? e).split("\n")[0]}`);
    try {
      await shot(page, `failure_${name}`);
    } catch {
      // the page may be gone
    }
  }
  results.timings[name] = Date.now() - t;
  save();
}

async function openApp(page) {
  await page.goto(input.url, { waitUntil: "domcontentloaded" });
  await page.waitForFunction(() => window.app?.graph && window.app?.extensionManager && window.app?.canvas
    && window.LiteGraph?.registered_node_types?.Wan22ModeRouter, null, { timeout: 90000 });
  // Extensions' setup() has run once the sidebar button exists.
  await page.waitForSelector(TAB_BUTTON, { timeout: 30000 }).catch(() => {});
}

// --- in-page helpers (installed once per page) -------------------------------------------------
async function installHelpers(page) {
  await page.evaluate(() => {
    const W = (window.__wan22test = {});
    W.findWidget = (node, name) => node.widgets?.find((w) => w.name === name);
    W.setWidget = (node, name, value) => {
      const w = W.findWidget(node, name);
      if (!w) throw new Error(`no widget ${name}`);
      if (typeof w.setValue === "function") w.setValue(value, { node, canvas: window.app.canvas });
      else {
        const old = w.value;
        w.value = value;
        w.callback?.(value, window.app.canvas, node);
        node.onWidgetChanged?.(name, value, old, w);
      }
    };
    W.nodeRect = (node) => {
      const ds = window.app.canvas.ds;
      const r = window.app.canvas.canvas.getBoundingClientRect();
      const th = window.LiteGraph.NODE_TITLE_HEIGHT ?? 30;
      const x = (node.pos[0] + ds.offset[0]) * ds.scale + r.left;
      const y = (node.pos[1] - th + ds.offset[1]) * ds.scale + r.top;
      return { x, y, width: node.size[0] * ds.scale, height: (node.size[1] + th) * ds.scale };
    };
    W.toScreen = (gx, gy) => {
      const ds = window.app.canvas.ds;
      const r = window.app.canvas.canvas.getBoundingClientRect();
      return [(gx + ds.offset[0]) * ds.scale + r.left, (gy + ds.offset[1]) * ds.scale + r.top];
    };
    W.showNode = (node, scale = 1) => {
      const ds = window.app.canvas.ds;
      ds.scale = scale;
      // leave room for the sidebar on the left of the canvas
      ds.offset[0] = -node.pos[0] + 420 / scale;
      ds.offset[1] = -node.pos[1] + 110 / scale;
      window.app.canvas.setDirty(true, true);
    };
    W.previewState = (node) => {
      const w = W.findWidget(node, "wan22_plan_preview");
      if (!w) return null;
      const el = w.element;
      const canvas = el.querySelector("canvas");
      const text = (sel) => el.querySelector(sel)?.innerText ?? "";
      return {
        state: el.dataset.state,
        key: el.dataset.planKey ?? null,
        wantedKey: node.wan22Preview?.wantedKey ?? null,
        plan: w.plan ? JSON.parse(JSON.stringify(w.plan)) : null,
        head: text("[data-wan22-preview-head]"),
        settings: text("[data-wan22-preview-settings]"),
        stages: [...el.querySelectorAll("[data-wan22-stage]")].map((s) => ({
          expert: s.dataset.expert, text: s.innerText,
          loras: [...s.querySelectorAll("[data-wan22-lora]")].map((l) => ({ file: l.dataset.wan22Lora, strength: Number(l.dataset.strength), text: l.innerText })),
        })),
        notes: text("[data-wan22-preview-notes]"),
        error: text("[data-wan22-preview-error]"),
        chart: canvas ? { ...canvas.dataset, width: canvas.width, height: canvas.height, visible: canvas.offsetParent !== null } : null,
        visible: el.offsetParent !== null && el.getBoundingClientRect().height > 50,
        serializedWidgets: node.serialize().widgets_values,
        valueWidgets: node.widgets.filter((w) => w.name !== "wan22_plan_preview").length,
      };
    };
    W.waitPreview = async (node, timeout = 15000) => {
      const t0 = Date.now();
      // a draw or a callback triggers check(); force one in case the canvas is idle
      node.wan22Preview?.check();
      while (Date.now() - t0 < timeout) {
        const st = W.previewState(node);
        if (st && (st.state === "ready" || st.state === "error") && st.key && st.key === st.wantedKey) return st;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`preview did not settle: ${JSON.stringify(W.previewState(node))?.slice(0, 500)}`);
    };
    W.runAndWait = async (timeoutMs) => {
      // Queue through the real Run button when there is one, else app.queuePrompt; resolve on the
      // prompt's end (success / error / interrupt), on a rejected queue, or on the timeout.
      const api = window.comfyAPI?.api?.api;
      let promptId = null;
      const done = new Promise((resolve) => {
        const finish = (status) => (ev) => {
          if (promptId && ev.detail?.prompt_id && ev.detail.prompt_id !== promptId) return;
          resolve({ status, detail: ev.detail ?? null });
        };
        api.addEventListener("execution_success", finish("success"));
        api.addEventListener("execution_error", finish("error"));
        api.addEventListener("execution_interrupted", finish("interrupted"));
        W.onQueueResponse = (body) => {
          if (body?.prompt_id) promptId = body.prompt_id;
          else resolve({ status: "rejected", detail: body });
        };
      });
      const btn = [...document.querySelectorAll("button")].find((b) => b.innerText.trim() === "Run" && b.offsetParent !== null);
      let via;
      if (btn) {
        btn.click();
        via = "Run button";
      } else {
        window.app.queuePrompt(0, 1).catch(() => {});
        via = "app.queuePrompt";
      }
      const timeout = new Promise((resolve) => setTimeout(() => resolve({ status: "timeout" }), timeoutMs));
      const res = await Promise.race([done, timeout]);
      return { via, prompt_id: promptId, ...JSON.parse(JSON.stringify(res)) };
    };
  });
}

async function closeSidebar(page) {
  if (await page.locator("[data-wan22-panel]").count()) {
    await page.click(TAB_BUTTON);
    await page.waitForTimeout(300);
  }
}

async function newRouterGraph(page) {
  return page.evaluate(() => {
    const app = window.app;
    app.graph.clear();
    const node = window.LiteGraph.createNode("Wan22ModeRouter");
    node.pos = [100, 100];
    app.graph.add(node);
    window.__wan22test.router = node;
    window.__wan22test.showNode(node, 1);
    return { id: node.id, size: node.size, widgets: node.widgets.map((w) => [w.name, w.value, w.type]) };
  });
}

const DEFAULTS = { steps: 0, cfg: 0, shift: 0, split_step: -1, sampler_name: "auto", scheduler: "auto",
  lora_high: "auto", lora_low: "auto", lora_strength: 0, relight: true, lightning: "auto" };

async function applyCase(page, widgets) {
  return page.evaluate(async ({ widgets, defaults }) => {
    const W = window.__wan22test;
    const node = W.router;
    const values = { ...defaults, ...widgets };
    // mode first, then the rest, in one task: the preview's debounce collapses them into one request
    W.setWidget(node, "mode", values.mode);
    for (const [k, v] of Object.entries(values)) if (k !== "mode") W.setWidget(node, k, v);
    window.app.canvas.setDirty(true, true);
    return W.waitPreview(node);
  }, { widgets, defaults: DEFAULTS });
}

async function routerShot(page, name) {
  await page.waitForTimeout(250); // let the DOM widget follow the canvas
  const rect = await page.evaluate(() => window.__wan22test.nodeRect(window.__wan22test.router));
  return shot(page, name, { clip: { x: Math.max(0, rect.x - 12), y: Math.max(0, rect.y - 12), width: rect.width + 24, height: rect.height + 24 } });
}

// --- phases ------------------------------------------------------------------------------------
const browser = await chromium.launch({ executablePath: input.chromium, args: LAUNCH_ARGS, timeout: 60000 });
const context = await browser.newContext({ viewport: { width: 1440, height: 1080 }, deviceScaleFactor: 1 });
const page = await context.newPage();
watch(page, "main");
let inventoryRequests = 0;
let planRequests = 0;
page.on("response", async (r) => {
  if (r.request().method() !== "POST" || !/\/prompt$/.test(new URL(r.url()).pathname)) return;
  let body = null;
  try {
    body = await r.json();
  } catch {
    body = { status: r.status() };
  }
  await page.evaluate((b) => window.__wan22test?.onQueueResponse?.(b), body).catch(() => {});
});
page.on("request", (r) => {
  if (r.url().includes("/wan22/inventory")) inventoryRequests += 1;
  if (r.url().includes("/wan22/plan")) planRequests += 1;
});
await hermetic(page);

try {
  await step(page, "boot", async () => {
    const t = Date.now();
    await openApp(page);
    await installHelpers(page);
    // The minimap would cover the nodes in the screenshots.
    await page.evaluate(() => window.app.extensionManager.setting.set("Comfy.Minimap.Visible", false)).catch(() => {});
    await page.waitForTimeout(2500); // start-up inventory + any toast
    return page.evaluate(async ({ t, sel }) => {
      const served = await (await fetch("/extensions")).json();
      const toasts = [...document.querySelectorAll(sel)].map((e) => e.innerText);
      return {
        load_ms: Date.now() - t,
        extensions: window.app.extensions.map((e) => e.name),
        served,
        node_types: Object.keys(window.LiteGraph.registered_node_types).filter((n) => n.startsWith("Wan22")),
        toasts,
        frontend_version: window.__COMFYUI_FRONTEND_VERSION__ ?? null,
      };
    }, { t, sel: TOAST });
  });

  await step(page, "sidebar", async () => {
    await page.click(TAB_BUTTON);
    await page.waitForSelector("[data-wan22-panel][data-loading=false] [data-wan22-report]", { timeout: 30000 });
    const read = () => page.evaluate(() => {
      const panel = document.querySelector("[data-wan22-panel]");
      return {
        summary: panel.querySelector("[data-wan22-summary]")?.innerText ?? "",
        status: panel.querySelector("[data-wan22-status]")?.innerText ?? "",
        workflows: [...panel.querySelectorAll("[data-wan22-workflow]")].map((e) => ({
          id: e.dataset.wan22Workflow, ready: e.dataset.ready === "true", text: e.innerText })),
        files: [...panel.querySelectorAll("[data-wan22-file]")].map((e) => ({
          name: e.dataset.wan22File, status: e.dataset.status, size: e.querySelector(".wan22-file-size")?.innerText ?? "",
          hint: e.querySelector(".wan22-hint")?.innerText ?? "" })),
        roots: [...panel.querySelectorAll(".wan22-roots li")].map((e) => e.innerText),
        error: panel.querySelector("[data-wan22-error]")?.innerText ?? "",
        visible: panel.getBoundingClientRect().width > 100,
      };
    });
    const first = await read();
    await shot(page, "sidebar");
    // Scroll to the files and take a second picture.
    await page.evaluate(() => document.querySelector("[data-wan22-panel] .wan22-files")?.scrollIntoView());
    await shot(page, "sidebar_files");
    // Refresh: a new request, the same content.
    const before = inventoryRequests;
    await page.click("[data-wan22-refresh]");
    await page.waitForSelector("[data-wan22-panel][data-loading=false] [data-wan22-report]", { timeout: 30000 });
    await page.waitForTimeout(200);
    const after = await read();
    return { first, after_refresh: after, refresh_requests: inventoryRequests - before };
  });

  await step(page, "router", async () => {
    await closeSidebar(page);
    const created = await newRouterGraph(page);
    const initial = await page.evaluate(() => window.__wan22test.waitPreview(window.__wan22test.router));
    await routerShot(page, "router_preview");
    const cases = [];
    for (const c of input.plan_cases) {
      const before = planRequests;
      const st = await applyCase(page, c.widgets);
      await page.waitForTimeout(400); // anything still debounced would fire by now
      cases.push({ id: c.id, widgets: c.widgets, preview: st, requests: planRequests - before });
      if (c.screenshot) await routerShot(page, c.screenshot);
    }
    // A real UI interaction: click the mode combo's right arrow on the canvas (i2v -> next mode).
    await applyCase(page, { mode: "i2v", preset: "quality" });
    await page.evaluate(() => window.__wan22test.showNode(window.__wan22test.router, 1));
    await page.waitForTimeout(200);
    const arrow = await page.evaluate(() => {
      const W = window.__wan22test;
      const node = W.router;
      const w = W.findWidget(node, "mode");
      const h = window.LiteGraph.NODE_WIDGET_HEIGHT ?? 20;
      return W.toScreen(node.pos[0] + node.size[0] - 22, node.pos[1] + w.y + h / 2);
    });
    await page.mouse.click(arrow[0], arrow[1]);
    await page.waitForTimeout(100);
    const clicked = await page.evaluate(async () => {
      const W = window.__wan22test;
      return { mode: W.findWidget(W.router, "mode").value, preview: await W.waitPreview(W.router) };
    });
    await routerShot(page, "router_preview_after_click");
    return { created, initial, cases, clicked };
  });

  await step(page, "inventory_node", async () => {
    await page.evaluate(() => {
      const app = window.app;
      app.graph.clear();
      const node = window.LiteGraph.createNode("Wan22VolumeInventory");
      node.pos = [100, 100];
      app.graph.add(node);
      window.__wan22test.inv = node;
      window.__wan22test.showNode(node, 1);
    });
    const run = await page.evaluate(() => window.__wan22test.runAndWait(60000));
    await page.waitForSelector("[data-wan22-node-report] [data-wan22-report]", { timeout: 15000 });
    await page.waitForTimeout(300);
    const shown = await page.evaluate(() => {
      const el = document.querySelector("[data-wan22-node-report]");
      return {
        summary: el.querySelector("[data-wan22-summary]")?.innerText ?? "",
        workflows: [...el.querySelectorAll("[data-wan22-workflow]")].map((e) => ({ id: e.dataset.wan22Workflow, ready: e.dataset.ready === "true" })),
        files: [...el.querySelectorAll("[data-wan22-file]")].map((e) => ({ name: e.dataset.wan22File, status: e.dataset.status })),
        visible: el.offsetParent !== null && el.getBoundingClientRect().height > 50,
        serialized: window.__wan22test.inv.serialize().widgets_values,
      };
    });
    const rect = await page.evaluate(() => window.__wan22test.nodeRect(window.__wan22test.inv));
    await shot(page, "inventory_node", { clip: { x: Math.max(0, rect.x - 12), y: Math.max(0, rect.y - 12), width: rect.width + 24, height: rect.height + 24 } });
    return { run, shown };
  });

  await step(page, "help", async () => {
    // The frontend's node help: /extensions/<pack>/docs/<NodeId>.md, rendered by its markdown renderer.
    return page.evaluate(async (ids) => {
      const out = {};
      const defs = await (await fetch("/object_info")).json();
      for (const id of ids) {
        const mod = defs[id]?.python_module ?? "";
        const pack = mod.split(".")[1]?.split("@")[0];
        const url = `/extensions/${pack}/docs/${id}.md`;
        const r = await fetch(url);
        const text = r.ok ? await r.text() : "";
        let html = "";
        try {
          html = window.app.extensionManager.renderMarkdownToHtml?.(text, `/extensions/${pack}/docs/`) ?? "";
        } catch (e) {
          html = `render error: ${e}`;
        }
        out[id] = { python_module: mod, url, status: r.status, text, html };
      }
      return { docs: out };
    }, input.node_ids);
  });

  await step(page, "help_panel", async () => {
    // The node's help as a user opens it: select the node, "Node Info" in the selection toolbox.
    await newRouterGraph(page);
    await page.evaluate(() => window.__wan22test.waitPreview(window.__wan22test.router));
    await page.evaluate(() => window.app.canvas.selectNode(window.__wan22test.router));
    await page.waitForTimeout(400);
    await page.getByRole("button", { name: "Node Info" }).click();
    await page.waitForFunction(() => (document.querySelector(".node-help-content")?.innerText ?? "").length > 100, null, { timeout: 15000 });
    await page.evaluate(() => window.app.canvas.setDirty(true, true));
    await page.waitForTimeout(500);
    await shot(page, "node_help");
    const text = await page.evaluate(() => document.querySelector(".node-help-content").innerText);
    const headings = await page.evaluate(() => [...document.querySelectorAll(".node-help-content h1, .node-help-content h2")].map((e) => e.innerText));
    // close the properties panel again
    await page.getByRole("button", { name: "Toggle properties panel" }).click().catch(() => {});
    await page.waitForTimeout(300);
    return { text: text.slice(0, 6000), headings };
  });

  await step(page, "templates", async () => {
    const listing = await page.evaluate(async () => (await fetch("/workflow_templates")).json());
    const names = listing[input.pack] ?? [];
    const out = {};
    for (const name of names) {
      out[name] = await page.evaluate(async ({ pack, name }) => {
        const r = await fetch(`/api/workflow_templates/${encodeURIComponent(pack)}/${encodeURIComponent(name)}.json`);
        if (!r.ok) return { status: r.status };
        const wf = await r.json();
        await window.app.loadGraphData(wf, true, true, name);
        await new Promise((res) => setTimeout(res, 300));
        const p = await window.app.graphToPrompt();
        const W = window.__wan22test;
        const previews = [];
        for (const node of window.app.graph._nodes ?? window.app.graph.nodes ?? []) {
          if (node.comfyClass === "Wan22ModeRouter" || node.type === "Wan22ModeRouter") {
            try {
              const st = await W.waitPreview(node);
              previews.push({ id: node.id, state: st.state, plan: st.plan, error: st.error,
                widgets: Object.fromEntries(node.widgets.map((w) => [w.name, w.value])) });
            } catch (e) {
              previews.push({ id: node.id, state: "timeout", error: String(e) });
            }
          }
        }
        return { status: r.status, node_count: wf.nodes?.length ?? null, output: p.output, previews };
      }, { pack: input.pack, name });
    }
    if (input.template_screenshot && out[input.template_screenshot]) {
      await page.evaluate(() => window.app.canvas.ds && window.app.graph && window.app.canvas.setDirty(true, true));
    }
    return { listing, names, templates: out };
  });

  if (input.queue) {
    await step(page, "queue", async () => {
      const q = input.queue;
      const prep = await page.evaluate(async ({ pack, name, swap, size }) => {
        const wf = await (await fetch(`/api/workflow_templates/${encodeURIComponent(pack)}/${encodeURIComponent(name)}.json`)).json();
        await window.app.loadGraphData(wf, true, true, name);
        await new Promise((res) => setTimeout(res, 300));
        const W = window.__wan22test;
        const graph = window.app.graph;
        const nodes = () => [...(graph._nodes ?? graph.nodes)];
        const swapped = [];
        const resized = [];
        if (swap) {
          // Replace each CLIPTextEncode by the stand-in volume's precomputed conditioning
          // (LoadTrainingDataset) wired to the same inputs: the stand-in umT5 takes ~30 s an encode.
          for (const node of nodes()) {
            if (node.type !== "CLIPTextEncode") continue;
            const links = (node.outputs?.[0]?.links ?? []).map((id) => graph.links[id] ?? graph.links.get?.(id)).filter(Boolean);
            const targets = links.map((l) => [graph.getNodeById(l.target_id), l.target_slot]);
            const folder = targets.some(([n, s]) => n.inputs[s]?.name === "negative") ? swap.negative : swap.positive;
            const repl = window.LiteGraph.createNode("LoadTrainingDataset");
            repl.pos = [node.pos[0], node.pos[1]];
            graph.add(repl);
            W.setWidget(repl, "folder_name", folder);
            const out = repl.outputs.findIndex((o) => o.type === "CONDITIONING");
            for (const [t, slot] of targets) repl.connect(out, t, slot);
            graph.remove(node);
            swapped.push({ removed: node.id, added: repl.id, folder, targets: targets.map(([t, sl]) => [t.id, sl]) });
          }
        }
        if (size) {
          // CPU-sized video: the example's 640x640x81 would take hours with the stand-in experts.
          for (const node of nodes()) {
            const names = (node.widgets ?? []).map((w) => w.name);
            if (!["width", "height", "length"].every((n) => names.includes(n))) continue;
            for (const [k, v] of Object.entries(size)) W.setWidget(node, k, v);
            resized.push({ id: node.id, type: node.type, ...size });
          }
        }
        window.app.canvas.setDirty(true, true);
        return { swapped, resized };
      }, { pack: input.pack, name: q.name, swap: q.swap_conditioning ? q.datasets : null, size: q.size ?? null });
      const t = Date.now();
      const run = await page.evaluate((ms) => window.__wan22test.runAndWait(ms), q.timeout_ms);
      await page.waitForTimeout(500);
      await shot(page, "queue_done");
      return { ...prep, run, seconds: (Date.now() - t) / 1000 };
    });
  }

  // A second page whose /wan22/inventory says nothing can run: exactly one toast.
  await step(page, "toast", async () => {
    const ctx2 = await browser.newContext({ viewport: { width: 1440, height: 960 }, deviceScaleFactor: 1 });
    const p2 = await ctx2.newPage();
    watch(p2, "toast");
    await hermetic(p2);
    let served = 0;
    await p2.route("**/wan22/inventory*", (route) => {
      served += 1;
      return route.fulfill({ status: 200, contentType: "application/json", body: JSON.stringify(input.nothing_ready_report) });
    });
    await openApp(p2);
    await p2.waitForSelector(TOAST, { timeout: 20000 });
    await p2.waitForTimeout(1500);
    const toasts = await p2.evaluate((sel) => [...document.querySelectorAll(sel)].map((e) => e.innerText), TOAST);
    await shot(p2, "startup_toast");
    // The same report in the sidebar: what blocks each workflow, with its hint.
    await p2.click(TAB_BUTTON);
    await p2.waitForSelector("[data-wan22-panel][data-loading=false] [data-wan22-report]", { timeout: 15000 });
    const blocked = await p2.evaluate(() => [...document.querySelectorAll("[data-wan22-panel] [data-wan22-workflow]")]
      .map((e) => ({ id: e.dataset.wan22Workflow, ready: e.dataset.ready === "true", text: e.innerText })));
    await shot(p2, "sidebar_not_ready");
    await ctx2.close();
    return { toasts, inventory_requests: served, blocked };
  });
} finally {
  phase = "end";
  save();
  await browser.close();
  log("done");
}
