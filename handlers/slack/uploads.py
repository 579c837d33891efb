"""A file from disk into a Slack conversation, streamed: Slack's three upload steps
(files.getUploadURLExternal, the bytes to the URL it gives, files.completeUploadExternal).

`files_upload_v2` takes the same steps, but reads the whole file into memory first, even when
given a path; a dataset export of 100,000 examples is hundreds of megabytes, so the bytes go
from the file to the socket a chunk at a time here instead.
"""

from __future__ import annotations

from pathlib import Path

import aiohttp
from slack_sdk.errors import SlackRequestError
from slack_sdk.web.async_client import AsyncWebClient


async def upload_file(
    client: AsyncWebClient,
    path: Path,
    *,
    size: int,
    filename: str,
    channel: str,
    title: str,
    initial_comment: str,
) -> None:
    reserved = await client.files_getUploadURLExternal(filename=filename, length=size)
    await _send(client, reserved["upload_url"], path, filename)
    await client.files_completeUploadExternal(
        files=[{"id": reserved["file_id"], "title": title}],
        channel_id=channel,
        initial_comment=initial_comment,
    )


async def _send(client: AsyncWebClient, url: str, path: Path, filename: str) -> None:
    # The client's own session, proxy, TLS settings and timeout, as files_upload_v2 uses them.
    session = client.session if client.session and not client.session.closed else None
    own = session is None
    session = session or aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=client.timeout))
    try:
        with path.open("rb") as body:
            async with session.post(url, data=body, proxy=client.proxy, ssl=client.ssl) as response:
                status, text = response.status, await response.text()
    finally:
        if own:
            await session.close()
    if status != 200:
        raise SlackRequestError(
            f"Failed to upload a file (status: {status}, body: {text[:200]}, filename: {filename})"
        )
