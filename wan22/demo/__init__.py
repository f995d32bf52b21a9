"""The demo and the dev toolkit: demo volumes (tiny stand-ins and real-size sparse files),
tensor layouts, the one ComfyUI server toolkit (ComfyServer, free ports, model paths yaml, start
image) used by the demo, tests, tools and benchmarks, and the `demo` run itself. Code the product
runs in production (finding ComfyUI: `wan22/comfyui_dir.py`; install.py: `wan22/install/`) lives
outside this wing; only the `demo` and `demo-volume` commands import it. May import api/,
volume/, plan/, audio/ and the bottom floor; never cli/.
"""
