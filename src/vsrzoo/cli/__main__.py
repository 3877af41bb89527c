"""``python -m vsrzoo.cli``: the same as the ``vsrzoo`` command."""

import sys

from vsrzoo.cli import main

sys.exit(main())
