"""Error responses shared by the API's OpenAPI descriptions."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse

BAD_INPUT = OpenApiResponse(description='Bad input: {"<field>": ["message"]} for every offending field.')
FORBIDDEN = OpenApiResponse(description="Your role in the team does not allow this.")
NOT_FOUND = OpenApiResponse(description="No such object among your teams'.")
CONFLICT = OpenApiResponse(description='The current state forbids it: {"detail": "message"}.')
