"""Relay from a design script to its parent process (placeholder).

The sandbox/runtime engineer owns this module and replaces this placeholder with the real
relay. Contract: ``request(op, payload) -> dict`` with ops ``ask``, ``run_tests``, ``final``
(see ``verl_metaagent/design/api.py``).
"""


def request(op: str, payload: dict) -> dict:
    """Send one request to the parent and return its reply (not wired up yet)."""
    raise NotImplementedError("verl_metaagent.design._transport.request is not wired to a runtime")
