"""Job input files: decode a base64 string, a `data:` URL or an `https://` URL into bytes, tell
what the bytes are (image, audio or video, by opening them with PIL / PyAV, never by their name)
and give them a content-hash name for ComfyUI's input folder.

Every refusal is a `JobError` naming the job field (`input.image`, `input.files[1].data`...) and
what is allowed. Nothing here writes to disk: the worker uploads the bytes to ComfyUI, which
stores them in its input folder under the name `stored_name` gives.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import re
import urllib.parse
from dataclasses import dataclass
from typing import Any

from ..errors import Wan22Error
from . import download

KINDS = ("image", "audio", "video")
URL_TIMEOUT = 60.0
_B64_RE = re.compile(r"^[A-Za-z0-9+/_-]*={0,2}$")
_WS_RE = re.compile(r"\s+")
# PyAV demuxers that read a still image: such a file is an image, never a video
IMAGE_DEMUXERS = ("image2", "png_pipe", "jpeg_pipe", "webp_pipe", "bmp_pipe", "tiff_pipe", "gif")
# container (first name PyAV gives) -> file extension, for video and for audio
VIDEO_EXT = {"mov": ".mp4", "matroska": ".mkv", "avi": ".avi", "flv": ".flv", "mpegts": ".ts", "mpeg": ".mpg"}
AUDIO_EXT = {"mov": ".m4a", "wav": ".wav", "mp3": ".mp3", "flac": ".flac", "ogg": ".ogg", "aac": ".aac",
             "matroska": ".mka", "aiff": ".aiff", "w64": ".wav"}
IMAGE_EXT = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp", "GIF": ".gif", "BMP": ".bmp", "TIFF": ".tiff"}


class JobError(Wan22Error):
    """A job input the worker refuses; the message names the field and what is allowed."""


@dataclass(frozen=True)
class Media:
    """One decoded input file: its bytes, what it is and what the worker learnt opening it."""

    data: bytes
    kind: str  # image | audio | video
    ext: str  # file extension ComfyUI's loaders list it under (.png, .m4a, .mp4...)
    seconds: float | None = None  # audio: duration; video: duration when known
    width: int | None = None
    height: int | None = None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def stored_name(self) -> str:
        """The name in ComfyUI's input folder: content-addressed, so equal names mean equal bytes
        on a warm worker, and no name a client sends ever becomes a path."""
        return f"wan22_{self.sha256[:24]}{self.ext}"


def _decode_base64(text: str, field: str) -> bytes:
    compact = _WS_RE.sub("", text)
    if not compact or not _B64_RE.match(compact):
        raise JobError(f"{field}: not base64, a data: URL or an https:// URL (base64 uses A-Z a-z 0-9 + / and = padding)")
    altchars = b"-_" if ("-" in compact or "_" in compact) else None
    try:
        return base64.b64decode(compact + "=" * (-len(compact) % 4), altchars=altchars, validate=True)
    except (binascii.Error, ValueError) as e:
        raise JobError(f"{field}: undecodable base64 ({e})") from None


def _decode_data_url(text: str, field: str) -> bytes:
    head, sep, payload = text.partition(",")
    if not sep:
        raise JobError(f"{field}: a data: URL needs a comma before its data (data:<type>;base64,<data>)")
    if not head.endswith(";base64"):
        raise JobError(f"{field}: only base64 data: URLs are accepted (data:<type>;base64,<data>)")
    return _decode_base64(payload, field)


def _download(url: str, field: str, max_bytes: int) -> bytes:
    """An https:// input, fetched by `download.fetch` (public addresses only, checked after DNS
    and on every redirect; no https-to-http redirect; at most 5 redirects; `max_bytes`)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise JobError(f"{field}: only https:// URLs are fetched (got {parts.scheme or 'no'} scheme)")
    where = f"{parts.hostname}{parts.path}"
    try:
        return download.fetch(url, max_bytes, URL_TIMEOUT)
    except download.Refused as e:
        raise JobError(f"{field}: not fetched: {e}") from None
    except download.HTTPStatus as e:
        raise JobError(f"{field}: GET {where} answered HTTP {e.code}") from None
    except download.TooBig:
        raise JobError(f"{field}: the file at {where} is over {max_bytes / 1e6:g} MB (the worker's limit)") from None
    except (Wan22Error, OSError, ValueError) as e:
        raise JobError(f"{field}: cannot fetch {where} ({e})") from None


