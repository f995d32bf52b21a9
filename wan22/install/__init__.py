"""Installation support run by the pack's install.py (ComfyUI-Manager and comfy-cli run it at install
time): the model folders the pack needs registered, the requirements check, the report. Imports
volume/ (the model roots), comfyui_dir and the bottom floor; nothing of demo/ or the ComfyUI process.
"""
