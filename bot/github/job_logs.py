"""The tail of a GitHub Actions job's log, fetched from its pre-signed link without our token."""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import urlsplit

import gidgethub
import httpx2
import structlog
from gidgethub import sansio
from gidgethub.abc import GitHubAPI

from bot.redact import redact

log = structlog.get_logger(__name__)

LOG_TAIL_LINES = 200
LOG_TAIL_CHARS = 8_000
LOG_READ_BYTES = 512 * 1024
"""Only the end of a job log is kept while it streams in: a log can run to hundreds of MB."""
REDIRECTS = frozenset({301, 302, 303, 307, 308})
_LOG_PREFIX = re.compile(r"^\ufeff?\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z ?", re.M)
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


async def job_log_tail(gh: GitHubAPI, repo: str, job_id: int, secrets: Sequence[str]) -> str:
    """The last lines of Actions job `job_id`'s log in `repo`, with `secrets` redacted.

    The runner's timestamps and colours are stripped; at most `LOG_TAIL_LINES` lines and
    `LOG_TAIL_CHARS` characters are kept. "" when GitHub has none to give (expired, no
    access) or the download fails: a GitHub or HTTP error is logged, not raised.
    """
    url = sansio.format_url(
        "/repos/{+repo}/actions/jobs/{job_id}/logs",
        {"repo": repo, "job_id": job_id},
        base_url=gh.base_url,
    )
    # gidgethub raises on a redirect without its headers, so ask through the raw request
    # with the headers gidgethub itself would send (AIOS's client adds its token there).
    headers = sansio.create_headers(
        gh.requester,
        accept=sansio.accept_format(),
        oauth_token=gh.oauth_token,
        jwt=gh._get_app_jwt(),
    )
    try:
        status, answer_headers, body = await gh._request("GET", url, headers, b"")
        if status == 200:  # a client that follows redirects itself
            return _tail(body, truncated=False, secrets=secrets)
        location = {k.lower(): v for k, v in answer_headers.items()}.get("location")
        if status not in REDIRECTS or not location:
            log.info("ci.log_unavailable", job_id=job_id, status=status)
            return ""
        downloaded = await _download(gh, location)
    except (gidgethub.GitHubException, httpx2.HTTPError) as exc:
        log.warning("ci.log_unavailable", job_id=job_id, error=type(exc).__name__)
        return ""
    if downloaded is None:
        return ""
    return _tail(downloaded[0], truncated=downloaded[1], secrets=secrets)


async def _download(gh: GitHubAPI, location: str) -> tuple[bytes, bool] | None:
    """GET a pre-signed URL: its signature is its credential, so no token goes with it."""
    parts = urlsplit(location)
    client = getattr(gh, "_client", None)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        log.warning("ci.log_location_unusable", scheme=parts.scheme)
        return None
    if not isinstance(client, httpx2.AsyncClient):
        log.warning("ci.log_download_unsupported", client=type(gh).__name__)
        return None
    request = client.build_request("GET", location, headers={"user-agent": gh.requester})
    for name in ("authorization", "cookie"):  # the client's defaults must not ride along
        request.headers.pop(name, None)
    response = await client.send(request, stream=True)
    try:
        if response.status_code != 200:
            # The URL's query is its signature: log the host only.
            log.info("ci.log_unavailable", host=parts.hostname, status=response.status_code)
            return None
        kept = bytearray()
        truncated = False
        async for chunk in response.aiter_bytes():
            kept += chunk
            if len(kept) > 2 * LOG_READ_BYTES:
                del kept[:-LOG_READ_BYTES]
                truncated = True
        if len(kept) > LOG_READ_BYTES:
            del kept[:-LOG_READ_BYTES]
            truncated = True
        return bytes(kept), truncated
    finally:
        await response.aclose()


def _tail(raw: bytes, *, truncated: bool, secrets: Sequence[str]) -> str:
    """The last lines of a log, without the runner's timestamps and colours, redacted."""
    text = raw.decode("utf-8", errors="replace").replace("\r\n", "\n")
    if truncated:
        text = text.partition("\n")[2]  # the first line was cut mid-way
    text = _ANSI.sub("", _LOG_PREFIX.sub("", text))
    tail = "\n".join(text.rstrip("\n").split("\n")[-LOG_TAIL_LINES:])
    if len(tail) > LOG_TAIL_CHARS:
        tail = tail[-LOG_TAIL_CHARS:].partition("\n")[2]
    return redact(tail, secrets)
