// The "fill the volume" part of the Wan 2.2 sidebar: for each workflow that is not ready, the
// `python -m wan22 fetch` command that downloads what it lacks (and `inventory --fix` when a file
// only needs moving), with a copy button. The browser never downloads anything itself: the
// command runs in a terminal on the machine that holds the volume.

import { h } from "./dom.js";

const FETCHABLE = new Set(["missing", "truncated"]);
const MOVABLE = new Set(["misplaced", "misnamed"]);

/** POSIX shell quoting, for paths in a copied command. */
export function shellQuote(s) {
  const str = String(s);
  return /^[A-Za-z0-9_./:=+-]+$/.test(str) ? str : `'${str.replace(/'/g, `'"'"'`)}'`;
}

function parentDir(path) {
  const p = String(path).replace(/\/+$/, "");
  const i = p.lastIndexOf("/");
  return i > 0 ? p.slice(0, i) : "/";
}

/** The flags that point the CLI at the folders this ComfyUI uses: its folder (models/ and its
 *  extra_model_paths.yaml) when the report names ComfyUI's models directory, else every root. */
export function locationArgs(report) {
  const roots = report?.roots ?? [];
  const comfy = roots.find((r) => r.source === "ComfyUI models directory");
  if (comfy) return ["--comfyui", parentDir(comfy.path)];
  return roots.flatMap((r) => ["--root", r.path]);
}

/** [{workflow, blocking, fetch, fix}] for every workflow that is not ready: `fetch` when a file
 *  is missing or half-downloaded, `fix` when one is only misplaced or misnamed (else null). */
export function fetchCommands(report) {
  const where = locationArgs(report).map(shellQuote).join(" ");
  const out = [];
  for (const [id, st] of Object.entries(report?.workflows ?? {})) {
    if (st.ready) continue;
    // a file's status (an unjudged input or a missing node type is not fetched)
    const statuses = (st.blocking ?? []).filter((b) => !["unjudged", "node_type", "pairing"].includes(b.role)).map((b) => b.status);
    const wf = `--workflow ${shellQuote(id)}`;
    out.push({
      workflow: id,
      blocking: (st.blocking ?? []).length,
      fetch: statuses.some((s) => FETCHABLE.has(s)) ? `python -m wan22 fetch ${wf} ${where}`.trim() : null,
      fix: statuses.some((s) => MOVABLE.has(s)) ? `python -m wan22 inventory ${wf} ${where} --fix`.trim() : null,
    });
  }
  return out;
}

async function copyText(text) {
  if (navigator.clipboard?.writeText && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  // a plain-http ComfyUI on another host has no async clipboard: the old way
  const ta = h("textarea", { readonly: true, style: { position: "fixed", opacity: "0" } });
  ta.value = text;
  document.body.append(ta);
  ta.select();
  try {
    if (!document.execCommand("copy")) throw new Error("the browser refused to copy");
  } finally {
    ta.remove();
  }
}

function commandRow(kind, text) {
  const code = h("code", { class: "wan22-cmd", dataset: { wan22Command: kind } }, text);
  const button = h("button", { class: "wan22-btn", type: "button", title: "Copy the command", dataset: { wan22Copy: kind } },
    "Copy");
  button.addEventListener("click", async () => {
    try {
      await copyText(text);
      button.textContent = "Copied";
    } catch (e) {
      button.textContent = "Select and copy";
      console.warn("[wan22] copy failed:", e);
    }
    setTimeout(() => { button.textContent = "Copy"; }, 2000);
  });
  return h("div", { class: "wan22-cmd-row", style: { display: "flex", gap: "6px", alignItems: "flex-start", margin: "4px 0" } },
    h("div", { style: { flex: "1", overflowWrap: "anywhere", fontFamily: "monospace", fontSize: "11px" } }, code), button);
}

/** The sidebar section; empty (null) when every workflow is ready. */
export function renderFetchCommands(report) {
  const rows = fetchCommands(report).filter((r) => r.fetch || r.fix);
  if (!rows.length) return null;
  const box = h("div", { class: "wan22-fetch", dataset: { wan22Fetch: "" } },
    h("h3", {}, "Fill the volume"),
    h("div", { class: "wan22-muted" }, "Run in a terminal on the machine with the volume, from the pack's folder "
      + "(custom_nodes/…). fetch downloads only what the workflow lacks, resumes, verifies, never overwrites; "
      + "--dry-run shows the plan and sizes first."));
  for (const r of rows) {
    box.append(h("div", { class: "wan22-wf-name", style: { marginTop: "8px" } }, `${r.workflow} (${r.blocking} blocking)`));
    if (r.fix) box.append(commandRow("fix", r.fix));
    if (r.fetch) box.append(commandRow("fetch", r.fetch));
  }
  return box;
}