def decode(value: Any, field: str, max_bytes: int) -> bytes:
    """The bytes a job field carries: base64, a base64 `data:` URL or an `https://` URL."""
    if not isinstance(value, str):
        raise JobError(f"{field}: expected a string (base64, a data: URL or an https:// URL), got {type(value).__name__}")
    text = value.strip()
    if not text:
        raise JobError(f"{field}: empty; give base64, a data: URL or an https:// URL")
    low = text[:8].lower()
    if low.startswith("data:"):
        data = _decode_data_url(text, field)
    elif low.startswith(("https://", "http://")):
        data = _download(text, field, max_bytes)
    else:
        data = _decode_base64(text, field)
    if not data:
        raise JobError(f"{field}: decodes to an empty file")
    if len(data) > max_bytes:
        raise JobError(f"{field}: {len(data) / 1e6:.1f} MB decoded, over the worker's {max_bytes / 1e6:g} MB limit per file")
    return data


def _as_image(data: bytes) -> Media | None:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            fmt = str(im.format or "")
            width, height = im.size
            im.verify()
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return None
    if fmt not in IMAGE_EXT:
        return None
    return Media(data, "image", IMAGE_EXT[fmt], width=int(width), height=int(height))


def _audio_seconds(container: Any, stream: Any) -> float:
    """Samples decoded / rate: exact for every codec (headers of m4a and mp3 files can be off)."""
    rate = int(stream.codec_context.sample_rate or stream.rate or 0)
    samples = sum(int(f.samples) for f in container.decode(stream))
    return samples / rate if rate else 0.0


def _as_av(data: bytes) -> Media | None:
    import av

    try:
        with av.open(io.BytesIO(data)) as c:
            fmt = str(c.format.name).split(",")[0]
            if fmt in IMAGE_DEMUXERS:
                return None
            if c.streams.video:
                vs = c.streams.video[0]
                seconds = float(c.duration) / 1e6 if c.duration else None
                return Media(data, "video", VIDEO_EXT.get(fmt, ".mp4"), seconds=seconds,
                             width=int(vs.codec_context.width), height=int(vs.codec_context.height))
            if c.streams.audio:
                seconds = _audio_seconds(c, c.streams.audio[0])
                return Media(data, "audio", AUDIO_EXT.get(fmt, ".wav"), seconds=seconds)
    except (av.error.FFmpegError, OSError, ValueError, IndexError):
        return None
    return None


def identify(data: bytes) -> Media | None:
    """What the bytes are (image first, then audio/video through PyAV), or None for anything else."""
    return _as_image(data) or _as_av(data)


def load(value: Any, field: str, max_bytes: int, kinds: tuple[str, ...] = KINDS) -> Media:
    """Decode and identify one input; JobError unless it is one of `kinds`."""
    data = decode(value, field, max_bytes)
    media = identify(data)
    allowed = " or ".join(kinds)
    if media is None:
        raise JobError(f"{field}: the data is not an {allowed} file this worker can read "
                       "(images: PNG, JPEG, WebP, GIF, BMP, TIFF; audio and video: any format FFmpeg reads)")
    if media.kind not in kinds:
        raise JobError(f"{field}: got {'an' if media.kind[0] in 'aeiou' else 'a'} {media.kind} file, expected {allowed}")
    if media.kind == "audio" and not media.seconds:
        raise JobError(f"{field}: the audio has no samples")
    return media
