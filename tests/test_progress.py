"""Progress bars reach their total in every command, whatever order the runs finish in."""

import re
import time

import pytest

import snnreduce
from snnreduce import NetworkParams
from snnreduce.parallel import run_tasks

TINY = NetworkParams(n_e=30, n_i=10)


def final_count(err: str, desc: str) -> str:
    """The last ``n/total`` a tqdm bar labelled ``desc`` drew."""
    frames = re.findall(rf"{re.escape(desc)}:.*?(\d+(?:\.\d+)?/\d+(?:\.\d+)?)", err.replace("\r", "\n"))
    assert frames, err
    return frames[-1]


def test_tasks_finishing_out_of_order_complete_the_bar(capsys):
    # The first task is the slowest: an ordered generator would hold every other result behind it.
    delays = [0.8, 0.0, 0.0, 0.0, 0.0]
    slow_first = lambda delay, value: (time.sleep(delay), value)[1]  # noqa: E731 (pickled by value)
    out = run_tasks(slow_first, [(d, i) for i, d in enumerate(delays)], n_jobs=2, progress=True,
                    desc="tasks")
    assert out == list(range(len(delays)))  # in the order of the tasks
    assert final_count(capsys.readouterr().err, "tasks") == f"{len(delays)}/{len(delays)}"


def test_compare_bar_completes(capsys):
    from snnreduce.compare import compare

    comparison = compare(TINY, seeds=2, t_end=150.0, models=("snn", "dsode"), n_jobs=2,
                         progress=True)
    assert [r.seed for r in comparison.results["snn"]] == [0, 1]  # order kept
    assert final_count(capsys.readouterr().err, "compare") == "3/3"


@pytest.mark.parametrize("engine", ["stepped", "markov", "surrogate", "dsode"])
def test_engine_bars_end_at_the_simulated_time(capsys, engine):
    if engine == "dsode":
        snnreduce.reduce(TINY, t_end=123.4, progress=True)
    else:
        snnreduce.simulate(TINY, engine, t_end=123.4, seed=1, progress=True)
    assert final_count(capsys.readouterr().err, engine) == "123.4/123.4"
