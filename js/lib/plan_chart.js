// Draws a router plan's sigma schedule on a <canvas>: the N+1 sigmas, the MoE boundary (dashed),
// the split step (the hand-off), and which expert / LoRA / cfg covers each step (one band per
// stage, and a strip). A base stage (fast_motion: the high-noise expert without LoRA at a real cfg
// before its LoRA stage) gets its own colour and label.

import { fmtNum, STAGE_COLORS, stageKind } from "./dom.js";

const KIND_LABEL = { high: "high-noise", low: "low-noise", single: "single model" };
export const BASE_COLOR = "#c9a227";

/** True for a base stage: no LoRA, and the next stage runs the same expert (with its LoRA). */
export function isBaseStage(stages, k) {
  const st = stages[k];
  const next = stages[k + 1];
  return Boolean(st && next && next.expert === st.expert && !(st.loras ?? []).length);
}

/** Band colour and label of stage k: base / high-noise / low-noise / single model, + cfg when stages differ. */
export function stageBand(plan, k) {
  const stages = plan?.stages ?? [];
  const st = stages[k];
  const kind = stageKind(st, k, stages.length);
  const base = isBaseStage(stages, k);
  const cfgs = new Set(stages.map((s) => s.cfg ?? plan.cfg));
  const loras = st.loras ?? [];
  const lora = loras.length ? `LoRA ×${loras.map((l) => fmtNum(l.strength)).join(" + ")}` : "no LoRA";
  const cfg = cfgs.size > 1 ? ` · cfg ${fmtNum(st.cfg ?? plan.cfg)}` : "";
  // The Lightning generation, when it is not the preset's own pair: "LoRA ×1 · i2v_1022".
  const lx = plan.lightning;
  const gen = lx && !lx.default && !base ? ` · ${lx.kind === "experts" ? "distilled " : ""}${lx.id}` : "";
  return {
    color: base ? BASE_COLOR : STAGE_COLORS[kind],
    label: `${base ? "base " : ""}${KIND_LABEL[kind]}${loras.length && stages.length > 2 ? " + LoRA" : ""}`,
    detail: `${lora}${gen}${cfg}`,
  };
}

function fitText(ctx, text, maxWidth) {
  if (maxWidth <= 8) return "";
  if (ctx.measureText(text).width <= maxWidth) return text;
  let t = text;
  while (t.length > 1 && ctx.measureText(`${t}…`).width > maxWidth) t = t.slice(0, -1);
  return t.length > 1 ? `${t}…` : "";
}

