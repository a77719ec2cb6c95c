"""`python -m helpers` is the `qwen3vl` command."""

import sys

from helpers.cli import main

sys.exit(main())
