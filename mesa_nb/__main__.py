"""``python -m mesa_nb``: the ``mesa-nb`` command."""

import sys

from .cli import main

sys.exit(main())
