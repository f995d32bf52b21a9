"""Hugging Face URLs (`https://huggingface.co/<org>/<repo>/resolve/<rev>/<path>`).

huggingface_hub is an optional import, not a dependency of the pack: ComfyUI's environment has it
already (transformers requires it), and without it these URLs still work as plain HTTP.

- With huggingface_hub: `get_hf_file_metadata` resolves the URL with the user's token (`HF_TOKEN`
  or the saved `hf auth login`), and gives the size, the signed CDN location, the LFS sha256
  (checked after the transfer) and the Xet hash. When `hf_xet` is installed too, Xet-backed files
  are transferred by it (`<name>.xet.part`, removed if it fails: hf_xet's chunk cache makes a rerun
  cheap); otherwise by the resumable HTTP transfer into `<name>.part`.
- Without it: plain HTTP, with `Authorization: Bearer $HF_TOKEN` when that is set.
- `HF_ENDPOINT` (a Hub mirror such as hf-mirror.com) replaces `https://huggingface.co`.

The token is sent to the Hub's own host only, never to the CDN it redirects to.
`hf_transfer` is not used: huggingface_hub 1.x dropped it in favour of hf_xet.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from pathlib import Path
from typing import Any

from .http import FetchError, Progress, Remote, status_error

HF_HOST = "huggingface.co"
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


def is_hf(url: str) -> bool:
    host = urllib.parse.urlsplit(url).hostname or ""
    return host == HF_HOST or host.endswith("." + HF_HOST) or _endpoint_host() == host


def _endpoint_host() -> str | None:
    ep = os.environ.get("HF_ENDPOINT")
    return urllib.parse.urlsplit(ep).hostname if ep else None


def with_endpoint(url: str) -> str:
    """`url` with https://huggingface.co replaced by $HF_ENDPOINT, when that is set."""
    ep = os.environ.get("HF_ENDPOINT", "").rstrip("/")
    parts = urllib.parse.urlsplit(url)
    if ep and parts.hostname == HF_HOST:
        return ep + parts.path + (f"?{parts.query}" if parts.query else "")
    return url


def _hub() -> Any:
    try:
        import huggingface_hub
    except ImportError:
        return None
    return huggingface_hub


def xet_available() -> bool:
    """huggingface_hub can hand Xet-backed files to hf_xet (both installed, not disabled)."""
    if _hub() is None or os.environ.get("HF_HUB_DISABLE_XET", "").lower() in ("1", "true", "yes", "on"):
        return False
    try:
        import hf_xet  # noqa: F401
        from huggingface_hub.file_download import xet_get  # noqa: F401
    except ImportError:
        return False
    return True


def _hf_headers() -> dict[str, str]:
    """huggingface_hub's request headers: the user's token (HF_TOKEN or the saved login) and user agent."""
    from huggingface_hub.utils import build_hf_headers  # type: ignore[attr-defined]

    return dict(build_hf_headers())


def hf_remote(name: str, url: str) -> Remote:
    """Resolve a Hub URL: size, sha256, CDN location, token (raises FetchError with the status)."""
    url = with_endpoint(url)
    hub = _hub()
    if hub is None:
        token = os.environ.get("HF_TOKEN")
        return Remote(url, url, {"Authorization": f"Bearer {token}"} if token else {}, via="http")
    try:
        meta = hub.get_hf_file_metadata(url)
    except Exception as e:  # HfHubHTTPError, network errors of whichever HTTP client the installed version uses
        resp = getattr(e, "response", None)
        code = getattr(resp, "status_code", None)
        if isinstance(code, int):
            raise status_error(name, url, code, str(getattr(resp, "reason_phrase", "") or "")) from None
        raise FetchError(f"{name}: cannot reach {url}: {e.__class__.__name__}: {e}") from None
    auth = {k: v for k, v in _hf_headers().items() if k.lower() == "authorization"}
    same_host = urllib.parse.urlsplit(meta.location).hostname == urllib.parse.urlsplit(url).hostname
    etag = (meta.etag or "").lower()
    xet = getattr(meta, "xet_file_data", None)
    return Remote(meta.location, url, auth if same_host else {}, meta.size,
                  etag if _SHA256_RE.match(etag) else None,
                  "hf_xet" if xet is not None and xet_available() else "huggingface_hub", xet)


def xet_download(name: str, remote: Remote, part: str, progress: Progress | None = None) -> int:
    """Transfer a Xet-backed file with hf_xet into `part` (removed if this fails); bytes written."""
    from huggingface_hub.file_download import xet_get

    try:
        xet_get(incomplete_path=Path(part), xet_file_data=remote.xet, headers=_hf_headers(),
                expected_size=remote.size, displayed_filename=name)
    except BaseException:
        if os.path.exists(part):
            os.unlink(part)  # hf_xet's own temporary file: not resumable by the HTTP transfer
        raise
    size = os.path.getsize(part)
    if progress is not None:
        progress(size)
    return size
