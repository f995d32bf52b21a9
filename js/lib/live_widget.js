// Keeping a node's DOM widget in step with its node under both renderers (the classic canvas and
// Nodes 2.0, the `Comfy.VueNodes.Enabled` setting):
//
//   watchValue(widget, fn)   fn runs after every assignment to widget.value, also the ones made
//                            without the widget's callback (undo, paste, other extensions)
//   LiveElements             the DOM elements of one kind of DOM widget: an element whose node was
//                            removed leaves the page, or hands its place to the element of the node
//                            that replaced it (Nodes 2.0 keeps a node's DOM across undo, redo and
//                            graph reloads when the new node has the same id, and does not mount
//                            the new node's widget element: the old one would stay on screen)
//   fitNode(app, node, size) resizes a node to its DOM widget's content without making that an
//                            undo step

/** Wraps `widget.value` (the frontend's accessor, or a plain property) so that `onChange` runs
 * after each assignment. Returns false when the property cannot be wrapped. */
export function watchValue(widget, onChange) {
  let holder = widget;
  let desc;
  while (holder && !(desc = Object.getOwnPropertyDescriptor(holder, "value"))) holder = Object.getPrototypeOf(holder);
  if (desc && desc.configurable === false && holder === widget) return false;
  let plain = desc && !desc.get && !desc.set ? desc.value : undefined;
  const get = desc?.get ?? (() => plain);
  const set = desc?.set ?? ((v) => { plain = v; });
  Object.defineProperty(widget, "value", {
    configurable: true,
    enumerable: desc?.enumerable ?? true,
    get() {
      return get.call(this);
    },
    set(v) {
      set.call(this, v);
      try {
        onChange(v);
      } catch (e) {
        console.warn("[wan22] widget value watcher:", e);
      }
    },
  });
  return true;
}

/** The elements of one DOM widget kind. Owners are objects with `el` (the element) and `node`;
 * `shownGraph()` is the graph on screen (node ids are unique only within one graph). */
export class LiveElements {
  constructor(selector, shownGraph = () => null) {
    this.selector = selector;
    this.shownGraph = shownGraph;
    this.owners = new WeakMap();
    this.live = new Set();
    this.queued = false;
  }

  add(owner) {
    this.owners.set(owner.el, owner);
    this.live.add(owner);
    this.schedule();
  }

  remove(owner) {
    this.live.delete(owner);
    this.schedule();
  }

  /** Sweeps once the frontend has finished the current change (a graph configure adds the new
   * nodes after removing the old ones, and Nodes 2.0 patches its DOM after that). */
  schedule() {
    if (this.queued) return;
    this.queued = true;
    setTimeout(() => {
      this.queued = false;
      this.sweep();
    }, 0);
  }

  sweep() {
    const alive = (o) => this.live.has(o) && o.node?.graph;
    for (const el of document.querySelectorAll(this.selector)) {
      const owner = this.owners.get(el);
      if (!owner || alive(owner)) continue;
      const host = el.parentElement?.closest("[data-node-id]");
      const graph = this.shownGraph();
      const heir = host ? [...this.live].find((o) => alive(o) && !o.el.isConnected && String(o.node.id) === host.dataset.nodeId
        && (!graph || o.node.graph === graph)) : null;
      if (heir) el.replaceWith(heir.el);
      else el.remove();
    }
  }
}

/** Resizes `node` to fit its DOM widget's content. Layout that follows content is not an edit, but
 * the frontend's change tracker compares the whole graph, node sizes included, with the state it
 * holds on every key and mouse event: a size it has not seen becomes an undo step of its own and
 * empties the redo queue (then Ctrl+Z undoes a resize nobody made, or Ctrl+Y after Ctrl+Z does
 * nothing). So the node's size is also written into its entry of the tracker's current state, now
 * and on each frame of the next SETTLE_MS in which it changes: Nodes 2.0 measures the node's DOM
 * after a resize and writes its own size back (a fraction of a pixel, tens of pixels off ours). The
 * rest of that state is left alone: an edit not yet recorded is still recorded. A frontend without
 * a change tracker only gets the resize. */
export function fitNode(app, node, size) {
  node.setSize?.(size);
  const until = performance.now() + SETTLE_MS;
  let seen = null;
  const absorb = () => {
    const ct = app.extensionManager?.workflow?.activeWorkflow?.changeTracker;
    // While an undo or redo loads its state, the tracker's current state is the one it replaces.
    if (!ct?.activeState || ct._restoringState || !node.graph || !(node.size?.length >= 2)) return false;
    const state = ct.activeState;
    const lists = node.graph === (app.rootGraph ?? app.graph) ? [state.nodes]
      : (state.definitions?.subgraphs ?? []).filter((sg) => sg?.id === node.graph.id).map((sg) => sg.nodes);
    for (const list of lists) {
      // (Nodes 2.0 gives a node a string id; the serialized state keeps the number.)
      const entry = Array.isArray(list) ? list.find((n) => n && String(n.id) === String(node.id)) : null;
      if (entry) entry.size = [node.size[0], node.size[1]];
    }
    return true;
  };
  const watch = () => {
    const now = `${node.size?.[0]},${node.size?.[1]}`;
    if (now !== seen && absorb()) seen = now;
    if (performance.now() < until && node.graph) requestAnimationFrame(watch);
  };
  watch();
}

const SETTLE_MS = 1500;
