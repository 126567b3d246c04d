"""``python -m fakezoo``: the ``fakezoo`` command, also as ``torchrun -m fakezoo``."""

import sys

from .cli import main

sys.exit(main())
