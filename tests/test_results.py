"""Specifications of what the repository ships as results: every checkpoint in checkpoints/ loads
on the CPU, renders an episode and was trained with its preset as the code defines it today; the
README's results table says exactly what the shipped run folders recorded."""

import glob
import json
import os
from dataclasses import asdict

import imageio.v2 as imageio
import pytest

import selfplay as sp
import transfer as tr

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHECKPOINTS = sorted(glob.glob(os.path.join(ROOT, "checkpoints", "*.pt")))
RUNTIME_FIELDS = ("total_steps", "seed", "torch_threads", "checkpoint_minutes")  # not the recipe
# Changes of recipe a shipped checkpoint was trained with (`train --init ... --set`), as the
# README's tables of runs tell: fort-building.pt is runs/fort-3, which continued fort-2 with the
# entropy bonus 0.01 -> 0.002; ramp-room-wall-ramp-use.pt is runs/ramp-room-wall-3 (the ramp
# section's recipe, every episode from a fort built for the hiders); ramp-reach-ramp-use.pt is
# runs/ramp-reach-0 (the same recipe in ramp-room-nudge, the ramp's gaps moved by RampReach);
# ramp-room-ramp-use.pt is runs/ramp-room-11 (the same recipe in ramp-room);
# ramp-room-fort-building.pt is runs/ramp-room-30 (RUNS.md, steps 13-15: the game's own starts
# mixed back in, with a third of the episodes from forts given and a third from forts left to
# finish, their cube 0.4-2.2 m from the door in any direction); ramp-room-own-fort-climb.pt is
# runs/ramp-room-33 (RUNS.md, step 17: the same, with half the forts given having their ramp
# 0-2.4 m short of the room's wall); ramp-room-per-team-ramp-use.pt is runs/ramp-room-38 (step
# 18: the recipe of ramp-room-fort-building.pt with one network per team).
DOOR_FORT_RECIPE = ["n_worlds=512", "network.use_lstm=true", "ppo.lr=3e-4",
                    "ppo.entropy_coef=0.002", "ppo.epochs=2", "curriculum.offers=256",
                    "curriculum.door_forts=1.0"]
RECIPE_CHANGES = {"fort-building.pt": ["ppo.entropy_coef=0.002"],
                  "ramp-room-wall-ramp-use.pt": DOOR_FORT_RECIPE,
                  "ramp-reach-ramp-use.pt": DOOR_FORT_RECIPE + ["curriculum.ramp_reach=0.3"],
                  "ramp-room-ramp-use.pt": DOOR_FORT_RECIPE,
                  "ramp-room-fort-building.pt": [
                      "n_worlds=512", "network.use_lstm=true", "ppo.entropy_coef=0.002",
                      "ppo.epochs=2", "curriculum.offers=256", "curriculum.door_forts=0.3",
                      "curriculum.door_cubes=0.3", "curriculum.cube_gap=11",
                      "curriculum.cube_spread=9", "curriculum.cube_arc=true"]}
RECIPE_CHANGES["ramp-room-own-fort-climb.pt"] = (RECIPE_CHANGES["ramp-room-fort-building.pt"]
                                                 + ["curriculum.fort_ramps=0.5",
                                                    "curriculum.fort_ramp_gap=12"])
RECIPE_CHANGES["ramp-room-per-team-ramp-use.pt"] = (RECIPE_CHANGES["ramp-room-fort-building.pt"]
                                                    + ["network.per_team=true"])


def test_the_repository_ships_checkpoints():
    assert CHECKPOINTS, "checkpoints/ holds no .pt file"


@pytest.fixture(scope="module", params=CHECKPOINTS, ids=os.path.basename)
def shipped(request):
    trainer = sp.load_checkpoint(request.param, "cpu")
    trainer.file_name = os.path.basename(request.param)
    return trainer


def test_shipped_checkpoint_renders_an_episode_on_cpu(shipped, tmp_path):
    gif = sp.render_episodes(shipped.ppo.model, shipped.config, str(tmp_path / "x.gif"),
                             n_worlds=1, seed=0, ppo=shipped.ppo)
    frames = imageio.mimread(gif)
    assert len(frames) == sp.game.get_preset(shipped.config.game).horizon


