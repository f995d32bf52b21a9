"""ComfyUI's HTTP API as a library: widget layouts, UI -> API conversion, preflight against
/object_info, prompt edits, the HTTP + websocket client, and RunPod request bodies. No printing:
callers pass an output callback. May import plan/, audio/ and the bottom floor; never volume/,
demo/, serverless/ or cli/.
"""
