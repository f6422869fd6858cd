"""The engine's version, which enters every execution's identity, and the commit it runs from.

Bump ``ENGINE_VERSION`` whenever a change can alter a run's accuracy or timings
(the loop, a model, a strategy, the data pipeline): results of an older version
are then never reused for a new experiment. The commit is recorded as
provenance only.
"""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path

ENGINE_VERSION = "0.5.0"

_ROOT = Path(__file__).resolve().parents[2]


@functools.cache
def engine_commit() -> str:
    """``SAMPLEWISE_COMMIT`` if set (images built without .git), else the checkout's HEAD, else ""."""
    configured = os.environ.get("SAMPLEWISE_COMMIT", "").strip()
    if configured:
        return configured[:64]
    try:
        completed = subprocess.run(
            ["git", "-C", str(_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return completed.stdout.strip()[:64]
