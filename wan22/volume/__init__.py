"""The model volume, read only: what is on disk and whether it can serve a workflow.

Owns the bounded safetensors header reader (safetensors_header), model identification from
headers (identify), the bounded GGUF header reader (gguf_header), any file judged by its header
as the kind a loader input expects, whatever its name, and which files hold the same model
(kinds), ComfyUI's model roots with extra_model_paths.yaml read exactly as ComfyUI
reads it (roots), listings (listing), per-file checks (checks), finding files where ComfyUI
would and where users misplace them (find), the report (report), the optional data hash
(verify), the LightX2V LoRA generation checks (lora_generation), the inventory that ties them
together (inventory) and the same check for the files a given workflow names (workflow_check and
ref_judge, fed by wan22.graph's reader). Nothing here writes to the volume: the commands that do
are the fetch/ wing; page-cache warming is the prefetch/ wing.
May import graph/, plan/, audio/ and the bottom floor (catalog, errors); never fetch/, prefetch/,
api/, demo/, serverless/, install/ or cli/.
"""
