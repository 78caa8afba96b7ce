"""dancenow runtime: pose estimation, filtering, normalization, label maps.

Imports nothing heavy at package import time; each submodule pulls what it needs.
"""
