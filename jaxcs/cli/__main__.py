"""``python -m jaxcs.cli``: the console script, run without installing it."""

import sys

from jaxcs.cli import main

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
