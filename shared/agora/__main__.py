"""``python -m agora``: the operator command (same as the ``agora`` console script); see :mod:`agora.cli`."""
import sys

from agora.cli import main

if __name__ == "__main__":
    sys.exit(main())
