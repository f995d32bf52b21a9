"""ComfyUI's HTTP API as a library: widget layouts (widgets), UI -> API conversion with
subgraphs (convert), ComfyUI's official templates (templates), the model files any workflow
references (refs, with the custom-node packs that provide unknown node types in packs),
preflight against /object_info (preflight, with this pack's rules in pack_rules), prompt edits
(edits), the HTTP + websocket client (client), progress from websocket events (progress),
RunPod request bodies (runpod) and `submit` with its typed SubmitOptions. No printing: callers
pass output callbacks (and a stream for the progress bar). May import plan/, audio/ and the
bottom floor; never volume/, demo/, serverless/ or cli/.
"""
