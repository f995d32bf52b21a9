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
