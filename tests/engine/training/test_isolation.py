"""The engine stays usable on its own: importing it pulls in neither Django nor the backend."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[3]

CHECK = """
import sys
import workers.engine.training, workers.engine.strategies, workers.engine.models
import workers.engine.timing, workers.engine.cli, workers.engine.datasets
leaked = sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'backend', 'rest_framework', 'celery'))
assert not leaked, leaked
print('clean')
"""


def test_engine_imports_no_django_or_backend():
    completed = subprocess.run(
        [sys.executable, "-c", CHECK], cwd=REPOSITORY, capture_output=True, text=True, timeout=120, check=False
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "clean"