function withAlpha(hex, a) {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${a})`;
}

/** Which stage index runs step i (0-based step, i.e. from sigma[i] to sigma[i+1]). */
export function stageOfStep(plan, i) {
  const stages = plan?.stages ?? [];
  for (let k = 0; k < stages.length; k += 1) {
    if (i >= stages[k].start_step && i < stages[k].end_step) return k;
  }
  return -1;
}

/** Draws `plan` on `canvas`; returns the stage bands drawn ({stage, start, end, color, label}). */
export function drawPlanChart(canvas, plan) {
  const dpr = window.devicePixelRatio || 1;
  const cssW = Math.max(120, Math.round(canvas.clientWidth || canvas.parentElement?.clientWidth || 360));
  const cssH = Math.max(80, Math.round(canvas.clientHeight || 150));
  if (canvas.width !== Math.round(cssW * dpr) || canvas.height !== Math.round(cssH * dpr)) {
    canvas.width = Math.round(cssW * dpr);
    canvas.height = Math.round(cssH * dpr);
  }
  const ctx = canvas.getContext("2d");
  if (!ctx) return [];
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, cssW, cssH);

  const fg = getComputedStyle(canvas).color || "#ddd";
  const sigmas = Array.isArray(plan?.sigmas) ? plan.sigmas : [];
  const n = sigmas.length - 1;
  if (n < 1) {
    ctx.fillStyle = fg;
    ctx.font = "11px sans-serif";
    ctx.fillText("no schedule", 8, 18);
    return [];
  }
  const stages = plan.stages ?? [];
  const looks = stages.map((_, k) => stageBand(plan, k));
  const colorOf = (k) => (k >= 0 ? looks[k].color : "#888");
  const bands = [];

  const left = 34;
  const right = 10;
  const top = 26;
  const bottom = 30;
  const pw = cssW - left - right;
  const ph = cssH - top - bottom;
  const ymax = Math.max(1, ...sigmas.filter(Number.isFinite));
  const X = (i) => left + (i / n) * pw;
  const Y = (s) => top + (1 - s / ymax) * ph;

  // Stage bands with their label (expert, LoRA strength, cfg when the stages' differ).
  ctx.font = "10px sans-serif";
  ctx.textBaseline = "top";
  stages.forEach((st, k) => {
    if (!(st.end_step > st.start_step)) return;
    const x0 = X(st.start_step);
    const x1 = X(st.end_step);
    ctx.fillStyle = withAlpha(colorOf(k), 0.16);
    ctx.fillRect(x0, top, x1 - x0, ph);
    ctx.fillStyle = colorOf(k);
    ctx.font = "bold 10px sans-serif";
    ctx.fillText(fitText(ctx, looks[k].label, x1 - x0 - 6), x0 + 4, 2);
    ctx.font = "10px sans-serif";
    ctx.fillText(fitText(ctx, looks[k].detail, x1 - x0 - 6), x0 + 4, 13);
    bands.push({ stage: k, start: st.start_step, end: st.end_step, color: looks[k].color,
      label: `${looks[k].label} · ${looks[k].detail}` });
  });

  // Grid and y ticks.
  ctx.strokeStyle = withAlpha("#888888", 0.25);
  ctx.lineWidth = 1;
  ctx.fillStyle = fg;
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  for (const t of [0, 0.25, 0.5, 0.75, 1]) {
    const y = Math.round(Y(t * ymax)) + 0.5;
    ctx.beginPath();
    ctx.moveTo(left, y);
    ctx.lineTo(left + pw, y);
    ctx.stroke();
    ctx.globalAlpha = 0.7;
    ctx.fillText(fmtNum(t * ymax), left - 4, y);
    ctx.globalAlpha = 1;
  }
  ctx.save();
  ctx.translate(9, top + ph / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.textAlign = "center";
  ctx.fillText("sigma", 0, 0);
  ctx.restore();

  // MoE boundary.
  if (typeof plan.boundary === "number") {
    const y = Y(plan.boundary);
    ctx.setLineDash([5, 4]);
    ctx.strokeStyle = "#e05d5d";
    ctx.lineWidth = 1.2;
    ctx.beginPath();
    ctx.moveTo(left, y);
    ctx.lineTo(left + pw, y);
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.fillStyle = "#e05d5d";
    ctx.textAlign = "right";
    ctx.textBaseline = "bottom";
    ctx.fillText(`boundary ${plan.boundary.toFixed(3)}`, left + pw - 2, y - 2);
  }

  // Split step (the hand-off).
  if (stages.length > 1 && Number.isFinite(plan.split_step)) {
    const x = Math.round(X(plan.split_step)) + 0.5;
    ctx.strokeStyle = fg;
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    ctx.moveTo(x, top);
    ctx.lineTo(x, top + ph);
    ctx.stroke();
    const s = sigmas[plan.split_step];
    const label = `split @ ${plan.split_step}${Number.isFinite(s) ? ` (σ ${s.toFixed(3)})` : ""}`;
    ctx.fillStyle = fg;
    ctx.textBaseline = "top";
    const w = ctx.measureText(label).width;
    const atRight = x + 4 + w <= left + pw;
    ctx.textAlign = atRight ? "left" : "right";
    ctx.fillText(label, atRight ? x + 4 : x - 4, top + ph - 14);
  }

  // The schedule: segment i (step i) in the colour of the stage that runs it.
  ctx.lineWidth = 2;
  for (let i = 0; i < n; i += 1) {
    ctx.strokeStyle = colorOf(stageOfStep(plan, i));
    ctx.beginPath();
    ctx.moveTo(X(i), Y(sigmas[i]));
    ctx.lineTo(X(i + 1), Y(sigmas[i + 1]));
    ctx.stroke();
  }
  const dot = Math.max(1.5, Math.min(3.5, pw / n / 4));
  for (let i = 0; i <= n; i += 1) {
    ctx.fillStyle = i < n ? colorOf(stageOfStep(plan, i)) : "#999";
    ctx.beginPath();
    ctx.arc(X(i), Y(sigmas[i]), dot, 0, Math.PI * 2);
    ctx.fill();
  }

  // Step strip: who runs each step; step numbers under it.
  const sy = top + ph + 4;
  for (let i = 0; i < n; i += 1) {
    ctx.fillStyle = colorOf(stageOfStep(plan, i));
    const x0 = X(i);
    const x1 = X(i + 1);
    ctx.fillRect(x0 + 0.5, sy, Math.max(1, x1 - x0 - 1), 8);
  }
  ctx.fillStyle = fg;
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  // Tick labels: every k-th step, always the last one and the split; none that would touch another.
  const split = stages.length > 1 ? plan.split_step : null;
  const every = Math.max(1, Math.ceil(n / Math.max(1, Math.floor(pw / 24))));
  const wanted = [...new Set([0, n, ...(split !== null ? [split] : [])])];
  for (let i = 0; i <= n; i += every) wanted.push(i);
  const placed = [];
  const priority = (i) => (i === split ? 0 : i === 0 || i === n ? 1 : 2);
  for (const i of [...new Set(wanted)].sort((a, b) => priority(a) - priority(b) || a - b)) {
    const x = X(i);
    const half = ctx.measureText(String(i)).width / 2 + 3;
    if (placed.some(([px, ph]) => Math.abs(px - x) < half + ph)) continue;
    placed.push([x, half]);
    ctx.font = i === split ? "bold 10px sans-serif" : "10px sans-serif";
    ctx.globalAlpha = i === split ? 1 : 0.7;
    ctx.fillText(String(i), x, sy + 10);
  }
  ctx.globalAlpha = 1;
  ctx.font = "10px sans-serif";
  ctx.textAlign = "left";
  return bands;
}
