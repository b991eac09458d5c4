"""`python -m bench`: every benchmark in one run, one dated result file (bench/driver.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.driver import main  # noqa: E402

sys.exit(main())
