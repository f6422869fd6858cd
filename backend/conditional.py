"""Conditional GETs from version stamps: an ETag per stamp and query, and 304 when the client holds it.

The API and the polled page fragments use these, so data that has not changed
is not computed or sent again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from django.http import HttpRequest, HttpResponse, HttpResponseNotModified
from django.http.request import QueryDict


def etag_for(stamp: str, path: str, query: Mapping[str, str] | QueryDict) -> str:
    """A strong ETag for this version stamp, path and query.

    A page computes the ETag of the fragment URL it will poll with the same
    function the fragment view checks it with.
    """
    items = query.lists() if isinstance(query, QueryDict) else ((key, [value]) for key, value in query.items())
    pairs = sorted((key, str(value)) for key, values in items for value in values)
    payload = repr((stamp, path, pairs))
    return f'"{hashlib.sha256(payload.encode()).hexdigest()[:32]}"'


def request_etag(request: HttpRequest, stamp: str) -> str:
    return etag_for(stamp, request.path, request.GET)


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
