"""Warming the page cache from a slow (network or FUSE) model volume before ComfyUI's loaders read it.

Owns the prefetcher (engine: which files a prompt will load and in what order, large sequential
reads on a few streams within a memory budget, cancellable, never writing to the volume) and its
optional size-capped local copy cache on another disk (cache, WAN22_LOCAL_CACHE). Used by
nodes/prefetch.py when a prompt is queued and by the serverless worker at boot.
May import graph/ (what a prompt loads) and the bottom floor (catalog, errors); never volume/,
fetch/, api/, demo/, serverless/, install/ or cli/.
"""
