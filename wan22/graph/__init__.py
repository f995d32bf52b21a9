"""Reading workflows: every shape a workflow arrives in (UI with subgraphs, API, `{"prompt"}`,
RunPod bodies, queue and history items: `shapes`) into one API-format graph (`convert`, with
the frontend's widget layouts in `widgets` and ComfyUI's official templates in `templates`), and
for each node that reaches an output the model files it loads or why it cannot be judged
(`reader`, `judge`, `records`), from the one loader table (`loaders`, with the packs that provide
node types in `packs`) and what this pack's Bundle Loader and Mode Router load (`pack_nodes`).
Every user of a prompt's files asks here: the inventory's check, the ComfyUI route, preflight,
prefetch and fetch planning. No I/O beyond this package's data files. May import plan/, audio/
and the bottom floor (catalog, errors); never api/, volume/, fetch/, prefetch/, demo/, serverless/ or cli/.
"""
