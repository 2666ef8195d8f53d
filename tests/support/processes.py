"""Which processes exist: what the sandbox tests check after a run (nothing left behind)."""

from __future__ import annotations

import os
from typing import Container, List, Optional


def processes_of(uids: Container[int], *, zombies: Optional[bool] = False) -> List[int]:
    """Pids whose real uid is in ``uids``, sorted.

    ``zombies=False``: running ones only (a killed process waiting to be reaped does not run);
    ``True``: zombies only; ``None``: both. Processes that vanish while being read are skipped.
    """
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/status") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
        except OSError:
            continue
        if int(fields["Uid"].split()[0]) not in uids:
            continue
        is_zombie = fields["State"].strip().startswith("Z")
        if zombies is None or zombies == is_zombie:
            found.append(int(pid))
    return sorted(found)


def sandbox_uid_processes(*, zombies: Optional[bool] = False) -> List[int]:
    """:func:`processes_of` the sandbox's private uid range (see :mod:`verl_metaagent.sandbox.uids`)."""
    from verl_metaagent.sandbox.uids import UID_BASE, UID_SLOTS

    return processes_of(range(UID_BASE, UID_BASE + UID_SLOTS), zombies=zombies)
