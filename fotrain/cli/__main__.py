"""``python -m fotrain.cli``: the ``fotrain`` command without the console script."""

import sys

from . import main

__all__: list[str] = []

if __name__ == "__main__":
    sys.exit(main())
