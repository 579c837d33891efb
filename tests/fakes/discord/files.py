"""Attachments: files the bot uploads or users send, their payloads, and the CDN that serves
them back."""

from __future__ import annotations

import mimetypes
from typing import Any
from urllib.parse import quote

from aiohttp import web

from tests.fakes.discord.models import Attachment


class Files:
    """FakeDiscord's attachments and its CDN route."""

    def _attachment(self, filename: str, content: bytes, description: str | None = None):
        content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        return Attachment(self.new_id(), filename, content, content_type, description)

    def _attachment_payload(self, channel_id: int, a: Attachment) -> dict[str, Any]:
        url = f"{self.base_url}/attachments/{channel_id}/{a.id}/{quote(a.filename)}"
        payload = {
            "id": str(a.id),
            "filename": a.filename,
            "size": len(a.content),
            "url": url,
            "proxy_url": url,
            "content_type": a.content_type,
        }
        if a.description is not None:
            payload["description"] = a.description
        return payload

    def _new_attachments(
        self, payload: dict[str, Any], files: dict[int, tuple[str, bytes]]
    ) -> list[Attachment]:
        """Attachments for uploaded files; payload `attachments` may rename/describe them."""
        meta = {
            str(a.get("id")): a for a in payload.get("attachments") or [] if isinstance(a, dict)
        }
        result = []
        for index, (filename, content) in sorted(files.items()):
            info = meta.get(str(index), {})
            result.append(
                self._attachment(info.get("filename") or filename, content, info.get("description"))
            )
        return result

    async def _handle_cdn(self, request: web.Request) -> web.Response:
        message_attachments = (a for m in self.messages.values() for a in m.attachments)
        for attachment in message_attachments:
            if str(attachment.id) == request.match_info["attachment"]:
                return web.Response(body=attachment.content, content_type=attachment.content_type)
        return web.Response(status=404, text="Not Found")
