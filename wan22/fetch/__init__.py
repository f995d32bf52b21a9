"""The commands that write to the user's model volume: `python -m wan22 fetch` and `inventory --fix`.

Owns the fetch command (fetch: inventory, plan, transfers, verification, placement, inventory
again), its plan of what to download where and whether it fits (plan), plain resumable HTTP
transfers (http), Hugging Face URLs with the optional huggingface_hub / hf_xet (hf), the
no-clobber placement of a finished file (place) and the inventory's misplaced/misnamed moves
(fix). Nothing else in the pack writes to the volume, and only these two commands call this wing.
May import volume/ (the read-only inventory it plans from and verifies with), graph/, plan/ and the
bottom floor (catalog, errors, _version); never api/, prefetch/, demo/, serverless/, install/ or cli/.
"""
