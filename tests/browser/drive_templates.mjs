// Browser driver for tests/browser/test_check_workflow.py: one headless Debian chromium session
// through playwright-core against a real ComfyUI server with the pack loaded. It only observes and
// writes a results JSON; the Python tests make the assertions.
//
//   node drive_templates.mjs INPUT.json
//
// INPUT: {url, chromium, artifacts, results, templates: [{name, workflow}], checks: [{name, workflow}]}.
// Phases:
//   templates  every workflow loaded with app.loadGraphData, then app.graphToPrompt().output
//   check      each of `checks` loaded, then the sidebar's "Check this workflow" clicked: the report
//              it shows and the nodes it marks on the canvas (inside subgraphs too)
//
// Hermetic: every request that is not to the loopback server is aborted and recorded.

import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { TAB_BUTTON } from "./selectors.mjs";

const require = createRequire(import.meta.url);
const { chromium } = require("playwright-core");

const input = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const ART = input.artifacts;
fs.mkdirSync(ART, { recursive: true });
const LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic", "--disable-dev-shm-usage"];

const results = { phases: {}, console: [], pageErrors: [], aborted: [], timings: {}, screenshots: {} };
let phase = "boot";
const T0 = Date.now();
const save = () => fs.writeFileSync(input.results, JSON.stringify(results, null, 1));
const log = (msg) => process.stdout.write(`[drive_templates ${((Date.now() - T0) / 1000).toFixed(1)}s] ${msg}\n`);

async function shot(page, name) {
  const file = path.join(ART, `${name}.png`);
  await page.screenshot({ path: file });
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
    await shot(page, `failure_${name}`).catch(() => {});
  }
  results.timings[name] = Date.now() - t;
  save();
}

const browser = await chromium.launch({ executablePath: input.chromium, args: LAUNCH_ARGS, timeout: 60000 });
const context = await browser.newContext({ viewport: { width: 1440, height: 1000 }, deviceScaleFactor: 1 });
const page = await context.newPage();
page.on("console", (m) => results.console.push({ phase, type: m.type(), text: m.text().slice(0, 2000), url: m.location()?.url ?? "" }));
page.on("pageerror", (e) => results.pageErrors.push({ phase, text: String(e?.stack ?? e).slice(0, 2000) }));
let checkRequests = 0;
page.on("request", (r) => {
  if (r.url().includes("/wan22/inventory/workflow")) checkRequests += 1;
});
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
    await page.waitForSelector(TAB_BUTTON, { timeout: 30000 }).catch(() => {});
    await page.evaluate(() => window.app.extensionManager.setting.set("Comfy.Minimap.Visible", false)).catch(() => {});
    await page.waitForTimeout(1500);
    return { extensions: await page.evaluate(() => window.app.extensions.map((e) => e.name)) };
  });

  await step(page, "templates", async () => {
    const out = {};
    for (const t of input.templates ?? []) {
      out[t.name] = await page.evaluate(async ({ wf, name }) => {
        try {
          await window.app.loadGraphData(structuredClone(wf), true, true, name);
          await new Promise((res) => setTimeout(res, 200));
          const p = await window.app.graphToPrompt();
          return { ok: true, output: p.output };
        } catch (e) {
          return { ok: false, error: String(e?.stack ?? e) };
        }
      }, { wf: t.workflow, name: t.name });
    }
    return { templates: out };
  });

  if (input.checks?.length) {
    await step(page, "check", async () => {
      const out = {};
      await page.click(TAB_BUTTON);
      await page.waitForSelector("[data-wan22-check-workflow]", { timeout: 30000 });
      for (const c of input.checks) {
        await page.evaluate(async ({ wf, name }) => {
          await window.app.loadGraphData(structuredClone(wf), true, true, name);
        }, { wf: c.workflow, name: c.name });
        await page.waitForTimeout(300);
        const before = checkRequests;
        await page.click("[data-wan22-check-workflow]");
        await page.waitForSelector("[data-wan22-check-result][data-state=done], [data-wan22-check-result][data-state=error]",
          { timeout: 60000 });
        await page.waitForTimeout(300);
        const shown = await page.evaluate(() => {
          const el = document.querySelector("[data-wan22-check-result]");
          const marked = [];
          const visit = (g, prefix) => {
            for (const n of [...(g._nodes ?? g.nodes ?? [])]) {
              const id = prefix ? `${prefix}:${n.id}` : String(n.id);
              if (n.wan22Fault) marked.push({ id, type: n.type, color: n.color ?? null, bgcolor: n.bgcolor ?? null, fault: n.wan22Fault });
              if (n.subgraph) visit(n.subgraph, id);
            }
          };
          visit(window.app.rootGraph ?? window.app.graph, "");
          return {
            state: el.dataset.state,
            ready: el.dataset.ready ?? null,
            text: el.innerText,
            blocking: [...el.querySelectorAll("[data-wan22-blocking]")].map((e) => ({ name: e.dataset.wan22Blocking, status: e.dataset.status })),
            files: [...el.querySelectorAll("[data-wan22-file]")].map((e) => ({ name: e.dataset.wan22File, status: e.dataset.status,
              hint: e.querySelector(".wan22-hint")?.innerText ?? "" })),
            nodes: [...el.querySelectorAll("[data-wan22-fault-node]")].map((e) => e.dataset.wan22FaultNode),
            marked,
          };
        });
        await shot(page, `check_workflow_${c.name}`);
        out[c.name] = { shown, requests: checkRequests - before };
      }
      return { checks: out };
    });
  }
} finally {
  phase = "end";
  save();
  await browser.close();
  log("done");
}
