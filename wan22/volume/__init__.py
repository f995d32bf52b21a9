"""The model volume: what is on disk and whether it can serve a workflow.

Owns the bounded safetensors header reader, model identification from headers, ComfyUI's
model roots (extra_model_paths.yaml read exactly as ComfyUI reads it), listings, per-file
checks, finding files where ComfyUI would (and where users misplace them), the report and
the optional data hash. Never writes to the volume. May import plan/, audio/ and the bottom
floor (catalog, errors); never api/, demo/, serverless/ or cli/.
"""