def test_shipped_checkpoint_was_trained_with_its_preset(shipped):
    trained = asdict(shipped.config)
    changes = RECIPE_CHANGES.get(shipped.file_name, [])
    preset = asdict(sp.apply_overrides(sp.preset_config(shipped.config.game), changes))
    for name in RUNTIME_FIELDS:
        trained.pop(name), preset.pop(name)
    assert trained == preset


def test_the_fort_building_checkpoint_seals_its_hider_off_far_more_often_than_chance():
    # By chance (random actions) the hider is sealed off in about 4% of `fort` episodes (README);
    # the stage tracker saw 50.5% in training. 128 greedy episodes: at least 40%, hiders winning.
    trainer = sp.load_checkpoint(os.path.join(ROOT, "checkpoints", "fort-building.pt"), "cpu")
    result = sp.evaluate(trainer, n_worlds=128, seed=0)
    assert result["hiders_sealed_prep"] >= 0.4 and result["hider_reward"] > 0.0


def test_the_ramp_use_checkpoint_climbs_into_the_forts_built_for_its_hiders():
    # runs/ramp-room-wall-1, where its run began, climbed up and into the room in 8.4% of 512
    # sampled door-fort episodes (README); the tracker saw half of them in training. 128
    # sampled episodes, as in training: at least 35%.
    trainer = sp.load_checkpoint(os.path.join(ROOT, "checkpoints", "ramp-room-wall-ramp-use.pt"))
    result = sp.evaluate(trainer, n_worlds=128, seed=0, sample=True, door_forts=True)
    assert result["door_fort_episodes"] == 128 and result["seekers_climbed_in"] >= 0.35


def test_the_ramp_reach_checkpoint_brings_the_ramp_two_metres_to_the_wall():
    # With the ramp facing the room's wall 2.2-2.4 m short of it, runs/ramp-room-nudge-0, where
    # its run began, climbed into none of 512 sampled door-fort episodes (README); this one into
    # 32% of 512. Here 2.0-2.4 m, 128 sampled episodes (binomial SD about 4 points): >= 15%.
    trainer = sp.load_checkpoint(os.path.join(ROOT, "checkpoints", "ramp-reach-ramp-use.pt"))
    result = sp.evaluate(trainer, n_worlds=128, seed=0, sample=True, door_forts=True,
                         ramp_gaps=(10, 12))
    assert result["episodes_gap_2.2-2.4m"] + result["episodes_gap_1.8-2.0m"] == 128
    assert result["seekers_climbed_in"] >= 0.15


def test_the_ramp_room_checkpoint_brings_a_ramp_from_anywhere_outside_the_room():
    # In ramp-room (the ramp spawned anywhere outside the room, mostly facing no wall),
    # runs/ramp-reach-0, where its run began, climbed into 12.9% of 512 sampled door-fort
    # episodes (README); this one into 32.2%. 128 sampled episodes (binomial SD about 4
    # points): at least 20%.
    trainer = sp.load_checkpoint(os.path.join(ROOT, "checkpoints", "ramp-room-ramp-use.pt"))
    result = sp.evaluate(trainer, n_worlds=128, seed=0, sample=True, door_forts=True)
    assert result["door_fort_episodes"] == 128 and result["seekers_climbed_in"] >= 0.2


def test_the_ramp_room_fort_checkpoint_has_two_hiders_seal_themselves_off_in_their_own_starts():
    # In ramp-room's own starts (both hiders and the cube anywhere in the room) an untrained
    # policy is sealed off when preparation ends in 5.1% of 512 sampled episodes (README);
    # this one in 52.3%. 128 sampled episodes (binomial SD about 4.4 points): at least 30%.
    trainer = sp.load_checkpoint(os.path.join(ROOT, "checkpoints", "ramp-room-fort-building.pt"))
    result = sp.evaluate(trainer, n_worlds=128, seed=0, sample=True)
    assert result["hiders_sealed_prep"] >= 0.3 and result["hider_reward"] > 0.0


