// Small DOM helpers and the pack's one stylesheet (injected once, scoped under .wan22-*).

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k === "style" && typeof v === "object") Object.assign(el.style, v);
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function formatBytes(n) {
  if (n === null || n === undefined || !Number.isFinite(n)) return "—";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i += 1;
  }
  return `${v >= 100 || i === 0 ? v.toFixed(0) : v.toFixed(1)} ${units[i]}`;
}

export function fmtNum(v) {
  if (typeof v !== "number" || !Number.isFinite(v)) return String(v);
  return String(Number(v.toFixed(4)));
}

// Stage colours: high-noise (warm), low-noise (cool), single model (green).
export const STAGE_COLORS = { high: "#e8893a", low: "#4c9be8", single: "#56b36b" };

export function stageKind(stage, index, count) {
  if (count < 2) return "single";
  if (String(stage.expert ?? "").endsWith("_low")) return "low";
  if (String(stage.expert ?? "").endsWith("_high")) return "high";
  return index === 0 ? "high" : "low";
}

const CSS = `
.wan22-panel { display: flex; flex-direction: column; gap: 10px; padding: 10px 12px 16px; height: 100%;
  overflow-y: auto; box-sizing: border-box; font-size: 13px; color: var(--fg-color, #ddd); }
.wan22-panel h3 { margin: 4px 0 0; font-size: 13px; font-weight: 600; text-transform: uppercase; letter-spacing: .04em;
  color: var(--descrip-text, #999); }
.wan22-panel-head { display: flex; align-items: center; gap: 8px; }
.wan22-panel-head .wan22-title { font-size: 15px; font-weight: 600; flex: 1; }
.wan22-btn { background: var(--comfy-input-bg, #222); color: var(--input-text, #ddd); border: 1px solid var(--border-color, #444);
  border-radius: 6px; padding: 4px 10px; cursor: pointer; font: inherit; }
.wan22-btn:hover { filter: brightness(1.2); }
.wan22-btn[disabled] { opacity: .5; cursor: progress; }
.wan22-muted { color: var(--descrip-text, #999); }
.wan22-summary { padding: 8px 10px; border-radius: 8px; border: 1px solid var(--border-color, #444);
  background: var(--comfy-input-bg, rgba(0,0,0,.2)); }
.wan22-summary.wan22-bad { border-color: #c9544d; }
.wan22-summary.wan22-good { border-color: #4f9d5d; }
.wan22-error { color: #ff7b72; white-space: pre-wrap; }
.wan22-warn { color: #e3b341; white-space: pre-wrap; }
.wan22-hint { white-space: pre-wrap; word-break: break-word; color: var(--descrip-text, #aaa); font-size: 12px; margin: 2px 0 0; }
.wan22-wf-grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(122px, 1fr)); gap: 6px; }
.wan22-wf { border: 1px solid var(--border-color, #444); border-radius: 8px; padding: 6px 8px; display: flex; flex-direction: column; gap: 2px; }
.wan22-wf[data-ready="true"] { border-left: 4px solid #4f9d5d; }
.wan22-wf[data-ready="false"] { border-left: 4px solid #c9544d; }
.wan22-wf-name { font-weight: 600; font-family: var(--font-mono, monospace); }
.wan22-wf-state { font-size: 12px; }
.wan22-wf-block { font-size: 12px; overflow-wrap: anywhere; margin-top: 3px; }
.wan22-report:not(.wan22-report-compact) .wan22-wf[data-ready="false"] { grid-column: 1 / -1; }
.wan22-badge { display: inline-block; border-radius: 999px; padding: 0 7px; font-size: 11px; line-height: 17px; font-weight: 600;
  color: #111; white-space: nowrap; }
.wan22-badge { background: #b0b0b0; }
/* colours by status group (the inventory report's "statuses"[s].group, from wan22/catalog.py) */
.wan22-badge[data-group="ok"] { background: #5fbf72; }
.wan22-badge[data-group="stand_in"] { background: #9fb4d0; }
.wan22-badge[data-group="missing"] { background: #ef6f67; }
.wan22-badge[data-group="damaged"] { background: #f08a5d; }
.wan22-badge[data-group="moved"] { background: #e3b341; }
.wan22-files { display: flex; flex-direction: column; gap: 4px; }
.wan22-file { border-bottom: 1px solid var(--border-color, #333); padding: 4px 0; }
.wan22-file-row { display: flex; gap: 6px; align-items: baseline; }
.wan22-file-name { flex: 1; min-width: 0; font-family: var(--font-mono, monospace); font-size: 12px; overflow-wrap: anywhere; }
.wan22-file-size { font-variant-numeric: tabular-nums; color: var(--descrip-text, #aaa); font-size: 12px; white-space: nowrap; }
.wan22-file-meta { font-size: 11px; color: var(--descrip-text, #999); }
.wan22-roots { margin: 0; padding-left: 16px; font-family: var(--font-mono, monospace); font-size: 12px; word-break: break-all; }

.wan22-preview { display: flex; flex-direction: column; gap: 4px; font-size: 11px; line-height: 1.35;
  color: var(--fg-color, #ddd); overflow: hidden; box-sizing: border-box; padding: 2px 2px 4px; }
.wan22-preview-head { font-weight: 600; font-size: 12px; }
.wan22-preview-head .wan22-muted { font-weight: 400; }
.wan22-preview canvas { width: 100%; height: 150px; display: block; border-radius: 6px; background: rgba(0,0,0,.25); }
.wan22-stage { display: grid; grid-template-columns: 10px minmax(0, 1fr); gap: 0 6px; align-items: start; }
.wan22-swatch { width: 10px; height: 10px; border-radius: 2px; margin-top: 2px; }
.wan22-stage-main { min-width: 0; }
.wan22-stage-steps { font-variant-numeric: tabular-nums; white-space: nowrap; }
.wan22-ellipsis { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.wan22-mono { font-family: var(--font-mono, ui-monospace, monospace); font-size: 10.5px; }
.wan22-stage-lora { color: var(--descrip-text, #aaa); }
.wan22-strength { color: var(--fg-color, #ddd); font-weight: 600; }

.wan22-node-report { display: flex; flex-direction: column; gap: 4px; font-size: 11px; overflow-y: auto; box-sizing: border-box;
  color: var(--fg-color, #ddd); padding: 2px; }
.wan22-node-report .wan22-wf-grid { grid-template-columns: repeat(auto-fill, minmax(112px, 1fr)); gap: 3px; }
.wan22-node-report .wan22-wf { padding: 2px 6px; gap: 0; border-radius: 6px; }
.wan22-node-report .wan22-wf-name { font-size: 11px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.wan22-node-report .wan22-wf-state { font-size: 10px; }
.wan22-node-report .wan22-summary { padding: 4px 8px; }
`;

export function ensureStyles() {
  if (document.getElementById("wan22-styles")) return;
  const style = document.createElement("style");
  style.id = "wan22-styles";
  style.textContent = CSS;
  document.head.append(style);
}
