"""CPU training path for verl 0.9.1: a ``cpu`` device platform, a ``cpu`` rollout replica, and the
few workarounds verl needs where it assumes an accelerator.

Nothing here imports verl at package import time. Activation is explicit: the workarounds are
applied only when the ``cpu`` platform is selected with ``VERL_PLATFORM=cpu`` (see
:func:`cpu_platform_active`), so GPU users never run them. See ``docs/cpu.md``.
"""

from __future__ import annotations

import os

#: Name under which the platform is registered with ``PlatformRegistry`` and selected by
#: ``VERL_PLATFORM``; also the rollout name (``actor_rollout_ref.rollout.name=cpu``).
CPU_NAME = "cpu"


def cpu_platform_active() -> bool:
    """True when this process (and, through the inherited environment, its Ray workers) runs
    verl on the ``cpu`` platform, i.e. ``VERL_PLATFORM=cpu``.

    The environment variable is the single switch because verl resolves its platform from it
    in every process (driver and each Ray actor) and caches the result; reading verl's cached
    platform here would force that resolution too early.
    """
    return os.environ.get("VERL_PLATFORM", "").strip().lower() == CPU_NAME
