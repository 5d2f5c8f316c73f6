"""``python -m hilbert_sd`` runs the ``hilbert-sd`` command."""

import sys

from hilbert_sd.cli import main

sys.exit(main())
