"""The web app validates against the engine's catalogues without loading PyTorch (start-up time, memory)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_web_app_and_its_services_do_not_import_torch():
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="backend.settings")
    env.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    code = (
        "import django; django.setup(); "
        "import backend.urls, backend.api.urls, backend.web.urls, backend.experiments.services, "
        "backend.policies.services, backend.datasets.services; "
        "import sys; print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
