"""The demo and the dev toolkit: demo volumes (tiny stand-ins and real-size sparse files),
tensor layouts, the one ComfyUI server toolkit (find_comfyui, ComfyServer, free ports, model
paths yaml, start image) used by the demo, tests, tools and benchmarks, install support and the
`demo` run itself. May import api/, volume/, plan/, audio/ and the bottom floor; never cli/.
"""
