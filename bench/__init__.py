"""Benchmarks and their tools (run as scripts: `python bench/<name>.py`, or all with `make bench`).

A package so that the tests import the tools they check (`from bench import slowfs`) without
path edits. Never shipped (.comfyignore).
"""
