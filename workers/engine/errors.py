"""Errors the engine raises for bad configuration or bad data."""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration value is invalid; ``field`` names it (dotted for nesting)."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class DatasetError(ValueError):
    """Input data is corrupt or inconsistent; the message names the file and the problem."""


class DatasetFetchError(DatasetError):
    """A dataset could not be fetched from where it is served (network, server, truncated download).

    Unlike bad data, this may pass: a worker retries it and gives the run back
    rather than failing it.
    """
