"""`python -m firmware ...`: see firmware/cli.py."""

import sys

from firmware.cli import main

sys.exit(main())
