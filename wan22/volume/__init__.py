"""The model volume: what is on disk and whether it can serve a workflow.

Owns the bounded safetensors header reader (safetensors_header), model identification from
headers (identify), the bounded GGUF header reader (gguf_header), any file judged by its header
as the kind a loader input expects, whatever its name, and which files hold the same model
(kinds), ComfyUI's model roots with extra_model_paths.yaml read exactly as ComfyUI
reads it (roots), listings (listing), per-file checks (checks), finding files where ComfyUI
would and where users misplace them (find), the report (report), the optional data hash
(verify), the inventory that ties them together (inventory) and the same check for the files a
given workflow names (workflow_check, fed by wan22.api.refs through its callers); and the commands whose job is
to change the volume (fetch, fix and their helpers). The inventory never writes to the volume.
May import plan/, audio/ and the bottom floor (catalog, errors); never api/, demo/, serverless/
or cli/.
"""
