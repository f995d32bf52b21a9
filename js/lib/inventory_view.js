// Renders a /wan22/inventory report (or the inventory node's `wan22_inventory` ui output, the
// same dict) as DOM: used by the sidebar tab (full) and on the Wan22VolumeInventory node (compact).
// The status vocabulary (labels, colour groups, meanings, which statuses do not block) comes with
// the report (`statuses`, `usable`, from wan22/catalog.py); nothing here copies it.

import { formatBytes, h } from "./dom.js";

/** Which statuses do not block a workflow; only a report without `usable` gets the fallback. */
function usableSet(report) {
  return new Set(Array.isArray(report?.usable) ? report.usable : ["ok", "stand_in"]);
}

/** A status badge: the report's label and meaning, coloured by the status's group. */
export function statusBadge(status, report) {
  const s = String(status ?? "");
  const info = report?.statuses?.[s] ?? {};
  const group = String(info.group ?? s).replace(/[^a-z_]/g, "");
  return h("span", { class: "wan22-badge", dataset: { group }, title: info.meaning ? `${s}: ${info.meaning}` : s },
    info.label ?? s);
}

function workflowEntries(report) {
  return Object.entries(report?.workflows ?? {});
}

export function readyCounts(report) {
  const entries = workflowEntries(report);
  return { ready: entries.filter(([, st]) => st.ready).length, total: entries.length };
}

/** True when the report lists workflows and not one of them can run. */
export function servesNothing(report) {
  const { ready, total } = readyCounts(report);
  return total > 0 && ready === 0;
}

function workflowState(st) {
  if (!st.ready) return `not ready · ${st.blocking?.length ?? 0} blocking`;
  const n = st.stand_ins?.length ?? 0;
  return n ? `ready · ${n} stand-in${n === 1 ? "" : "s"}` : "ready";
}

function shortState(st) {
  if (!st.ready) return `${st.blocking?.length ?? 0} blocking`;
  const n = st.stand_ins?.length ?? 0;
  return n ? `${n} stand-in${n === 1 ? "" : "s"}` : "ready";
}

function workflowCard(id, st, compact, report) {
  const card = h("div", { class: "wan22-wf", dataset: { wan22Workflow: id, ready: String(!!st.ready) } },
    h("div", { class: "wan22-wf-name" }, `${st.ready ? "✓" : "✗"} ${id}`),
    h("div", { class: "wan22-wf-state wan22-muted" }, compact ? shortState(st) : workflowState(st)));
  if (compact) {
    card.title = [workflowState(st), ...(st.blocking ?? []).map((b) => `${b.name}: ${b.status}`)].join("\n");
    return card;
  }
  for (const b of st.blocking ?? []) {
    card.append(h("div", { class: "wan22-wf-block" }, statusBadge(b.status, report), " ", b.name,
      b.hint ? h("div", { class: "wan22-hint" }, b.hint) : null));
  }
  for (const w of st.warnings ?? []) card.append(h("div", { class: "wan22-warn" }, w));
  return card;
}

/** One file finding as a row: badge, name, size, folder/role/identity, where it is, its hint. */
export function fileRow(f, report) {
  const meta = [f.folder, f.role, f.identity].filter(Boolean).join(" · ");
  return h("div", { class: "wan22-file", dataset: { wan22File: f.name, status: f.status } },
    h("div", { class: "wan22-file-row" }, statusBadge(f.status, report), h("span", { class: "wan22-file-name" }, f.name),
      h("span", { class: "wan22-file-size" }, formatBytes(f.size))),
    meta ? h("div", { class: "wan22-file-meta" }, meta) : null,
    f.path && f.path !== f.expected_path ? h("div", { class: "wan22-file-meta" }, `at ${f.path}`) : null,
    f.hint ? h("div", { class: "wan22-hint" }, f.hint) : null);
}

function summaryBox(report) {
  const { ready, total } = readyCounts(report);
  const bad = servesNothing(report) || (report?.problems?.length ?? 0) > 0;
  return h("div", { class: `wan22-summary ${bad ? "wan22-bad" : "wan22-good"}`, dataset: { wan22Summary: "" } },
    h("div", { style: { fontWeight: "600" } }, `${ready} of ${total} workflows ready`),
    report?.summary ? h("div", { class: "wan22-muted" }, report.summary) : null);
}

