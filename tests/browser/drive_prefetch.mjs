// Browser driver for test_frontend.py's prefetch check: one headless Debian chromium session through
// playwright-core against a real ComfyUI server started with WAN22_PREFETCH=1. It only observes and
// writes a results JSON; the Python test makes the assertions.
//
//   node drive_prefetch.mjs INPUT.json
//
// INPUT: {url, chromium, artifacts, results, prompt (API format), timeout_ms}.
// Phases:
//   before  the sidebar tab opened before any prompt: its prefetch section
//   after   the prompt queued from the page (POST /prompt with the page's client id), then the same
//           section once it shows that prompt's finished job (it updates itself on the websocket's
//           execution events; nothing is clicked)
//
// Hermetic: every request that is not to the loopback server is aborted and recorded.

import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { TAB_BUTTON } from "./selectors.mjs";

const require = createRequire(import.meta.url);
const { chromium } = require("playwright-core");

const input = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
fs.mkdirSync(input.artifacts, { recursive: true });
const LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic", "--disable-dev-shm-usage"];

const results = { phases: {}, console: [], pageErrors: [], aborted: [], screenshots: {}, requests: 0 };
let phase = "boot";
const save = () => fs.writeFileSync(input.results, JSON.stringify(results, null, 1));

async function shot(page, name) {
  const file = path.join(input.artifacts, `${name}.png`);
  await page.screenshot({ path: file });
  results.screenshots[name] = file;
}

async function step(page, name, fn) {
  phase = name;
  try {
    results.phases[name] = { ok: true, ...((await fn()) ?? {}) };
  } catch (e) {
    results.phases[name] = { ok: false, error: String(e?.stack ?? e) };
    await shot(page, `failure_${name}`).catch(() => {});
  }
  save();
}

/** The sidebar's prefetch section as text and data attributes. */
const readSection = (page) => page.evaluate(() => {
  const box = document.querySelector("[data-wan22-panel] [data-wan22-prefetch]");
  if (!box) return { present: false };
  box.scrollIntoView();
  return {
    present: true,
    visible: box.getBoundingClientRect().width > 100,
    running: box.dataset.running,
    switch: box.querySelector("[data-wan22-prefetch-switch]")?.dataset.wan22PrefetchSwitch ?? null,
    none: !!box.querySelector("[data-wan22-prefetch-none]"),
    prompt: box.querySelector("[data-wan22-prefetch-prompt]")?.innerText ?? "",
    totals: box.querySelector("[data-wan22-prefetch-report='last job'] [data-wan22-prefetch-totals]")?.innerText ?? "",
    files: [...box.querySelectorAll("[data-wan22-prefetch-report='last job'] [data-wan22-prefetch-file]")].map((e) => ({
      name: e.dataset.wan22PrefetchFile, status: e.dataset.status, text: e.innerText })),
    text: box.innerText,
  };
});

const browser = await chromium.launch({ executablePath: input.chromium, args: LAUNCH_ARGS, timeout: 60000 });
const page = await (await browser.newContext({ viewport: { width: 1440, height: 1000 } })).newPage();
page.on("console", (m) => results.console.push({ phase, type: m.type(), text: m.text().slice(0, 2000), url: m.location()?.url ?? "" }));
page.on("pageerror", (e) => results.pageErrors.push({ phase, text: String(e?.stack ?? e).slice(0, 2000) }));
page.on("request", (r) => {
  if (r.url().includes("/wan22/prefetch")) results.requests += 1;
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
  await step(page, "before", async () => {
    await page.goto(input.url, { waitUntil: "domcontentloaded" });
    await page.waitForFunction(() => window.app?.graph && window.app?.extensionManager, null, { timeout: 90000 });
    await page.waitForSelector(TAB_BUTTON, { timeout: 30000 });
    await page.click(TAB_BUTTON);
    await page.waitForSelector("[data-wan22-panel] [data-wan22-prefetch]", { timeout: 30000 });
    return { shown: await readSection(page) };
  });

  await step(page, "after", async () => {
    const before = results.requests; // counted from the POST on: the run may end before it returns
    const queued = await page.evaluate(async (prompt) => {
      const res = await fetch("/api/prompt", { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ prompt, client_id: window.app.api.clientId ?? window.app.api.initialClientId }) });
      return { status: res.status, body: await res.json() };
    }, input.prompt);
    await page.waitForSelector("[data-wan22-prefetch][data-running=false] [data-wan22-prefetch-report='last job']",
      { timeout: input.timeout_ms });
    await page.waitForTimeout(300);
    const shown = await readSection(page);
    await shot(page, "sidebar_prefetch");
    return { queued, shown, prefetch_requests: results.requests - before };
  });
} finally {
  save();
  await browser.close();
}
