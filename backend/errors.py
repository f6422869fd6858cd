"""The domain's one error type: a request that cannot be carried out, naming the offending input.

Services raise it; the API maps it to a 4xx response (``backend.api_errors``)
and the pages show it next to the field it names.
"""

from __future__ import annotations


class ApplicationError(Exception):
    """A request that cannot be carried out; ``field`` names the offending input."""

    def __init__(self, message: str, *, field: str | None = None, status_code: int = 400):
        super().__init__(message)
        self.message = message
        self.field = field
        self.status_code = status_code

    def as_dict(self) -> dict:
        return {self.field: [self.message]} if self.field else {"detail": self.message}
