from __future__ import annotations

import sys

from tunelab.cli import main

sys.exit(main())
