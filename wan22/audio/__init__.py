"""S2V audio: decoding files, resampling to 16 kHz mono, levels, and the 4n+1 frame and
Extend chunk plan. numpy and torch only; imports only the bottom floor (catalog, errors).

Modules, bottom to top (each imports only those before it): ``params`` (choices, labels,
number tests) and ``frames`` (frame and chunk plan), both torch-free; ``resample``, ``levels``,
``files`` (PyAV decoding, WAV writing); ``prepare`` (the pipeline). Import names from their
module: this package re-exports nothing, so ``frames`` stays importable without torch.
"""
