"""``python -m simulator.cli ...`` runs the ``simulator`` command."""

import sys

from simulator.cli.main import main

sys.exit(main())
