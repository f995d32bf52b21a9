"""ComfyUI's HTTP API as a library (workflows are read by wan22.graph: widget layouts, UI -> API
conversion, templates, the model files a workflow loads):
preflight against /object_info (preflight, with this pack's rules in pack_rules), prompt edits
(edits), the HTTP + websocket client (client), progress from websocket events (progress),
RunPod request bodies (runpod) and `submit` with its typed SubmitOptions. No printing: callers
pass output callbacks (and a stream for the progress bar). May import graph/, plan/, audio/ and the
bottom floor; never volume/, fetch/, prefetch/, demo/, serverless/ or cli/.
"""
