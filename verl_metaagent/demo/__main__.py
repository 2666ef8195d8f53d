"""``python -m verl_metaagent.demo`` (see :mod:`verl_metaagent.demo.cli`)."""

from verl_metaagent.demo.cli import main

raise SystemExit(main())
