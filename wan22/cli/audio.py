"""`python -m wan22 audio-prep IN OUT`: any audio file -> 16 kHz mono WAV for S2V, plus the frame plan.

Reads anything PyAV decodes (WAV, FLAC, MP3, OGG, M4A/AAC, the audio track of a video), runs
:func:`wan22.audio.prepare.prepare` and writes a 16-bit 16 kHz mono WAV. Prints the summary (or, with
``--json``, everything as JSON: sample_rate, channels, frames, seconds, chunks, the chunk plan,
levels and warnings). Warnings also go to stderr. Exit codes: 0 written, 2 bad input or
arguments (``error: ...`` on stderr naming the file and the problem), 1 the output could not
be written.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from ..audio.frames import DEFAULT_CHUNK, S2V_AUDIO_FPS
from ..audio.params import DEFAULT_NORMALIZE, NORMALIZE_MODES
from ..errors import AudioError

CLI_LABELS = {
    "fps": "--fps", "start": "--start", "seconds": "--seconds", "frames": "--frames", "chunk": "--chunk",
    "normalize": "--normalize", "sample_rate": "sample rate", "batch_index": "batch index",
}


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")


def _error(msg: str) -> int:
    _err(f"error: {msg}")
    return 2


def _same_file(a: str, b: str) -> bool:
    if os.path.abspath(a) == os.path.abspath(b) or os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.exists(b) and os.path.samefile(a, b)
    except OSError:
        return False


def run(args: argparse.Namespace) -> int:
    inp = str(args.input)
    outp = str(args.output)
    if not os.path.exists(inp):
        return _error(f"{inp}: no such file")
    if _same_file(inp, outp):
        return _error(f"{outp} is the input file; audio-prep never overwrites its input: choose another OUT path")
    if not outp.lower().endswith(".wav"):
        return _error(f"{outp}: OUT must be a .wav path (audio-prep writes a 16 kHz mono WAV)")
    out_dir = os.path.dirname(os.path.abspath(outp))
    if not os.path.isdir(out_dir):
        return _error(f"{outp}: the folder {out_dir} does not exist")
    if os.path.isdir(outp):
        return _error(f"{outp} is a folder; give a file name ending in .wav")

    # torch is imported only for this command
    from ..audio.files import load_audio_file, write_wav
    from ..audio.prepare import prepare

    try:
        waveform, sr = load_audio_file(inp)
    except AudioError as e:
        return _error(str(e))
    try:
        p = prepare(waveform, sr, fps=float(getattr(args, "fps", S2V_AUDIO_FPS)), start=float(getattr(args, "start", 0.0) or 0.0),
                    seconds=getattr(args, "seconds", None), frames=getattr(args, "frames", None),
                    normalize=str(getattr(args, "normalize", DEFAULT_NORMALIZE)),
                    chunk=int(getattr(args, "chunk", DEFAULT_CHUNK)),
                    labels=CLI_LABELS)
    except AudioError as e:
        return _error(f"{inp}: {e}")
    try:
        write_wav(outp, p.waveform, p.sample_rate)
    except OSError as e:
        _err(f"error: {outp}: cannot write: {e.strerror or e}")
        return 1
    for w in p.warnings:
        _err(f"warning: {inp}: {w}")
    if getattr(args, "json", False):
        doc = {"input": inp, "output": outp, **p.as_dict()}
        _out(json.dumps(doc, indent=2))
    else:
        _out(p.summary)
        _out(f"wrote {outp}")
    return 0


def cmd_audio_prep(a: argparse.Namespace) -> int:
    return int(run(a))


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    s = sub.add_parser("audio-prep", help="any audio file -> 16 kHz mono WAV for S2V, with the frame plan")
    s.add_argument("input")
    s.add_argument("output")
    s.add_argument("--fps", type=float, default=S2V_AUDIO_FPS)
    g = s.add_mutually_exclusive_group()
    g.add_argument("--frames", type=int, help="video frames to cover (rounded to 4n+1)")
    g.add_argument("--seconds", type=float, help="seconds of audio to keep")
    s.add_argument("--start", type=float, default=0.0, help="start offset in seconds")
    s.add_argument("--normalize", choices=NORMALIZE_MODES, default=DEFAULT_NORMALIZE)
    s.add_argument("--chunk", type=int, default=DEFAULT_CHUNK, help="S2V chunk length in frames")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_audio_prep)
