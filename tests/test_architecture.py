"""The package's shape: layers, no import circles, no cross-package private names, and an
import that leaves the environment alone (docs/architecture.md)."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

# Rank of each module (prefix match, longest wins): a module may import only modules of its
# own rank or below. docs/architecture.md draws the same table.
RANKS = {
    "snnreduce.validation": 0, "snnreduce._files": 0, "snnreduce._version": 0,
    "snnreduce._steps": 0, "snnreduce._resume": 0, "snnreduce._threads": 0, "snnreduce.parallel": 0,
    "snnreduce.params": 1, "snnreduce.populations": 1, "snnreduce.models": 1,
    "snnreduce.stimulus": 1, "snnreduce.metadata": 1,
    "snnreduce.result": 2, "snnreduce.dataset": 2, "snnreduce.io": 2, "snnreduce._stimulus_kernel": 2,
    "snnreduce.network": 3, "snnreduce.dsode": 3, "snnreduce.baselines": 3,
    "snnreduce.analysis": 3,
    "snnreduce.api": 4, "snnreduce.resources": 4, "snnreduce.continuation": 4,
    "snnreduce.step_report": 4,
    "snnreduce.compare": 5, "snnreduce.sweep": 5, "snnreduce.sweeps": 5, "snnreduce.plot": 5,
    "snnreduce.export": 5, "snnreduce.response_job": 5,
    "snnreduce.cli": 6, "snnreduce.__main__": 6, "snnreduce": 6,
}
# The packages of rank 3 are independent of each other, but for the surrogate engine, which
# integrates the moment equations of the reduction (one definition of the Markov approximation).
SIBLINGS_ALLOWED = {("snnreduce.network.surrogate", "snnreduce.dsode.moments")}


def _modules() -> dict[str, tuple[Path, bool]]:
    mods = {}
    for path in (SRC / "snnreduce").rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        mods[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return mods


MODULES = _modules()


def _imports(module: str) -> list[tuple[str, list[str], bool]]:
    """(target module, imported names, at module level?) of every snnreduce import."""
    path, is_package = MODULES[module]
    tree = ast.parse(path.read_text())
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, [], id(node) in top_level) for a in node.names
                      if a.name.split(".")[0] == "snnreduce"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")[: None if is_package else -1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "snnreduce":
                continue
            names = [a.name for a in node.names]
            # "from . import models" imports a module
            subs = [f"{target}.{n}" for n in names if f"{target}.{n}" in MODULES]
            if subs:
                found += [(s, [], id(node) in top_level) for s in subs]
            else:
                found.append((target, names, id(node) in top_level))
    return found


def _rank(module: str) -> int:
    matches = [p for p in RANKS if module == p or (p != "snnreduce" and module.startswith(p + "."))]
    assert matches, (f"{module} has no layer: add it to RANKS in tests/test_architecture.py "
                     "and to the table of docs/architecture.md")
    return RANKS[max(matches, key=len)]


def _package(module: str) -> str:
    path, is_package = MODULES[module]
    return module if is_package else module.rsplit(".", 1)[0]


def _edges(*, lazy: bool) -> dict[str, set[str]]:
    graph = {m: set() for m in MODULES}
    for module in MODULES:
        for target, _, top in _imports(module):
            if (top or lazy) and target != module:
                graph[module].add(target)
    return graph


def _cycles(graph) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_every_module_has_a_layer():
    for module in MODULES:
        _rank(module)


def test_the_walk_sees_the_whole_package():
    # guards the test itself: a broken walk would find no edges and pass everything
    graph = _edges(lazy=True)
    assert {"snnreduce.api", "snnreduce.models", "snnreduce.dsode.engine"} <= set(graph)
    assert "snnreduce.models" in graph["snnreduce.api"]
    assert "snnreduce.api" in graph["snnreduce.cli"]             # a function-level import is seen
    assert "snnreduce.api" not in _edges(lazy=False)["snnreduce.cli"]


def test_no_import_cycles():
    # imports inside functions count too: a circle broken only at run time is still a circle
    assert _cycles(_edges(lazy=True)) == []


def test_no_module_imports_a_higher_layer():
    bad = []
    for module in MODULES:
        for target, _, top in _imports(module):
            if _rank(target) > _rank(module):
                bad.append(f"{module} -> {target}")
            elif (_rank(module) == _rank(target) == 3 and module.split(".")[1] != target.split(".")[1]
                  and (module, target) not in SIBLINGS_ALLOWED):
                bad.append(f"{module} -> {target} (independent packages)")
    assert bad == []


def test_engines_never_import_the_api():
    for module in MODULES:
        if module.split(".")[1:2] in (["network"], ["dsode"], ["baselines"]):
            assert all(t != "snnreduce.api" for t, _, _ in _imports(module)), module


def test_no_private_names_across_packages():
    bad = []
    for module in MODULES:
        for target, names, _ in _imports(module):
            if _package(module) == _package(target):
                continue
            private_module = any(part.startswith("_") for part in target.split(".")[1:])
            helper = target.count(".") == 1  # snnreduce._files etc.: shared bottom helpers
            if private_module and not helper:
                bad.append(f"{module} -> {target}")
            bad += [f"{module} -> {target}.{n}" for n in names if n.startswith("_")
                    and n != "__version__"]
    assert bad == []


def test_import_leaves_the_environment_alone():
    code = ("import os, json; before = dict(os.environ); import snnreduce, snnreduce.cli, "
            "snnreduce.sweep, snnreduce.compare, snnreduce.network.stepped, snnreduce.dsode; "
            "print(json.dumps(dict(os.environ) == before))")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)
    assert json.loads(out.stdout) is True


def test_a_users_threading_layer_wins():
    code = ("import numba; from snnreduce._threads import prefer_workqueue; prefer_workqueue(); "
            "print(numba.config.THREADING_LAYER)")
    env = {**os.environ, "NUMBA_THREADING_LAYER": "safe"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "safe"


def test_nest_and_a_parallel_kernel_share_a_process():
    """numba's OpenMP layer and NEST's OpenMP segfault together; the workqueue layer does not.

    Runs in a fresh process (the layer is fixed at the first parallel launch): a batched dsODE
    on two numba threads and the stepped engine's worker pool (400 neurons, its first chunk is
    a parallel probe when two threads are available), then the NEST baseline, then both again.
    """
    pytest.importorskip("nest")
    code = """
import json, numba
import numpy as np
import snnreduce as sr
from snnreduce.api import run_model
from snnreduce.dsode import run_batch
params = sr.NetworkParams(n_e=60, n_i=20, tau_m=20.0)
network = sr.NetworkParams()
first = run_batch([params, params.replace(p_ei=0.7)], t_end=50.0, threads=2)
spikes = sr.simulate(network, t_end=50.0, seed=3)
nest = run_model(params, "rdm", seed=1, t_end=50.0)
again = run_batch([params, params.replace(p_ei=0.7)], t_end=50.0, threads=2)
spikes_again = sr.simulate(network, t_end=50.0, seed=3)
print(json.dumps([numba.threading_layer(), nest.status,
                  bool(np.array_equal(first[0]["population_counts"], again[0]["population_counts"])),
                  bool(np.array_equal(spikes.spike_neurons, spikes_again.spike_neurons))]))
"""
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    layer, status, same_dsode, same_network = json.loads(out.stdout.strip().splitlines()[-1])
    assert layer == "workqueue" and status == "ok" and same_dsode and same_network
