"""reward_fns: math and code reward functions, registered by ``data_source``."""
