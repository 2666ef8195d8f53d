"""verl-metaagent: MetaAgent-X (design + execute multi-agent systems) as a verl plugin.

Pins, and why:

* ``verl==0.9.1`` -- every extension point we use (``AgentLoopManager``/``AgentLoopWorker``,
  ``register_adv_est``, the platform and rollout-replica registries, ``RayPPOTrainer``)
  is read from the 0.9.1 source; these are experimental APIs that move between minors.
* ``transformers==5.9.0`` -- verl 0.9.1 accepts ``>=5.5.3,<5.11`` and its ``vllm`` extra pins
  5.9.0, so CPU and GPU installs resolve the same tokenizer/chat-template code.
* ``torch>=2.6,<=2.14.1`` -- no exact pin in ``install_requires`` so that GPU users get the
  torch their vLLM/SGLang wheel needs (``[gpu]`` extra pulls ``verl[vllm]`` -> torch 2.11.0).
  The CPU set-up (``scripts/setup.sh``) installs the CPU wheel ``torch==2.13.0`` first; the
  upper bound is the highest release available on the CPU build machines.
* ``TransferQueue``, ``cachetools``, ``uvicorn``, ``fastapi``, ``pyzmq``, ``msgspec`` -- imported
  by verl 0.9.1's trainer / agent loop but only declared in verl's ``verl-core`` extra, which
  the plain wheel does not pull.
* ``math-verify`` -- the math grader's primary equivalence checker (verl's ``math`` extra).
"""

from setuptools import find_packages, setup

VERL_RUNTIME_GAPS = [
    "TransferQueue>=0.1.10",
    "cachetools",
    "uvicorn",
    "fastapi",
    "pyzmq",
    "msgspec",
]

install_requires = [
    "verl==0.9.1",
    "transformers==5.9.0",
    "torch>=2.6,<=2.14.1",
    "tokenizers",
    "hydra-core",
    "omegaconf",
    "numpy",
    "pandas",
    "pyarrow",
    "sympy",
    "math-verify>=0.9",
    "pylatexenc",
    "matplotlib",
    "tensorboard",
    "httpx",
    "tqdm",
    "orjson",  # verl's JSONL file tracker (trainer.logger=[file])
    *VERL_RUNTIME_GAPS,
]

extras_require = {
    "test": ["pytest>=8", "pytest-asyncio", "pytest-timeout"],
    # CPU: the torch wheel that the CPU build machines carry.
    "cpu": ["torch==2.13.0"],
    # A real cluster: vLLM (+ the torch it needs) and flash-attention through verl's own extras.
    "gpu": ["verl[vllm]==0.9.1", "flash-attn"],
    "sglang": ["verl[sglang]==0.9.1"],
}

setup(
    name="verl-metaagent",
    version="0.1.0",
    description="MetaAgent-X for verl: one model learns to design and to execute multi-agent systems",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["verl_metaagent", "verl_metaagent.*", "reward_fns", "reward_fns.*"]),
    package_data={"verl_metaagent": ["**/*.yaml", "**/*.md", "**/*.json", "**/*.py.txt"], "reward_fns": ["**/*.json"]},
    include_package_data=True,
    install_requires=install_requires,
    extras_require=extras_require,
    entry_points={
        "console_scripts": [
            "metaagent=verl_metaagent.cli:main",
        ],
        # verl imports every entry point of this group at start-up (VERL_USE_EXTERNAL_PLUGINS=auto),
        # so a stock `python -m verl.trainer.main_ppo` sees our registrations too.
        "verl.plugins": ["metaagent=verl_metaagent"],
    },
)
