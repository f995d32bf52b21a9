// The one place the frontend talks to the pack's routes (nodes/routes.py).
//
//   GET /wan22/inventory[?workflow=ID&strict=1]  -> the volume report (what the inventory node shows)
//   GET /wan22/plan?mode=&preset=&steps=&...     -> the router's plan (the same make_plan the node runs)
//
// Every call goes through ComfyUI's api.fetchApi (so the /api prefix, the user header and any
// auth the frontend adds are applied). Errors come back as Wan22RequestError with the route's own
// message (`{"error": ...}` on 400), never as an unhandled rejection.

import { api } from "../../../scripts/api.js";

const BASE = "/wan22";

// The route's query names, keyed by the router node's widget names.
export const PLAN_WIDGETS = ["mode", "preset", "steps", "cfg", "shift", "split_step", "sampler_name", "scheduler",
  "lora_strength", "relight"];

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

async function getJson(path, query, { signal } = {}) {
  const qs = query ? query.toString() : "";
  const route = `${BASE}${path}${qs ? `?${qs}` : ""}`;
  let res;
  try {
    res = await fetcher()(route, { signal, cache: "no-store" });
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

/**
 * Query parameters for /wan22/plan from the router's widget values, with the node's own
 * conventions: 0 = the preset's steps/cfg/shift/lora_strength, -1 = split from the boundary,
 * 'auto' = the preset's sampler/scheduler. Only overrides are sent, so the route and the node
 * resolve the defaults in the same place (wan22/plan/routing.py).
 */
export function planQuery(values) {
  const q = new URLSearchParams();
  q.set("mode", String(values.mode ?? ""));
  q.set("preset", String(values.preset ?? ""));
  const num = (v) => (typeof v === "number" ? v : Number(v));
  if (num(values.steps) > 0) q.set("steps", String(Math.trunc(num(values.steps))));
  if (num(values.cfg) > 0) q.set("cfg", String(num(values.cfg)));
  if (num(values.shift) > 0) q.set("shift", String(num(values.shift)));
  if (Number.isFinite(num(values.split_step)) && num(values.split_step) >= 0) {
    q.set("split_step", String(Math.trunc(num(values.split_step))));
  }
  if (values.sampler_name && values.sampler_name !== "auto") q.set("sampler", String(values.sampler_name));
  if (values.scheduler && values.scheduler !== "auto") q.set("scheduler", String(values.scheduler));
  if (num(values.lora_strength) !== 0 && Number.isFinite(num(values.lora_strength))) {
    q.set("lora_strength", String(num(values.lora_strength)));
  }
  if (values.relight !== undefined) q.set("relight", values.relight === false || values.relight === "false" ? "false" : "true");
  return q;
}

/** The router's plan for these widget values: {mode, preset, workflow, stages, sigmas, ...}. */
export function getPlan(values, opts = {}) {
  return getJson("/plan", planQuery(values), opts);
}
