"""``python -m workers.engine``: see workers.engine.cli."""

from workers.engine.cli import main

raise SystemExit(main())
