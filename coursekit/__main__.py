"""``python -m coursekit …``: see :mod:`coursekit.cli`."""

from coursekit.cli import main

raise SystemExit(main())