/** The full report, as the sidebar tab shows it. */
export function renderReport(report) {
  const frag = h("div", { class: "wan22-report", dataset: { wan22Report: "" } });
  frag.append(summaryBox(report));
  for (const p of report?.problems ?? []) frag.append(h("div", { class: "wan22-error" }, `config error: ${p}`));
  for (const w of report?.warnings ?? []) frag.append(h("div", { class: "wan22-warn" }, `config warning: ${w}`));

  frag.append(h("h3", {}, "Workflows"));
  const grid = h("div", { class: "wan22-wf-grid" });
  for (const [id, st] of workflowEntries(report)) grid.append(workflowCard(id, st, false, report));
  frag.append(grid);

  const usable = usableSet(report);
  const files = [...(report?.files ?? [])];
  // Problems first, then stand-ins, then ok; catalog order within each group.
  const rank = (f) => (usable.has(f.status) ? (f.status === "stand_in" ? 1 : 2) : 0);
  files.sort((a, b) => rank(a) - rank(b));
  const nBad = files.filter((f) => !usable.has(f.status)).length;
  frag.append(h("h3", {}, `Files (${files.length}${nBad ? `, ${nBad} with findings` : ""})`));
  frag.append(h("div", { class: "wan22-files" }, files.map((f) => fileRow(f, report))));

  frag.append(h("h3", {}, "Model folders searched (ComfyUI order)"));
  const roots = report?.roots ?? [];
  frag.append(roots.length
    ? h("ul", { class: "wan22-roots" }, roots.map((r) => h("li", {}, `${r.path}`, h("span", { class: "wan22-muted" }, ` (${r.source})`))))
    : h("div", { class: "wan22-muted" }, "(none)"));
  return frag;
}

/** A compact view for the inventory node: summary, workflow chips, files with findings. */
export function renderCompactReport(report) {
  const box = h("div", { class: "wan22-report wan22-report-compact", dataset: { wan22Report: "" } });
  box.append(summaryBox(report));
  for (const p of report?.problems ?? []) box.append(h("div", { class: "wan22-error" }, `config error: ${p}`));
  const grid = h("div", { class: "wan22-wf-grid" });
  for (const [id, st] of workflowEntries(report)) grid.append(workflowCard(id, st, true, report));
  box.append(grid);
  const usable = usableSet(report);
  const bad = (report?.files ?? []).filter((f) => !usable.has(f.status));
  for (const f of bad) {
    box.append(h("div", { class: "wan22-file-row", dataset: { wan22File: f.name, status: f.status }, title: f.hint ?? "" },
      statusBadge(f.status, report), h("span", { class: "wan22-file-name" }, f.name)));
  }
  return box;
}

function seconds(s) {
  return Number.isFinite(s) ? `${s.toFixed(1)} s` : "—";
}

/** One prefetch report (GET /wan22/prefetch's `last` or `current`): totals, then a row per file. */
function prefetchReport(r, label) {
  const counts = Object.entries(r.counts ?? {}).map(([k, n]) => `${n} ${k}`).join(", ");
  const box = h("div", { class: "wan22-prefetch-report", dataset: { wan22PrefetchReport: label } },
    h("div", { dataset: { wan22PrefetchTotals: "" } },
      `${label}${r.finished_at ? ` (finished ${new Date(r.finished_at * 1000).toLocaleTimeString()})` : ""}: `
      + `${formatBytes(r.read_bytes)} read in ${seconds(r.seconds)}`
      + (r.seconds > 0 ? ` (${r.mb_per_s} MB/s, ${r.streams} streams)` : "")
      + (r.cached_bytes ? `, ${formatBytes(r.cached_bytes)} already in RAM` : "")),
    h("div", { class: "wan22-muted" }, counts + (r.stopped ? ` · stopped: ${r.stopped}` : "")));
  for (const f of r.files ?? []) {
    box.append(h("div", { class: "wan22-file-row", dataset: { wan22PrefetchFile: f.name, status: f.status }, title: f.detail ?? "" },
      h("span", { class: "wan22-badge", dataset: { group: f.status === "read" || f.status === "cached" ? "ok" : "moved" } }, f.status),
      h("span", { class: "wan22-file-name" }, f.name),
      h("span", { class: "wan22-file-size" }, `${formatBytes(f.read_bytes)} · ${seconds(f.seconds)}`)));
  }
  return box;
}

/** The prefetcher's part of the sidebar: the switch, the last prompt, the job now, the last job. */
export function renderPrefetch(status) {
  const box = h("div", { class: "wan22-prefetch", dataset: { wan22Prefetch: "", running: String(!!status?.running) } });
  box.append(h("h3", {}, "Prefetch (last prompt)"));
  const cache = status?.local_cache ? ` · local copy cache ${status.local_cache}` : "";
  box.append(h("div", { class: "wan22-muted", dataset: { wan22PrefetchSwitch: status?.switch ?? "" } },
    `WAN22_PREFETCH: ${status?.switch ?? "?"}${cache}`));
  const lp = status?.last_prompt;
  if (!lp) {
    box.append(h("div", { class: "wan22-muted", dataset: { wan22PrefetchNone: "" } }, "No prompt queued since the server started."));
    return box;
  }
  const when = new Date(lp.at * 1000).toLocaleTimeString();
  box.append(h("div", { dataset: { wan22PrefetchPrompt: "" } }, lp.prefetching?.length
    ? `Prompt at ${when}: ${lp.prefetching.length} file(s) to prefetch`
    : `Prompt at ${when}: nothing prefetched — ${lp.reason || "no file to read"}`));
  if (status.current) box.append(prefetchReport(status.current, "running"));
  if (status.last) box.append(prefetchReport(status.last, "last job"));
  return box;
}
