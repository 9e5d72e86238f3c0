"""Fail early, in one paragraph, when the Python that builds .venv/ is too old."""

import sys

MIN = (3, 10)

if sys.version_info[:2] < MIN:
    have = ".".join(map(str, sys.version_info[:3]))
    sys.exit(
        f"The course needs Python {MIN[0]}.{MIN[1]} or newer to build its environment, but "
        f"`{sys.executable}` is Python {have}. Install a newer Python and run the command again "
        f"with it, e.g. `make test PYTHON=python3.11`."
    )
