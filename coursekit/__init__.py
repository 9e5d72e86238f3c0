"""coursekit: the support package of the course on pretrained language models.

The notebooks in ``chapters/`` import it; each module holds one concept (see the README).
Start a chapter with ``device = coursekit.setup()``.
"""

from __future__ import annotations

from coursekit._compat import (
    EnvironmentProblem,
    check_python,
    configure_openmp_waiting,
    import_torch,
)

check_python()
configure_openmp_waiting()  # before torch loads: OpenMP reads its wait settings only then
import_torch()

from coursekit.device import (  # noqa: E402
    autocast,
    budget,
    configure_threads,
    get_device,
    seed_everything,
    setup,
)
from coursekit.doctor import doctor  # noqa: E402
from coursekit.report import RunReport, run_report  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "EnvironmentProblem",
    "RunReport",
    "__version__",
    "autocast",
    "budget",
    "configure_threads",
    "doctor",
    "get_device",
    "run_report",
    "seed_everything",
    "setup",
]
