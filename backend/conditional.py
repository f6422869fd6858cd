"""Conditional GETs from version stamps: an ETag per stamp and query, and 304 when the client holds it.

The API and the polled page fragments use these, so data that has not changed
is not computed or sent again.
"""

from __future__ import annotations

import hashlib

from django.http import HttpRequest, HttpResponse, HttpResponseNotModified


def etag_for(request: HttpRequest, stamp: str, *parts: str) -> str:
    """A strong ETag for this stamp, path and query (and any other ``parts`` the response depends on)."""
    query = sorted((key, value) for key, values in request.GET.lists() for value in values)
    payload = repr((stamp, request.path, query, parts))
    return f'"{hashlib.sha256(payload.encode()).hexdigest()[:32]}"'


def client_has(request: HttpRequest, etag: str) -> bool:
    """Whether ``If-None-Match`` names this ETag (compared weakly, as RFC 9110 asks for GET)."""
    header = request.headers.get("If-None-Match", "")
    if header.strip() == "*":
        return True
    offered = {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}
    return etag in offered


def with_etag(response: HttpResponse, etag: str) -> HttpResponse:
    """Mark a response with its ETag; ``no-cache`` makes every client revalidate instead of reusing it unasked."""
    response["ETag"] = etag
    response["Cache-Control"] = "private, no-cache"
    return response


def not_modified(etag: str) -> HttpResponse:
    return with_etag(HttpResponseNotModified(), etag)
