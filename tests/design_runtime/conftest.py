"""Every test here runs in both sandbox modes: forked from the warm zygote and a fresh interpreter."""

import pytest


@pytest.fixture(params=["zygote", "spawn"], autouse=True)
def sandbox_mode(request, monkeypatch):
    """The sandbox mode of this test run (``VERL_METAAGENT_SANDBOX_MODE``)."""
    monkeypatch.setenv("VERL_METAAGENT_SANDBOX_MODE", request.param)
    return request.param
