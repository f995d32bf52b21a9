// The one place the frontend talks to the pack's routes (nodes/routes.py).
//
//   GET /wan22/inventory[?workflow=ID&strict=1]  -> the volume report (what the inventory node shows)
//   GET /wan22/plan?mode=&preset=&steps=&...     -> the router's plan (the node's own resolve + stages)
//   POST /wan22/inventory/workflow (a workflow)  -> the same report for that workflow's own model files
//   GET /wan22/prefetch                          -> what the prefetcher read for the last prompt
//
// Every call goes through ComfyUI's api.fetchApi (so the /api prefix, the user header and any
// auth the frontend adds are applied). Errors come back as Wan22RequestError with the route's own
// message (`{"error": ...}` on 400), never as an unhandled rejection.

import { api } from "../../../scripts/api.js";

const BASE = "/wan22";

// The route's query names, keyed by the router node's widget names. Every widget goes to the
// route as it is: the route applies the node's own rules (wan22/plan/overrides.py), so no rule
// ("0 = the preset's", "-1 = from the boundary", "auto") is declared here.
export const PLAN_PARAMS = Object.freeze({
  mode: "mode", preset: "preset", steps: "steps", cfg: "cfg", shift: "shift", split_step: "split_step",
  sampler_name: "sampler", scheduler: "scheduler", lora_high: "lora_high", lora_low: "lora_low",
  lora_strength: "lora_strength", relight: "relight", lightning: "lightning",
});
export const PLAN_WIDGETS = Object.keys(PLAN_PARAMS);

export class Wan22RequestError extends Error {
  constructor(message, status = 0, body = null) {
    super(message);
    this.name = "Wan22RequestError";
    this.status = status;
    this.body = body;
  }
}

function fetcher() {
  if (api && typeof api.fetchApi === "function") return (route, init) => api.fetchApi(route, init);
  // Fallback for a frontend without api.fetchApi: the routes also answer under /api.
  return (route, init) => fetch(`api${route}`, init);
}

async function getJson(path, query, { signal, method = "GET", payload } = {}) {
  const qs = query ? query.toString() : "";
  const route = `${BASE}${path}${qs ? `?${qs}` : ""}`;
  let res;
  try {
    const init = { signal, cache: "no-store", method };
    if (payload !== undefined) Object.assign(init, { body: JSON.stringify(payload), headers: { "Content-Type": "application/json" } });
    res = await fetcher()(route, init);
  } catch (e) {
    if (e?.name === "AbortError") throw e;
    throw new Wan22RequestError(`cannot reach the ComfyUI server for ${BASE}${path} (${e?.message ?? e})`);
  }
  let body = null;
  try {
    body = await res.json();
  } catch {
    body = null;
  }
  if (!res.ok) {
    const msg = body && typeof body.error === "string" ? body.error
      : res.status === 404 ? `${BASE}${path} is not available: is the ComfyUI-Wan22 pack loaded (check the server log for IMPORT FAILED)?`
        : `HTTP ${res.status} from ${BASE}${path}`;
    throw new Wan22RequestError(msg, res.status, body);
  }
  if (body === null || typeof body !== "object") {
    throw new Wan22RequestError(`${BASE}${path} did not answer with JSON`, res.status, body);
  }
  return body;
}

/** The volume report: {roots, files, workflows, problems, warnings, ready, summary}. */
export function getInventory({ workflows = [], strict = false } = {}, opts = {}) {
  const q = new URLSearchParams();
  for (const w of workflows) q.append("workflow", w);
  if (strict) q.set("strict", "1");
  return getJson("/inventory", q, opts);
}

/** The report for one workflow (UI or API format): its model files judged on this server's folders. */
export function checkWorkflow(workflow, { strict = false } = {}, opts = {}) {
  const q = new URLSearchParams();
  if (strict) q.set("strict", "1");
  return getJson("/inventory/workflow", q, { ...opts, method: "POST", payload: workflow });
}

/**
 * Query parameters for /wan22/plan from the router's widget values ({widget name: value}): each
 * value present is sent unchanged, so the route resolves it exactly as the node does.
 */
export function planQuery(values) {
  const q = new URLSearchParams();
  for (const [widget, param] of Object.entries(PLAN_PARAMS)) {
    const v = values[widget];
    if (v !== undefined && v !== null) q.set(param, String(v));
  }
  return q;
}

/** The router's plan for these widget values: {mode, preset, workflow, stages, sigmas, ...}. */
export function getPlan(values, opts = {}) {
  return getJson("/plan", planQuery(values), opts);
}

/** The prefetcher's state: {switch, local_cache, running, prompts, last_prompt, current, last}. */
export function getPrefetch(opts = {}) {
  return getJson("/prefetch", null, opts);
}