def test_the_own_fort_climb_checkpoint_climbs_over_its_hiders_own_forts_by_the_wall_ramp():
    # Played in ramp-room-wall (the ramp against the room's outside wall), from the game's own
    # starts: the hiders build their fort, then the seeker climbs in. Over 512 sampled episodes
    # (README) the fort fell so in 17.6% and the seeker climbed in in 20.5%; the shipped
    # ramp-room-fort-building.pt, 6.1% and 7.6%. 128 sampled episodes (binomial SD about 3.5
    # points): at least 12% each, and the hiders sealed themselves off in 40%.
    trainer = sp.load_in_game(os.path.join(ROOT, "checkpoints", "ramp-room-own-fort-climb.pt"),
                              "cpu", "ramp-room-wall")
    result = sp.evaluate(trainer, n_worlds=128, seed=0, sample=True)
    assert result["forts_fell"] >= 0.12 and result["seekers_climbed_in"] >= 0.12
    assert result["hiders_sealed_prep"] >= 0.4


def test_the_per_team_checkpoint_brings_a_ramp_over_its_hiders_own_forts_in_ramp_room():
    # In ramp-room's own starts (the ramp anywhere outside the room), over 512 sampled
    # episodes (README) the fort fell in 15.6% and the seeker climbed in in 22.9%; for
    # ramp-room-own-fort-climb.pt (one network for both teams), 5.1% and 4.1%. 128 sampled
    # episodes (binomial SD about 3.5 points): at least 10% and 12%, hiders sealed in 40%.
    trainer = sp.load_checkpoint(os.path.join(ROOT, "checkpoints",
                                              "ramp-room-per-team-ramp-use.pt"))
    result = sp.evaluate(trainer, n_worlds=128, seed=0, sample=True)
    assert result["forts_fell"] >= 0.10 and result["seekers_climbed_in"] >= 0.12
    assert result["hiders_sealed_prep"] >= 0.4


def readme_results_table(header=sp.RESULTS_HEADER):
    """The rows of a README table: the lines after `header` (by default the results table's,
    sp.RESULTS_HEADER) up to the first that is not a table row."""
    lines = open(os.path.join(ROOT, "README.md")).read().splitlines()
    header = header.splitlines()
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
        by_run.setdefault(cells[6].split(" (from ")[0], []).append(row)  # --init runs name a source
    for run, run_rows in by_run.items():
        machine = run_rows[0].strip("|").split("|")[5].strip()
        expected = sp.results_rows([run], machine, root=ROOT).splitlines()[2:]
        assert run_rows == expected, f"README rows for {run} differ from its stages.json"


COUNTING_HEADER = ("| network watching (frozen) | world-steps of its lineage | accuracy at the "
                   "last step, last tenth (mean ± sd over 3 seeds) |\n|---|---|---|")


def test_readme_counting_table_is_what_the_counting_runs_recorded():
    """transfer.py's counting test from each network with a memory (README, transfer.py, "What
    has been measured"): a row per source, read back from runs/transfer-counting/NAME."""
    rows = readme_results_table(COUNTING_HEADER)
    assert rows, "the README's counting table has no rows"
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        name = os.path.basename(cells[0].split("`")[1]).removesuffix(".pt")
        curves = tr.collect_curves(os.path.join(ROOT, "runs", "transfer-counting", name))
        (seeds,) = curves["counting"].values()  # one source per folder
        assert len(seeds) == 3 and cells[2] == tr.final_success(seeds), row


FIGURE6_HEADER = "| task | hide-and-seek | scratch | count | rnd |\n|---|---|---|---|---|"


def test_readme_figure6_table_is_what_the_transfer_runs_recorded():
    """transfer.py's figure 6 (README, "What has been measured"): each task row the README
    gives, every source with 3 finished seeds, is what `plot` reads from runs/transfer."""
    rows = readme_results_table(FIGURE6_HEADER)
    assert rows, "the README's figure 6 table has no rows"
    curves = tr.collect_curves(os.path.join(ROOT, "runs", "transfer"))
    for row in rows:
        task, *cells = [c.strip() for c in row.strip("|").split("|")]
        for source, cell in zip(tr.SOURCE_COLOURS, cells):  # plot's columns, in its order
            seeds = curves[task][source]
            assert len(seeds) == 3 and cell == tr.final_success(seeds), (task, source, cell)
            for folder in glob.glob(os.path.join(ROOT, "runs", "transfer", task,
                                                 f"{source}-seed*")):
                total = json.load(open(os.path.join(folder, "config.json")))["total_steps"]
                last = sp.read_metrics(os.path.join(folder, "metrics.csv"))[-1]
                assert int(last["steps"]) >= total, f"{folder} is not finished"
