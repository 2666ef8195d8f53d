#!/usr/bin/env python
"""Regenerate tests/fixtures/engine_sampling_fields.json from the vLLM / SGLang wheels the extras pin.

The contract test (tests/rollout/test_engine_contract.py) checks every key our rollout sends
against the ``SamplingParams`` fields of the engine versions that ``pip install -e ".[gpu]"``
and ``".[sglang]"`` install. Those fields are read here from the engines' own source, taken from
their wheels (``pip download --no-deps``, a few hundred MB for vLLM) and parsed with ``ast``:
nothing is imported, so this runs on a CPU machine without CUDA.

Run it whenever a pin changes (setup.py's ``SGLANG_EXTRA`` or verl's ``vllm`` extra)::

    .venv/bin/python scripts/engine_sampling_fields.py            # downloads to a temp dir
    .venv/bin/python scripts/engine_sampling_fields.py --wheel-dir /tmp/wheels   # reuse downloads
"""

from __future__ import annotations

import argparse
import ast
import glob
import importlib.metadata
import json
import os
import re
import subprocess
import sys
import tempfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURE = os.path.join(ROOT, "tests", "fixtures", "engine_sampling_fields.json")

#: engine -> (distribution name, source file of its SamplingParams inside the wheel)
ENGINES = {
    "vllm": ("vllm", "vllm/sampling_params.py"),
    "sglang": ("sglang", "sglang/srt/sampling/sampling_params.py"),
}


def pinned_versions(setup_py: str = os.path.join(ROOT, "setup.py")) -> dict[str, str]:
    """The exact versions the extras install: vllm from verl's ``vllm`` extra, sglang from setup.py."""
    pins: dict[str, str] = {}
    for req in importlib.metadata.requires("verl") or []:
        m = re.match(r"vllm==([\w.]+)\s*;.*extra\s*==\s*['\"]vllm['\"]", req)
        if m:
            pins["vllm"] = m.group(1)
    tree = ast.parse(open(setup_py, encoding="utf-8").read())
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            m = re.fullmatch(r"sglang==([\w.]+)", node.value)
            if m:
                pins["sglang"] = m.group(1)
    missing = set(ENGINES) - set(pins)
    if missing:
        raise SystemExit(f"cannot find the pinned version of {', '.join(sorted(missing))} (verl metadata / setup.py)")
    return pins


def sampling_fields(source: str, class_name: str = "SamplingParams") -> list[str]:
    """Public field names of ``class_name`` in ``source``: annotated class attributes (vLLM's
    msgspec struct) and ``__init__`` parameters (SGLang's plain class)."""
    tree = ast.parse(source)
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            names: set[str] = set()
            for item in node.body:
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    names.add(item.target.id)
                elif isinstance(item, ast.FunctionDef) and item.name == "__init__":
                    args = item.args
                    for arg in args.posonlyargs + args.args[1:] + args.kwonlyargs:
                        names.add(arg.arg)
            return sorted(n for n in names if not n.startswith("_"))
    raise ValueError(f"no class {class_name} in the source")


def download(dist: str, version: str, wheel_dir: str) -> str:
    """Path of ``dist==version``'s wheel in ``wheel_dir`` (``pip download --no-deps`` if absent)."""
    pattern = os.path.join(wheel_dir, f"{dist}-{version}-*.whl")
    if not glob.glob(pattern):
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", wheel_dir,
             f"{dist}=={version}"],
            check=True,
        )
    found = sorted(glob.glob(pattern))
    if not found:
        raise SystemExit(f"pip download left no wheel matching {pattern}")
    return found[0]


def build_fixture(wheel_dir: str) -> dict:
    """The fixture's content: per engine its version, source path and ``SamplingParams`` fields."""
    pins = pinned_versions()
    engines = {}
    for engine, (dist, path) in ENGINES.items():
        wheel = download(dist, pins[engine], wheel_dir)
        with zipfile.ZipFile(wheel) as zf:
            source = zf.read(path).decode("utf-8")
        engines[engine] = {"package": dist, "version": pins[engine], "source": path, "fields": sampling_fields(source)}
    return {"generated_by": "scripts/engine_sampling_fields.py", "engines": engines}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel-dir", help="where wheels are downloaded / reused (default: a temporary dir)")
    parser.add_argument("--out", default=FIXTURE, help=f"fixture path (default {os.path.relpath(FIXTURE, ROOT)})")
    args = parser.parse_args(argv)
    if args.wheel_dir:
        os.makedirs(args.wheel_dir, exist_ok=True)
        data = build_fixture(args.wheel_dir)
    else:
        with tempfile.TemporaryDirectory(prefix="engine-wheels-") as tmp:
            data = build_fixture(tmp)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, sort_keys=True)
        f.write("\n")
    for engine, info in data["engines"].items():
        print(f"{engine} {info['version']}: "
              f"{len(info['fields'])} SamplingParams fields -> {os.path.relpath(args.out, ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
