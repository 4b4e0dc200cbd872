"""``python -m pipelines.commands ...`` = ``express4d ...``."""

import sys

from pipelines.commands.express4d_cli import main

sys.exit(main())
