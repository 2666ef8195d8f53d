"""The ``metaagent`` config group: YAML defaults (``metaagent.yaml``) and validated dataclasses (:mod:`.schema`)."""

import os

CONFIG_DIR = os.path.dirname(os.path.abspath(__file__))
