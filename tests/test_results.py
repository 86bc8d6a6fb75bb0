"""Specifications of what the repository ships as results: every checkpoint in checkpoints/ loads
on the CPU, renders an episode and was trained with its preset as the code defines it today; the
README's results table says exactly what the shipped run folders recorded."""

import glob
import os
from dataclasses import asdict

import imageio.v2 as imageio
import pytest

import selfplay as sp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHECKPOINTS = sorted(glob.glob(os.path.join(ROOT, "checkpoints", "*.pt")))
RUNTIME_FIELDS = ("total_steps", "seed", "torch_threads", "checkpoint_minutes")  # not the recipe


def test_the_repository_ships_checkpoints():
    assert CHECKPOINTS, "checkpoints/ holds no .pt file"


@pytest.fixture(scope="module", params=CHECKPOINTS, ids=os.path.basename)
def shipped(request):
    return sp.load_checkpoint(request.param, "cpu")


def test_shipped_checkpoint_renders_an_episode_on_cpu(shipped, tmp_path):
    gif = sp.render_episodes(shipped.ppo.model, shipped.config, str(tmp_path / "x.gif"),
                             n_worlds=1, seed=0, ppo=shipped.ppo)
    frames = imageio.mimread(gif)
    assert len(frames) == sp.game.get_preset(shipped.config.game).horizon


def test_shipped_checkpoint_was_trained_with_its_preset(shipped):
    trained = asdict(shipped.config)
    preset = asdict(sp.preset_config(shipped.config.game))
    for name in RUNTIME_FIELDS:
        trained.pop(name), preset.pop(name)
    assert trained == preset


def readme_results_table():
    """The rows of the README's results table (the lines after sp.RESULTS_HEADER)."""
    lines = open(os.path.join(ROOT, "README.md")).read().splitlines()
    header = sp.RESULTS_HEADER.splitlines()
    start = next(i for i in range(len(lines)) if lines[i:i + 2] == header) + 2
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append(line)
    return rows


def test_readme_results_table_is_what_the_shipped_runs_recorded():
    rows = readme_results_table()
    assert rows, "the README's results table has no rows"
    by_run = {}
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        by_run.setdefault(cells[6], []).append(row)
    for run, run_rows in by_run.items():
        machine = run_rows[0].strip("|").split("|")[5].strip()
        expected = sp.results_rows([run], machine, root=ROOT).splitlines()[2:]
        assert run_rows == expected, f"README rows for {run} differ from its stages.json"
