"""``python -m verl_metaagent.distill`` (see :mod:`verl_metaagent.distill.cli`)."""

import sys

from verl_metaagent.distill.cli import main

if __name__ == "__main__":
    sys.exit(main())
