"""``python -m gliclass_integrations.cli``: the same as the ``gliclass-integrations`` command."""

import sys

from . import main

if __name__ == "__main__":
    sys.exit(main())
