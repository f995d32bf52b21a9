"""S2V audio: decoding files, resampling to 16 kHz mono, levels, and the 4n+1 frame and
Extend chunk plan. numpy and torch only; imports only the bottom floor (catalog, errors).
"""
