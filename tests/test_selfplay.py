"""Specifications of selfplay.py: training changes the network, a resumed run continues exactly as
an uninterrupted one, stages are read correctly from scripted statistics, and the sub-commands
write files that can be read back. Runs are tiny (8 worlds, 20-step rollouts) to stay fast."""

import copy
import csv
import inspect
import json
import math
import os
from types import SimpleNamespace

import imageio.v2 as imageio
import numpy as np
import pytest
import torch

import selfplay as sp
import handmade
from attention import TEAM_FLAG, TeamActorCritic


def tiny_config(**changes):
    config = sp.apply_overrides(sp.preset_config("tiny"),
                                ["n_worlds=8", "rollout_steps=20", "total_steps=480",
                                 "stage_window=2", "checkpoint_minutes=1000"])
    return sp.replace(config, **changes)


def parameters(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_a_few_updates_of_tiny_change_the_parameters(tmp_path):
    trainer = sp.Trainer(tiny_config(), "cpu")
    before = parameters(trainer.ppo.model).clone()
    sp.train(trainer, sp.RunFolder(str(tmp_path / "run")), write_gif=False, quiet=True)
    assert trainer.updates == 3 and trainer.steps == 480
    assert not torch.equal(before, parameters(trainer.ppo.model))


def next_losses(trainer):
    """The diagnostics of one more update, on a copy (the trainer itself is left as it was)."""
    clone = copy.deepcopy(trainer)
    rollout, _, _ = sp.collect_rollout(clone)
    return clone.ppo.update(rollout)


@pytest.mark.parametrize("recipe", [[], ["curriculum.share=0.7", "curriculum.offers=8",
                                         "curriculum.capacity=4", "curriculum.rescore=true"]],
                         ids=["plain", "start-state curriculum"])
def test_resume_gives_the_same_parameters_and_next_losses_as_an_uninterrupted_run(tmp_path,
                                                                                   recipe):
    config = sp.apply_overrides(tiny_config(total_steps=480), recipe)  # tiny's episodes end at
    straight = sp.Trainer(config, "cpu")  # step 40: the third update plays replayed episodes
    sp.train(straight, sp.RunFolder(str(tmp_path / "straight")), write_gif=False, quiet=True)
    if recipe:
        assert len(straight.curriculum) > 0 and straight.envs[0].replayed.any()

    first = sp.Trainer(config, "cpu")
    interrupted = sp.RunFolder(str(tmp_path / "interrupted"))
    first.config = sp.replace(first.config, total_steps=320)  # stop after two of three updates
    sp.train(first, interrupted, write_gif=False, quiet=True)
    resumed = sp.load_checkpoint(interrupted.path)
    resumed.config = sp.replace(resumed.config, total_steps=480)
    sp.train(resumed, interrupted, write_gif=False, quiet=True)

    assert torch.equal(parameters(straight.ppo.model), parameters(resumed.ppo.model))
    if recipe:  # the buffer, its scores and its random stream came back too; the checkpoint
        # held the restarts whose first step (and rescoring) was the third update's
        kept, back = straight.curriculum.state_dict(), resumed.curriculum.state_dict()
        assert kept["rng"] == back["rng"] and np.array_equal(kept["scores"], back["scores"])
        assert np.array_equal(kept["ids"], back["ids"]) and len(first.curriculum.restored)
        assert first.curriculum.ids[0] > 0  # states had left the buffer before the checkpoint
        assert all(np.array_equal(kept["states"][k], back["states"][k]) for k in kept["states"])
    torch.manual_seed(123)  # the same sampling noise for both copies below
    expected = next_losses(straight)
    torch.manual_seed(123)
    assert next_losses(resumed) == expected


def test_two_overlapping_groups_of_worlds_train_and_resume_exactly(tmp_path):
    """With `overlap`, half the worlds step while the network acts for the other half; the
    rollout still has one row per agent, and a resumed run still continues exactly."""
    config = tiny_config(overlap=True, total_steps=480)
    straight = sp.Trainer(config, "cpu")
    assert [r.stop - r.start for r in straight.rows] == [8, 8]  # 4 + 4 worlds x 2 agents
    before = parameters(straight.ppo.model).clone()
    sp.train(straight, sp.RunFolder(str(tmp_path / "straight")), write_gif=False, quiet=True)
    assert not torch.equal(before, parameters(straight.ppo.model))
    first = sp.Trainer(sp.replace(config, total_steps=320), "cpu")
    run = sp.RunFolder(str(tmp_path / "interrupted"))
    sp.train(first, run, write_gif=False, quiet=True)
    resumed = sp.load_checkpoint(run.path)
    resumed.config = sp.replace(resumed.config, total_steps=480)
    sp.train(resumed, run, write_gif=False, quiet=True)
    assert torch.equal(parameters(straight.ppo.model), parameters(resumed.ppo.model))


def test_rollout_rows_and_shapes_match_the_worlds():
    trainer = sp.Trainer(tiny_config(overlap=True), "cpu")
    rollout, _, _ = sp.collect_rollout(trainer)
    assert rollout.rewards.shape == (20, 16) and rollout.obs["self"].shape == (20, 16, 11)
    assert rollout.chunk_states.shape[:2] == (2, 16)
    # the reward is zero-sum and each row keeps its team: hiders' rewards mirror the seekers'
    team = torch.cat([torch.from_numpy(e.team.reshape(-1)) for e in trainer.envs])
    assert torch.equal(rollout.rewards[:, team == 0].sum(1), -rollout.rewards[:, team == 1].sum(1))


def record(update, **stats):
    base = {"update": update, "steps": 1000 * update, "episodes": 10 * update, "seconds": update,
            "hider_reward": -0.5, "seeker_reward": 0.5, "max_seeker_height": 0.0,
            **{k: 0.0 for k in sp.STAT_KEYS}}
    return {**base, **stats}


def test_stage_tracker_labels_scripted_statistics_in_order():
    tracker = sp.StageTracker(window=2)
    untrained = [record(1, seeker_reward=-0.2, hider_reward=0.2), record(2, seeker_reward=-0.2,
                                                                        hider_reward=0.2)]
    chasing = [record(u, seeker_reward=0.3, hider_reward=-0.5) for u in (3, 4)]  # -0.2 -> +0.3
    forts = [record(u, hider_reward=0.4, seeker_reward=-0.4, hiders_sealed_prep=1.0)
             for u in (5, 6)]
    ramps = [record(u, max_ramp_move=2.5, max_ramp_move_prep=0.1, max_seeker_height=0.5)
             for u in (7, 8)]
    defense = [record(u, num_ramp_lock_prep=1.0) for u in (9, 10)]
    found = [s["name"] for r in untrained + chasing + forts + ramps + defense
             for s in tracker.update(r)]
    assert found == ["running and chasing", "fort building", "ramp use", "ramp defense"]
    # each test reads a 2-update average: chasing needs +0.3 over the first window (-0.2), so
    # both chasing updates; fort building needs both fort updates (the hiders' reward averages
    # -0.05 over updates 4-5); one update of ramp locks averages 0.5, enough
    assert [s["update"] for s in tracker.reached] == [4, 6, 8, 9]


def test_boxes_moved_and_locked_without_sealing_the_hiders_are_no_fort():
    tracker = sp.StageTracker(window=1)
    tracker.update(record(1))  # the untrained baseline
    tracker.reached = [{"name": "running and chasing"}]
    busy = dict(hider_reward=0.4, num_box_lock_prep=1.0, max_box_move_prep=2.0)
    assert tracker.update(record(2, **busy, hiders_sealed_prep=0.2)) == []
    assert [s["name"] for s in tracker.update(record(3, **busy, hiders_sealed_prep=0.6))] == [
        "fort building"]


def test_a_statistic_missing_from_most_of_the_window_is_not_averaged():
    """A run resumed by a newer selfplay.py has rows without the new statistic: the stage
    tests wait until it fills half the window rather than read one update as ten."""
    tracker = sp.StageTracker(window=4)
    tracker.update(record(0))
    tracker.reached = [{"name": "running and chasing"}]
    fort = dict(hider_reward=0.4, hiders_sealed_prep=1.0)
    old = [record(u, hider_reward=0.4, hiders_sealed_prep=math.nan) for u in (1, 2, 3)]
    assert [tracker.update(r) for r in old + [record(4, **fort)]] == [[], [], [], []]
    assert [s["name"] for s in tracker.update(record(5, **fort))] == ["fort building"]


@pytest.mark.parametrize("rise, chasing", [(0.17, False), (0.19, True)])
def test_chasing_means_a_hider_seen_on_15_percent_more_of_the_paid_steps(rise, chasing):
    """40% of the steps are preparation and pay 0; 15% more of the other 60% seen is a rise of
    2 x 0.15 x 0.6 = 0.18 in the seekers' reward per step."""
    tracker = sp.StageTracker(window=1, prep_fraction=0.4)
    tracker.update(record(1, seeker_reward=-0.56))  # fort's untrained seeker: rarely sees
    found = tracker.update(record(2, seeker_reward=-0.56 + rise))
    assert [s["name"] for s in found] == (["running and chasing"] if chasing else [])


@pytest.mark.parametrize("climbed_in, found", [(0.45, False), (0.55, True)])
def test_ramp_use_is_also_seekers_climbing_into_half_the_forts_built_for_them(climbed_in, found):
    """A run whose every episode starts from a fort built for the hiders has no statistics of
    its own starts (NaN): the door-fort episodes alone say whether seekers came over the wall."""
    tracker = sp.StageTracker(window=1)
    tracker.update(record(1))
    tracker.reached = [{"name": "running and chasing"}, {"name": "fort building"}]
    own_starts = {k: math.nan for k in ("hider_reward", "seeker_reward", "max_seeker_height")
                  + sp.STAT_KEYS}
    stages = tracker.update(record(2, **own_starts, door_fort_seekers_climbed_in=climbed_in))
    assert [s["name"] for s in stages] == (["ramp use"] if found else [])


def test_stage_tracker_does_not_skip_a_stage():
    tracker = sp.StageTracker(window=1)
    tracker.update(record(1, seeker_reward=-0.2))  # the untrained baseline
    # ramps locked in preparation, but seekers never learnt to chase: no stage at all
    found = tracker.update(record(2, seeker_reward=-0.1, num_ramp_lock_prep=1.0))
    assert found == [] and tracker.current() == "none yet"


FORT = dict(hider_reward=0.4, seeker_reward=-0.4, hiders_sealed_prep=0.6)  # fort building's test


def lineage_tracker(reached, game="ramp-room"):
    tracker = sp.StageTracker(window=1, game=game)
    tracker.update(record(1))  # the untrained baseline
    tracker.reached = reached
    return tracker


def test_a_stage_found_in_another_game_is_tested_again_and_recorded_with_this_one():
    tracker = lineage_tracker([{"name": "running and chasing", "game": "fort"},
                               {"name": "fort building", "game": "fort"}])
    found = tracker.update(record(2, **FORT))
    assert [(s["name"], s["game"]) for s in found] == [("fort building", "ramp-room")]
    assert tracker.update(record(3, **FORT)) == []  # found here now: not again


def test_a_stage_found_in_this_game_by_the_lineage_is_not_found_again():
    tracker = lineage_tracker([{"name": "running and chasing", "game": "ramp-room"},
                               {"name": "fort building", "game": "ramp-room",
                                "inherited": "runs/ramp-room-0"}])
    assert tracker.update(record(2, **FORT)) == []


def test_chasing_found_in_another_game_is_not_tested_again():
    # the baseline window already chases: it could never pass, and the ladder goes on above it
    tracker = lineage_tracker([{"name": "running and chasing", "game": "fort"}])
    found = tracker.update(record(2, seeker_reward=1.0, hider_reward=0.4, hiders_sealed_prep=0.6))
    assert [s["name"] for s in found] == ["fort building"]


def test_the_ladder_above_a_stage_found_elsewhere_goes_on_being_tested():
    # ramp use was found in ramp-room-wall; fort building not yet in ramp-room: both are tested
    tracker = lineage_tracker([{"name": "running and chasing", "game": "fort"},
                               {"name": "fort building", "game": "fort"},
                               {"name": "ramp use", "game": "ramp-room-wall"}])
    found = tracker.update(record(2, num_ramp_lock_prep=1.0))
    assert [s["name"] for s in found] == ["ramp defense"]
    assert tracker.current() == "ramp defense"


def test_stages_recorded_before_they_named_their_game_are_this_runs_unless_inherited():
    tracker = lineage_tracker([{"name": "running and chasing"},
                               {"name": "fort building", "inherited": "checkpoints/x.pt"}])
    assert [s["name"] for s in tracker.update(record(2, **FORT))] == ["fort building"]
    tracker = lineage_tracker([{"name": "running and chasing"}, {"name": "fort building"}])
    assert tracker.update(record(2, **FORT)) == []


def test_fort_outcomes_split_the_episodes_as_a_plain_loop_does():
    rng = np.random.default_rng(0)
    prep, end, returns = rng.integers(0, 2, 50), rng.integers(0, 2, 50), rng.normal(0, 20, 50)
    end[prep == 0] = 0  # no fort made late: that group is empty
    episodes = {"hiders_sealed_prep": prep, "hiders_sealed": end, "hider_return": returns}
    result = sp.fort_outcomes(episodes)
    for name, (made, kept) in sp.FORT_OUTCOMES.items():
        group = [r for p, e, r in zip(prep, end, returns) if bool(p) == made and bool(e) == kept]
        assert result[f"forts_{name}"] == len(group) / 50
        if group:
            assert result[f"hider_return_{name}"] == pytest.approx(np.mean(group))
        else:
            assert math.isnan(result[f"hider_return_{name}"])
    assert result["forts_late"] == 0.0 and sum(result[f"forts_{n}"] for n in sp.FORT_OUTCOMES) == 1


def test_cube_outcomes_split_the_forts_left_to_finish_as_a_plain_loop_does():
    rng = np.random.default_rng(1)
    n = 60
    episodes = {"door_cube": rng.integers(0, 2, n), "hiders_sealed_prep": rng.integers(0, 2, n),
                "max_box_move_prep": rng.choice([0.0, 0.03, 0.05, 0.3], n),
                "num_box_lock_prep": rng.integers(0, 2, n)}
    counts = dict.fromkeys(("cube_closed", "cube_moved_open", "cube_still_locked",
                            "cube_still"), 0)
    begun = 0
    for cube, sealed, moved, locks in zip(episodes["door_cube"], episodes["hiders_sealed_prep"],
                                          episodes["max_box_move_prep"],
                                          episodes["num_box_lock_prep"]):
        if not cube:
            continue
        begun += 1
        if sealed:
            counts["cube_closed"] += 1
        elif moved >= 0.05:
            counts["cube_moved_open"] += 1
        else:
            counts["cube_still_locked" if locks else "cube_still"] += 1
    result = sp.cube_outcomes(episodes)
    assert result == pytest.approx({name: count / begun for name, count in counts.items()})


def test_cube_outcomes_are_nan_without_a_fort_left_to_finish():
    episodes = {"door_cube": np.zeros(3, bool), "hiders_sealed_prep": np.ones(3),
                "max_box_move_prep": np.zeros(3), "num_box_lock_prep": np.zeros(3)}
    assert all(math.isnan(v) for v in sp.cube_outcomes(episodes).values())


def test_sealed_by_cube_home_splits_the_games_own_starts_as_a_plain_loop_does():
    rng = np.random.default_rng(2)
    n = 200
    episodes = {"replayed": rng.integers(0, 2, n).astype(bool),
                "cube_home": rng.uniform(0.0, 3.2, n), "hiders_sealed_prep": rng.integers(0, 2, n)}
    episodes["cube_home"][:5] = np.nan  # no room, or no cube
    episodes["cube_home"][5:8] = (0.5, 2.5, 0.0)  # on the edges: each in the range above it
    sealed, count = {}, {}
    for replayed, home, s in zip(*(episodes[k] for k in ("replayed", "cube_home",
                                                         "hiders_sealed_prep"))):
        if replayed or np.isnan(home):
            continue
        lo = min(int(home // 0.5) * 0.5, 2.5)
        sealed[lo] = sealed.get(lo, 0) + int(s)
        count[lo] = count.get(lo, 0) + 1
    result = sp.sealed_by_cube_home(episodes)
    for lo in (0.0, 0.5, 1.0, 1.5, 2.0, 2.5):
        name = f"cube_home_{lo:.1f}m+" if lo == 2.5 else f"cube_home_{lo:.1f}-{lo + 0.5:.1f}m"
        assert result[f"episodes_{name}"] == count[lo]
        assert result[f"sealed_{name}"] == pytest.approx(sealed[lo] / count[lo])
    assert sum(count.values()) == sum(v for k, v in result.items() if k.startswith("episodes_"))


def test_sealed_by_cube_home_is_empty_without_a_room_or_an_own_start():
    nan = np.full(3, np.nan)
    assert sp.sealed_by_cube_home({"replayed": np.zeros(3, bool), "cube_home": nan,
                                   "hiders_sealed_prep": np.ones(3)}) == {}
    assert sp.sealed_by_cube_home({"replayed": np.ones(3, bool), "cube_home": np.ones(3),
                                   "hiders_sealed_prep": np.ones(3)}) == {}


def test_sealed_by_cube_bearing_splits_as_a_plain_loop_does():
    """Episodes from forts built or with the cube near home are left out; 90 degrees falls in
    the last range, 30 and 60 in the range above them."""
    rng = np.random.default_rng(3)
    n = 300
    episodes = {"door_fort": rng.random(n) < 0.2, "cube_home": rng.uniform(0.0, 2.5, n),
                "cube_bearing": rng.uniform(0.0, 90.0, n),
                "hiders_sealed_prep": rng.integers(0, 2, n)}
    episodes["cube_bearing"][:4] = (30.0, 60.0, 90.0, 0.0)
    episodes["cube_home"][:4] = 1.0
    episodes["door_fort"][:4] = False
    episodes["cube_home"][4:7] = np.nan
    sealed, count = {}, {}
    for fort, home, bearing, s in zip(*(episodes[k] for k in ("door_fort", "cube_home",
                                                              "cube_bearing",
                                                              "hiders_sealed_prep"))):
        if fort or np.isnan(home) or home < 0.3:
            continue
        lo = min(int(bearing // 30) * 30, 60)
        sealed[lo] = sealed.get(lo, 0) + int(s)
        count[lo] = count.get(lo, 0) + 1
    result = sp.sealed_by_cube_bearing(episodes)
    for lo in (0, 30, 60):
        name = f"cube_bearing_{lo}-{lo + 30}deg"
        assert result[f"episodes_{name}"] == count[lo]
        assert result[f"sealed_{name}"] == pytest.approx(sealed[lo] / count[lo])


def test_sealed_by_cube_bearing_is_empty_where_no_cube_started_away_from_home():
    episodes = {"door_fort": np.array([True, False, False]),
                "cube_home": np.array([1.0, 0.1, np.nan]),
                "cube_bearing": np.array([45.0, 45.0, np.nan]), "hiders_sealed_prep": np.ones(3)}
    assert sp.sealed_by_cube_bearing(episodes) == {}


def test_climbs_by_ramp_distance_splits_the_forts_made_as_a_plain_loop_does():
    """Only episodes sealed off when preparation ended count; a climb is a climb into the room
    (height and room both); `ramp_still_unclimbed` over the sealed ones without a climb."""
    rng = np.random.default_rng(4)
    n = 300
    episodes = {"hiders_sealed_prep": rng.integers(0, 2, n),
                "ramp_room_prep": rng.uniform(0.0, 3.0, n),
                "max_seeker_height": rng.choice([0.0, 0.5], n),
                "seeker_in_room": rng.integers(0, 2, n).astype(float),
                "max_ramp_move": rng.choice([0.0, 0.01, 1.0], n)}
    episodes["ramp_room_prep"][5:9] = (0.5, 2.0, 0.0, 1.0)  # on the edges: in the range above
    climbs, count, still, unclimbed = {}, {}, 0, 0
    for sealed, far, height, inside, moved in zip(*(episodes[k] for k in (
            "hiders_sealed_prep", "ramp_room_prep", "max_seeker_height", "seeker_in_room",
            "max_ramp_move"))):
        if not sealed:
            continue
        lo = min(int(far // 0.5) * 0.5, 2.0)
        climbed = height >= 0.3 and inside == 1
        climbs[lo] = climbs.get(lo, 0) + climbed
        count[lo] = count.get(lo, 0) + 1
        if not climbed:
            unclimbed += 1
            still += moved < 0.05
    result = sp.climbs_by_ramp_distance(episodes)
    for lo in (0.0, 0.5, 1.0, 1.5, 2.0):
        name = f"ramp_room_{lo:.1f}m+" if lo == 2.0 else f"ramp_room_{lo:.1f}-{lo + 0.5:.1f}m"
        assert result[f"episodes_{name}"] == count[lo]
        assert result[f"climbed_in_{name}"] == pytest.approx(climbs[lo] / count[lo])
    assert result["ramp_still_unclimbed"] == pytest.approx(still / unclimbed)


def test_climbs_by_ramp_facing_splits_the_forts_made_as_a_plain_loop_does():
    """Facing within 45 degrees of the room, of away from it, or side on; episodes without a
    fort, and ramps in the room (NaN), in no group."""
    rng = np.random.default_rng(5)
    n = 300
    episodes = {"hiders_sealed_prep": rng.integers(0, 2, n),
                "ramp_facing_prep": np.cos(rng.uniform(0.0, np.pi, n)),
                "max_seeker_height": rng.choice([0.0, 0.5], n),
                "seeker_in_room": rng.integers(0, 2, n).astype(float)}
    episodes["ramp_facing_prep"][:4] = np.nan
    climbs, count = {}, {}
    for sealed, facing, height, inside in zip(*(episodes[k] for k in (
            "hiders_sealed_prep", "ramp_facing_prep", "max_seeker_height", "seeker_in_room"))):
        if not sealed or np.isnan(facing):
            continue
        angle = math.degrees(math.acos(facing))
        name = "facing_room" if angle < 45 else "facing_away" if angle > 135 else "side_on"
        climbs[name] = climbs.get(name, 0) + (height >= 0.3 and inside == 1)
        count[name] = count.get(name, 0) + 1
    result = sp.climbs_by_ramp_facing(episodes)
    for name in ("facing_room", "side_on", "facing_away"):
        assert result[f"episodes_{name}"] == count[name]
        assert result[f"climbed_in_{name}"] == pytest.approx(climbs[name] / count[name])


def test_climbs_by_ramp_distance_is_empty_without_a_room_or_a_ramp():
    nan = np.full(3, np.nan)
    assert sp.climbs_by_ramp_distance({"hiders_sealed_prep": np.ones(3), "ramp_room_prep": nan,
                                       "max_seeker_height": np.ones(3), "seeker_in_room": nan,
                                       "max_ramp_move": np.zeros(3)}) == {}
    assert sp.climbs_by_ramp_facing({"hiders_sealed_prep": np.ones(3), "ramp_facing_prep": nan,
                                     "max_seeker_height": np.ones(3), "seeker_in_room": nan}) == {}


def test_eval_from_forts_left_to_finish_splits_every_one_of_them():
    config = sp.apply_overrides(sp.preset_config("ramp-room"), ["n_worlds=4"])
    result = sp.evaluate(sp.Trainer(config, "cpu"), n_worlds=6, sample=True, cube_gaps=(2, 2))
    shares = [result[name] for name in ("cube_closed", "cube_moved_open", "cube_still_locked",
                                        "cube_still")]
    assert result["door_cube_episodes"] == 6 and sum(shares) == pytest.approx(1.0)
    assert result["cube_closed"] == result["hiders_sealed_prep"]  # every episode is such a fort
    assert result["episodes_cube_bearing_0-30deg"] == 6  # 0.4 m straight back: 0 degrees


def test_locks_by_door_ramp_gap_split_the_door_ramps_as_a_plain_loop_does():
    gaps = np.array([0.0, 0.0, 0.4, 0.8, 1.0, 2.0, np.nan])
    locks = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0])
    split = sp.locks_by_door_ramp_gap({"door_ramp_gap": gaps, "num_ramp_lock_prep": locks})
    for name, lo, hi in (("0.0-0.2m", 0.0, 0.2), ("0.2-1.0m", 0.2, 1.0), ("1.0m+", 1.0, 9.0)):
        picked = [lock for gap, lock in zip(gaps, locks) if lo <= gap < hi]  # NaN: in none
        assert split[f"episodes_door_ramp_{name}"] == len(picked)
        assert split[f"locked_door_ramp_{name}"] == pytest.approx(sum(picked) / len(picked))
    assert sp.locks_by_door_ramp_gap({"door_ramp_gap": gaps[-1:],
                                      "num_ramp_lock_prep": locks[-1:]}) == {}


def test_locks_by_ramp_walk_split_the_walking_hiders_as_a_plain_loop_does():
    walks = np.array([0.0, 0.0, 0.2, 0.38, 0.4, 0.6, 0.8, 2.0, np.nan])
    locks = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0])
    split = sp.locks_by_ramp_walk({"ramp_walk": walks, "num_ramp_lock_prep": locks})
    for name, lo, hi in (("0.0-0.1m", 0.0, 0.1), ("0.1-0.3m", 0.1, 0.3), ("0.3-0.7m", 0.3, 0.7),
                         ("0.7m+", 0.7, 9.0)):
        picked = [lock for walk, lock in zip(walks, locks) if lo <= walk < hi]  # NaN: in none
        assert split[f"episodes_ramp_walk_{name}"] == len(picked)
        assert split[f"locked_ramp_walk_{name}"] == pytest.approx(sum(picked) / len(picked))


def test_locks_by_door_side_split_the_placed_hiders_as_a_plain_loop_does():
    sides = np.array([1.0, 1.0, 0.0, 0.0, 0.0, np.nan, 1.0])
    locks = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0])
    split = sp.locks_by_door_side({"walk_door_side": sides, "num_ramp_lock_prep": locks})
    for name, side in (("door_side", 1.0), ("far_side", 0.0)):
        picked = [lock for s, lock in zip(sides, locks) if s == side]  # NaN: in neither
        assert split[f"episodes_{name}"] == len(picked)
        assert split[f"locked_{name}"] == pytest.approx(sum(picked) / len(picked))
    assert sp.locks_by_door_side({"walk_door_side": sides[5:6],
                                  "num_ramp_lock_prep": locks[5:6]}) == {}


def test_eval_with_the_door_side_stands_every_placed_hider_there_and_needs_one():
    trainer = sp.Trainer(sp.apply_overrides(sp.preset_config("ramp-room-lock"), ["n_worlds=4"]),
                         "cpu")
    result = sp.evaluate(trainer, n_worlds=6, ramp_hiders=True, ramp_walks=(1, 1),
                         walk_door_side=1.0)
    assert result["ramp_hider_episodes"] == 6 == result["episodes_door_side"]
    with pytest.raises(ValueError, match="walk_door_side 1.0 stands a hider .* needs"):
        sp.evaluate(trainer, n_worlds=2, walk_door_side=1.0)


def test_eval_with_ramp_walks_stands_every_hider_that_far_out_and_needs_a_hider_beside():
    trainer = sp.Trainer(sp.apply_overrides(sp.preset_config("ramp-room-lock"), ["n_worlds=4"]),
                         "cpu")
    result = sp.evaluate(trainer, n_worlds=6, door_ramps=(8, 10), door_ramp_beside=True,
                         ramp_walks=(2, 2))
    assert result["door_ramp_episodes"] == 6 == result["episodes_ramp_walk_0.3-0.7m"]
    own = sp.evaluate(trainer, n_worlds=6, ramp_hiders=True, ramp_walks=(4, 4))
    assert own["ramp_hider_episodes"] == 6 == own["episodes_ramp_walk_0.7m+"]
    with pytest.raises(ValueError, match="they need door_ramp_beside .* or ramp_hiders"):
        sp.evaluate(trainer, n_worlds=2, door_ramps=(0, 0), ramp_walks=(1, 1))


def test_the_start_flags_of_eval_reach_play_episodes_as_its_keywords():
    args = sp.build_parser().parse_args(["eval", "RUN", "--door-ramps", "8", "10",
                                         "--door-ramp-beside", "--ramp-walks", "2", "2",
                                         "--walk-door-side", "0.5"])
    starts = sp.start_arrangements(args)
    assert set(starts) <= set(inspect.signature(sp.play_episodes).parameters)
    assert (starts["door_ramps"], starts["door_ramp_beside"], starts["ramp_walks"],
            starts["walk_door_side"]) == ([8, 10], True, [2, 2], 0.5)
    assert not starts["door_ramp_hider"] and starts["cube_gaps"] is None


@pytest.mark.parametrize("starts", [{}, {"door_ramps": (0, 4), "door_ramp_beside": True}])
def test_ramps_locked_begin_every_episode_with_the_ramps_locked_by_the_hiders(starts):
    trainer = sp.Trainer(sp.apply_overrides(sp.preset_config("ramp-room-lock"), ["n_worlds=2"]),
                         "cpu")
    first = []

    def on_frame(env):
        if not first:  # the worlds as the first step finds them
            ramps = env.world.kind == sp.game.RAMP
            first.append((env.world.locked_by[ramps].copy(), ramps.sum()))

    sp.play_episodes(trainer.ppo.model, trainer.config, 3, on_frame=on_frame, ramps_locked=True,
                     **starts)
    locked_by, ramps = first[0]
    assert ramps == 3 and (locked_by == sp.HIDERS).all()


def test_ramps_locked_in_a_game_whose_ramps_may_not_be_locked_is_a_clear_error():
    trainer = sp.Trainer(sp.apply_overrides(sp.preset_config("ramp-room"), ["n_worlds=2"]), "cpu")
    with pytest.raises(ValueError, match="game 'ramp-room' has lock_ramps=False"):
        sp.evaluate(trainer, n_worlds=2, ramps_locked=True)


def test_eval_from_the_ramp_defense_starts_plays_every_episode_so_and_refuses_forts_too():
    config = sp.apply_overrides(sp.preset_config("ramp-room-lock"), ["n_worlds=4"])
    trainer = sp.Trainer(config, "cpu")
    result = sp.evaluate(trainer, n_worlds=6, sample=True, door_ramps=(0, 0))
    assert result["door_ramp_episodes"] == 6 == result["episodes_door_ramp_0.0-0.2m"]
    assert result["locked_door_ramp_0.0-0.2m"] == result["num_ramp_lock_prep"]  # one ramp each
    with pytest.raises(ValueError, match="not both: got door_forts and door_ramps"):
        sp.evaluate(trainer, n_worlds=2, door_forts=True, door_ramps=(0, 0))
    beside = sp.evaluate(trainer, n_worlds=6, sample=True, ramp_hiders=True)
    assert beside["ramp_hider_episodes"] == 6
    with pytest.raises(ValueError, match="not both: got cube_gaps and ramp_hiders"):
        sp.evaluate(trainer, n_worlds=2, cube_gaps=(0, 0), ramp_hiders=True)
    for hider in ("door_ramp_hider", "door_ramp_beside"):
        with pytest.raises(ValueError, match="they need door_ramps"):
            sp.evaluate(trainer, n_worlds=2, **{hider: True})


def test_eval_counts_a_climb_into_the_room_only_where_both_happened(monkeypatch):
    """Four crafted episodes: up 0.5 m and in the room; up only; in the room only; neither."""
    height, in_room = np.array([0.5, 0.5, 0.0, 0.0]), np.array([1.0, 0.0, 1.0, 0.0])
    crafted = {"world": np.arange(4), "max_seeker_height": height, "seeker_in_room": in_room,
               "ramp_gap": np.full(4, np.nan), "cube_home": np.full(4, np.nan),
               "cube_bearing": np.full(4, np.nan), "replayed": np.zeros(4, bool),
               "door_fort": np.zeros(4, bool), "ramp_room_prep": np.full(4, np.nan),
               "ramp_facing_prep": np.full(4, np.nan),
               "n_hiders": np.ones(4), "n_seekers": np.ones(4), "hider_return": np.zeros(4),
               "seeker_return": np.zeros(4), **{k: np.zeros(4) for k in sp.STAT_KEYS}}
    monkeypatch.setattr(sp, "play_episodes", lambda *args, **kwargs: crafted)
    result = sp.evaluate(sp.Trainer(tiny_config(), "cpu"), n_worlds=4)
    assert (result["seekers_climbed"], result["seekers_in_room"],
            result["seekers_climbed_in"]) == (0.5, 0.5, 0.25)
    assert math.isnan(result["seekers_climbed_in_far"])  # no ramp started at a wall


def test_a_climb_in_from_afar_counts_only_ramps_that_started_a_metre_short_of_the_wall():
    """Five crafted episodes, each climbed in but the third: the ramp started 1.4 m, 1.0 m,
    1.2 m and 0.4 m short of the wall, and the last not facing a wall at all (NaN)."""
    episodes = {"max_seeker_height": np.array([0.5, 0.5, 0.0, 0.5, 0.5]),
                "seeker_in_room": np.ones(5),
                "ramp_gap": np.array([1.4, 1.0, 1.2, 0.4, np.nan])}
    far = sp.climbed_in_far(episodes)
    assert far[:3].tolist() == [1.0, 1.0, 0.0] and np.isnan(far[3:]).all()
    assert sp.mean_where_defined(far) == pytest.approx(2 / 3)
    assert math.isnan(sp.mean_where_defined(far[3:]))


def test_climbs_are_counted_by_how_far_the_ramp_started_short_of_the_wall():
    """Six crafted episodes at gaps 0, 0.2, 0.4, 0.4, 1.8 m and none (NaN, a ramp not facing a
    wall), climbed in at 0.2 and 1.8 m and from the NaN one: each range of cells gets its own
    share and count, and so do the ramps that faced no wall; a game with no gap, none."""
    episodes = {"max_seeker_height": np.array([0.0, 0.5, 0.0, 0.0, 0.5, 0.5]),
                "seeker_in_room": np.ones(6),
                "ramp_gap": np.array([0.0, 0.2, 0.4, 0.4 + 1e-9, 1.8, np.nan])}
    result = sp.climbs_by_ramp_gap(episodes)
    assert result["climbed_in_gap_0.0-0.0m"] == 0.0 and result["episodes_gap_0.0-0.0m"] == 1
    assert result["climbed_in_gap_0.2-0.4m"] == pytest.approx(1 / 3)
    assert result["episodes_gap_0.2-0.4m"] == 3
    assert math.isnan(result["climbed_in_gap_0.6-1.0m"]) and result["episodes_gap_0.6-1.0m"] == 0
    assert result["climbed_in_gap_1.8-2.0m"] == 1.0
    assert result["climbed_in_not_facing"] == 1.0 and result["episodes_not_facing"] == 1
    assert sp.climbs_by_ramp_gap({**episodes, "ramp_gap": np.full(6, np.nan)}) == {}


def test_render_and_plot_write_readable_files(tmp_path):
    trainer = sp.Trainer(tiny_config(total_steps=320), "cpu")
    run = sp.RunFolder(str(tmp_path / "run"))
    run.write_config(trainer.config)
    sp.train(trainer, run, write_gif=False, quiet=True)
    gif = sp.main(["render", run.path, "--out", str(tmp_path / "x.gif"), "--worlds", "2"])
    frames = imageio.mimread(gif)
    assert len(frames) > 5 and frames[0].ndim == 3
    png = sp.plot_run(run.path)
    assert imageio.imread(png).shape[0] > 100


def write_metrics(folder, fields, rows):
    """A hand-written run folder: metrics.csv with header `fields` and `rows` (lists, one per
    update; "" for a statistic the update did not record). Returns the folder as a str."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "metrics.csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(fields)
        writer.writerows(rows)
    return str(folder)


@pytest.mark.parametrize("door_forts, replayed, panels", [(False, 0, 5), (True, 4, 6),
                                                          (True, 10, 1), (False, 10, 5)])
def test_the_plot_of_a_run_with_forts_built_for_the_hiders_has_a_panel_for_them(
        door_forts, replayed, panels, tmp_path):
    """A hand-written metrics.csv, 10 episodes ended per update, `replayed` of them from the
    curriculum's states, with or without the door_fort_ columns: at 100 dpi and 2.4 inches a
    panel, the PNG is 240 pixels high per panel. All 10 replayed from forts: the own starts'
    panels go; all replayed from the start-state buffer alone: they stay (nothing else to draw)."""
    fields = ["update", "steps", "hider_reward", "episodes_ended", "episodes_replayed"] + (
        ["door_fort_hiders_sealed", "door_fort_seekers_climbed_in"] if door_forts else [])
    write_metrics(tmp_path, fields, [[u, 100 * u, 0.1, 10, replayed]
                                     + ([0.5, 0.25] if door_forts else []) for u in range(3)])
    assert imageio.imread(sp.plot_run(str(tmp_path))).shape[0] == 240 * panels


def test_the_plot_of_a_run_with_forts_left_to_finish_adds_a_panel_for_them(tmp_path):
    """As above, with the door_cube_ columns (curriculum.door_cubes): one panel more, 6 x 240
    pixels, whose lines are the two seal shares, the farthest gap and cube_reach's share."""
    fields = ["update", "steps", "hider_reward", "episodes_ended", "episodes_replayed",
              "door_cube_hiders_sealed_prep", "door_cube_hiders_sealed", "cube_gap_farthest",
              "cube_reach_share"]
    write_metrics(tmp_path, fields, [[u, 100 * u, 0.1, 10, 3, 0.5, 0.25, 0.4, 0.1]
                                     for u in range(3)])
    assert imageio.imread(sp.plot_run(str(tmp_path))).shape[0] == 240 * 6


@pytest.mark.parametrize("climbs", [False, True])
def test_the_plot_draws_the_climb_over_the_hiders_own_forts_where_the_run_recorded_it(
        climbs, tmp_path):
    """A hand-written metrics.csv with or without seekers_climbed_in (written since 2026-12-06):
    the hiders' seal panel, the last of the game's own starts, draws it where it is there."""
    fields = ["update", "steps", "hiders_sealed_prep", "hiders_sealed"] + (
        ["seekers_climbed_in"] if climbs else [])
    write_metrics(tmp_path, fields, [[u, 100 * u, 0.5, 0.4] + ([0.1] if climbs else [])
                                     for u in range(3)])
    _, column = sp.run_columns(str(tmp_path))
    _, series = sp.run_panels(column)[-1]
    assert [key for key, _ in series] == ["hiders_sealed_prep", "hiders_sealed"] + (
        ["seekers_climbed_in"] if climbs else [])


@pytest.mark.filterwarnings("ignore:Mean of empty slice")  # no episode ended: NaN
def test_comparing_runs_draws_each_runs_own_moving_averages(tmp_path):
    paths = []
    for seed in (0, 1):  # two short runs, three updates each
        paths.append(str(tmp_path / f"run-{seed}"))
        sp.train(sp.Trainer(tiny_config(seed=seed), "cpu"),
                 sp.RunFolder(paths[-1]), write_gif=False, quiet=True)
    fig = sp.comparison_figure(paths, width=2)
    for ax, (_, key) in zip(fig.axes, sp.COMPARED):
        assert [line.get_label() for line in ax.lines] == ["run-0", "run-1"]
        for line, path in zip(ax.lines, paths):
            with open(os.path.join(path, "metrics.csv")) as f:  # by hand: the csv module
                rows = list(csv.DictReader(f))
            values = [float(r[key]) for r in rows]
            by_hand = [np.nanmean(values[max(0, i - 1):i + 1]) for i in range(len(values))]
            np.testing.assert_allclose(line.get_xdata(), [float(r["steps"]) for r in rows])
            np.testing.assert_allclose(line.get_ydata(), by_hand, err_msg=key)
    sp.main(["plot", *paths, "--out", str(tmp_path / "both.png")])  # the command line's way
    assert imageio.imread(tmp_path / "both.png").shape[0] > 100
    with pytest.raises(ValueError, match="--lineage lines up several runs"):
        sp.main(["plot", paths[0], "--lineage"])


def write_fort_metrics(path, ramp_gaps=None):
    """A hand-written metrics.csv of a run whose 10 episodes an update all began from forts."""
    fields = ["update", "steps", "hider_reward", "episodes_ended", "episodes_replayed"] + [
        key for _, key in sp.COMPARED_FORTS if ramp_gaps or key != "ramp_gap_farthest"]
    rows = []
    for u in range(3):  # every door-fort statistic 0.5
        row = {"update": u, "steps": 100 * u, "hider_reward": 0.1, "episodes_ended": 10,
               "episodes_replayed": 10}
        if ramp_gaps:
            row["ramp_gap_farthest"] = ramp_gaps[u]
        rows.append([row.get(key, 0.5) for key in fields])
    return write_metrics(path, fields, rows)


@pytest.mark.parametrize("gaps", [None, (0.6, 0.6, 0.8)])
def test_comparing_runs_from_forts_draws_how_the_forts_ended(gaps, tmp_path):
    """Two runs whose episodes all began from forts built for the hiders: the panels are the
    door-fort statistics (the own starts' are a few episodes an update), with the farthest
    ramp gap only where a run recorded one; a run with own starts brings the usual panels back."""
    paths = [write_fort_metrics(tmp_path / "a", gaps), write_fort_metrics(tmp_path / "b")]
    fig = sp.comparison_figure(paths, width=2)
    expected = [title for title, key in sp.COMPARED_FORTS if gaps or key != "ramp_gap_farthest"]
    assert [ax.get_ylabel() for ax in fig.axes] == expected
    if gaps:
        np.testing.assert_allclose(fig.axes[-1].lines[0].get_ydata(), [0.6, 0.6, 0.7])
    own = tmp_path / "own"
    sp.train(sp.Trainer(tiny_config(), "cpu"), sp.RunFolder(str(own)), write_gif=False,
             quiet=True)
    fig = sp.comparison_figure([paths[0], str(own)], width=2)
    assert [ax.get_ylabel() for ax in fig.axes] == [title for title, _ in sp.COMPARED]


def test_comparing_runs_by_lineage_moves_each_run_on_by_the_steps_before_it(tmp_path):
    """Two hand-written runs, one with an origin.json of 1,000 world-steps before it: with
    `lineage` its line starts at 1,000 + its own steps, the other's where it was."""
    paths = [write_fort_metrics(tmp_path / "source"), write_fort_metrics(tmp_path / "branch")]
    with open(tmp_path / "branch" / "origin.json", "w") as f:
        json.dump({"checkpoint": paths[0], "steps": 1000}, f)
    own = [line.get_xdata() for line in sp.comparison_figure(paths, width=1).axes[0].lines]
    fig = sp.comparison_figure(paths, width=1, lineage=True)
    by_lineage = [line.get_xdata() for line in fig.axes[0].lines]
    np.testing.assert_allclose(own[1], [0, 100, 200])
    np.testing.assert_allclose(by_lineage[0], own[0])
    np.testing.assert_allclose(by_lineage[1], [1000, 1100, 1200])
    assert fig.axes[-1].get_xlabel() == "world-steps of each run's lineage"


def test_comparing_runs_with_forts_left_to_finish_adds_their_panels(tmp_path):
    """Two short runs with curriculum.door_cubes and fixed gaps (cube_reach 0): the own
    starts' panels (the seeker's climbs among them), then how often the forts left to finish were
    closed and the farthest cube gap, each line the run's own; no panel for cube_reach's share,
    which they never had."""
    paths = []
    for seed in (0, 1):
        paths.append(str(tmp_path / f"run-{seed}"))
        config = sp.apply_overrides(sp.preset_config("ramp-room"), [
            "n_worlds=4", "rollout_steps=80", "total_steps=640", f"seed={seed}",
            "curriculum.door_cubes=0.5", "curriculum.cube_reach=0"])
        sp.train(sp.Trainer(config, "cpu"), sp.RunFolder(paths[-1]), write_gif=False,
                 quiet=True)
    fig = sp.comparison_figure(paths, width=1)
    own = [title for title, _ in sp.COMPARED]  # and the climb: ramp-room has the room
    assert [ax.get_ylabel() for ax in fig.axes] == own[:2] + [sp.COMPARED_CLIMB[0]] + own[2:] + [
        "forts left to finish closed", "farthest cube gap drawn (m)"]
    np.testing.assert_allclose(fig.axes[-1].lines[1].get_ydata(), [0.4, 0.4])  # cube_gap 2


def test_comparing_runs_with_some_forts_given_draws_the_seekers_climbs_into_them(tmp_path):
    """Two hand-written runs, half of each update's episodes from forts built for the hiders
    (curriculum.door_forts below 1), one of which moved its forts' ramp (ramp_reach with
    fort_ramps): the own starts' panels, then the climbs into those forts, each run's own, and
    the farthest ramp gap, that run's values and the other's NaN."""
    fields = ["update", "steps", "hider_reward", "episodes_ended", "episodes_replayed",
              "door_fort_seekers_climbed_in", "ramp_gap_farthest"]
    paths = [write_metrics(tmp_path / name, fields,
                           [[u, 100 * u, 0.1, 10, 5, climbs[u], gaps[u]] for u in range(3)])
             for name, climbs, gaps in (("moved", (0.1, 0.2, 0.3), (0.2, 0.2, 0.4)),
                                        ("fixed", (0.0, 0.0, 0.1), ("", "", "")))]
    fig = sp.comparison_figure(paths, width=1)
    assert [ax.get_ylabel() for ax in fig.axes] == [title for title, _ in sp.COMPARED] + [
        title for title, _ in sp.COMPARED_SOME_FORTS]
    np.testing.assert_allclose(fig.axes[-2].lines[1].get_ydata(), [0.0, 0.0, 0.1])
    np.testing.assert_allclose(fig.axes[-1].lines[0].get_ydata(), [0.2, 0.2, 0.4])
    assert np.isnan(fig.axes[-1].lines[1].get_ydata()).all()


def test_comparing_runs_draws_the_ramp_defense_starts_each_run_recorded(tmp_path):
    """One run with ramps at the door, one with a hider beside the ramp that walks to it: the
    own starts' ramp locks, then each start's locks and seals and the walks, each run's line
    its own and the other's NaN."""
    fields = ["update", "steps", "hider_reward", "episodes_ended", "episodes_replayed",
              "num_ramp_lock_prep", "door_ramp_num_ramp_lock_prep",
              "door_ramp_hiders_sealed_prep", "ramp_hider_num_ramp_lock_prep",
              "ramp_hider_hiders_sealed_prep", "ramp_walk_farthest", "walk_reach_share"]
    paths = [write_metrics(tmp_path / "door", fields,
                           [[u, 100 * u, 0.1, 10, 5, 0.0, 0.3 + u, 0.2, "", "", "", ""]
                            for u in range(3)]),
             write_metrics(tmp_path / "beside", fields,
                           [[u, 100 * u, 0.1, 10, 5, 0.0, "", "", 0.5, 0.1 * u, 0.4, 0.2 * u]
                            for u in range(3)])]
    fig = sp.comparison_figure(paths, width=1)
    titles = [ax.get_ylabel() for ax in fig.axes]
    assert titles == [title for title, _ in sp.COMPARED + sp.COMPARED_DEFENSE]
    door_locks, beside_seals, walk_share = fig.axes[-6], fig.axes[-3], fig.axes[-1]
    np.testing.assert_allclose(door_locks.lines[0].get_ydata(), [0.3, 1.3, 2.3])
    assert np.isnan(door_locks.lines[1].get_ydata()).all()
    np.testing.assert_allclose(beside_seals.lines[1].get_ydata(), [0.0, 0.1, 0.2])
    np.testing.assert_allclose(walk_share.lines[1].get_ydata(), [0.0, 0.2, 0.4])


def test_a_runs_plot_draws_a_panel_for_each_ramp_defense_start_it_recorded():
    values = {"door_ramp_num_ramp_lock_prep": [0.3], "ramp_hider_num_ramp_lock_prep": [np.nan]}
    panels = sp.run_panels(lambda key: np.array(values.get(key, [np.nan])))
    assert [title for title, _ in panels][-1] == "ramp set at the door"
    assert "a hider beside the ramp" not in [title for title, _ in panels]


@pytest.mark.parametrize("walks, drawn", [([0.0], False), ([0.2, 0.4], True)])
def test_a_runs_plot_draws_the_walk_to_the_ramp_where_the_hider_started_out_from_it(walks,
                                                                                   drawn):
    values = {"ramp_hider_num_ramp_lock_prep": [0.5] * len(walks), "ramp_walk_farthest": walks,
              "walk_reach_share": [0.3] * len(walks)}
    panels = dict(sp.run_panels(lambda key: np.array(values.get(key, [np.nan] * len(walks)))))
    assert ("the hider's walk to the ramp" in panels) == drawn
    if drawn:
        assert [key for key, _ in panels["the hider's walk to the ramp"]] == [
            "ramp_walk_farthest", "walk_reach_share"]


def test_comparing_runs_draws_no_climbs_into_forts_that_one_run_never_had(tmp_path):
    fields = ["update", "steps", "hider_reward", "episodes_ended", "episodes_replayed",
              "door_fort_seekers_climbed_in"]
    paths = [write_metrics(tmp_path / name, fields, [[u, 100 * u, 0.1, 10, 5, climbs]
                                                     for u in range(3)])
             for name, climbs in (("forts", 0.1), ("none", ""))]
    fig = sp.comparison_figure(paths, width=1)
    assert [ax.get_ylabel() for ax in fig.axes] == [title for title, _ in sp.COMPARED]


def test_comparing_runs_draws_the_climbs_over_the_hiders_own_forts_after_their_seal(tmp_path):
    """Two hand-written runs, one written before seekers_climbed_in was recorded: the panel
    comes third, after the hiders' seal, with the one run's values and the other's NaN."""
    fields = ["update", "steps", "hider_reward", "hiders_sealed_prep", "seekers_climbed_in"]
    paths = [write_metrics(tmp_path / name, fields, [[u, 100 * u, 0.1, 0.5, climbs[u]]
                                                     for u in range(3)])
             for name, climbs in (("new", (0.0, 0.1, 0.2)), ("old", ("", "", "")))]
    fig = sp.comparison_figure(paths, width=1)
    titles = [title for title, _ in sp.COMPARED]
    assert [ax.get_ylabel() for ax in fig.axes] == titles[:2] + [sp.COMPARED_CLIMB[0]] + titles[2:]
    np.testing.assert_allclose(fig.axes[2].lines[0].get_ydata(), [0.0, 0.1, 0.2])
    assert np.isnan(fig.axes[2].lines[1].get_ydata()).all()


def test_comparing_runs_draws_cube_reachs_share_where_a_run_moved_its_gaps(tmp_path):
    """Two hand-written runs with forts left to finish, one of which moved its gaps
    (curriculum.cube_reach, a finite cube_reach_share): the share closed from the farthest gap
    gets its panel after the own starts', with that run's values and the other's NaN."""
    fields = ["update", "steps", "hider_reward", "episodes_ended", "episodes_replayed",
              "door_cube_hiders_sealed_prep", "cube_gap_farthest", "cube_reach_share"]
    paths = [write_metrics(tmp_path / name, fields,
                           [[u, 100 * u, 0.1, 10, 5, 0.5, 0.4, shares[u]] for u in range(3)])
             for name, shares in (("moved", (0.2, 0.4, 0.6)), ("fixed", ("", "", "")))]
    fig = sp.comparison_figure(paths, width=1)
    titles = [ax.get_ylabel() for ax in fig.axes]
    assert titles == [title for title, _ in sp.COMPARED] + [
        title for title, _ in sp.COMPARED_CUBES]
    moved, fixed = fig.axes[len(sp.COMPARED)].lines
    np.testing.assert_allclose(moved.get_ydata(), [0.2, 0.4, 0.6])
    assert np.isnan(fixed.get_ydata()).all()


@pytest.mark.parametrize("other_game,door_forts", [(None, False), ("ramp-room", False),
                                                  ("ramp-room", True)])
def test_eval_reports_what_stepping_the_env_by_hand_gives(other_game, door_forts, tmp_path):
    sp.train(sp.Trainer(tiny_config(total_steps=160), "cpu"),
             sp.RunFolder(str(tmp_path / "run")), write_gif=False, quiet=True)
    result = sp.main(["--device", "cpu", "eval", str(tmp_path / "run"), "--worlds", "3",
                      "--seed", "5"] + (["--game", other_game] if other_game else [])
                     + (["--door-forts"] if door_forts else []))
    # By hand: the greedy policy in 3 worlds of HideAndSeek("tiny", 3, seed=5) (or of the other
    # game asked for, from forts already built if asked), one episode, rewards averaged over
    # the team's agent-steps as metrics.csv does.
    trained = sp.load_checkpoint(str(tmp_path / "run"))
    model, ppo = trained.ppo.model, trained.ppo
    env = sp.game.HideAndSeek(other_game or "tiny", 3, seed=5)
    obs, n = env.reset(), 3 * env.n_agents
    if door_forts:
        assert len(handmade.close_doors(env, np.arange(3))) == 3
        obs = env.observe()
    team = env.team.copy()  # [W, A]
    state, starts = model.initial_state(n), torch.ones(n, dtype=torch.bool)
    rewards = []
    with torch.no_grad():
        for _ in range(env.preset.horizon):
            x = ppo.normalise_obs(sp.to_torch(obs, "cpu"), update_stats=False)
            dist, _, state = model({k: v[None] for k, v in x.items()}, state, starts[None])
            starts = torch.zeros_like(starts)
            obs, r, dones, info = env.step(dist.mode()[0].numpy().reshape(3, env.n_agents, 5))
            rewards.append(r)
    rewards = np.stack(rewards)  # [T, W, A]
    assert dones.all() and result["episodes"] == 3
    assert result["hider_reward"] == pytest.approx(rewards[:, team == sp.HIDERS].mean())
    assert result["seeker_reward"] == pytest.approx(rewards[:, team == sp.SEEKERS].mean())
    for key in sp.STAT_KEYS + ("max_seeker_height",):
        assert result[key] == pytest.approx(info["episodes"][key].mean()), key
    climbed = (info["episodes"]["max_seeker_height"] >= 0.3).mean()
    assert result["seekers_climbed"] == pytest.approx(climbed)
    in_room = info["episodes"]["seeker_in_room"]  # tiny has no quadrant room: NaN
    assert np.isnan(in_room).all() == (other_game is None)
    assert result["seekers_in_room"] == pytest.approx(in_room.mean(), nan_ok=True)
    in_after_climbing = ((info["episodes"]["max_seeker_height"] >= 0.3) & (in_room == 1)).mean()
    assert result["seekers_climbed_in"] == pytest.approx(
        math.nan if other_game is None else in_after_climbing, nan_ok=True)
    assert result.get("door_fort_episodes") == (3 if door_forts else None)


def test_eval_with_ramp_gaps_plays_the_wall_ramp_that_far_short_of_the_wall(tmp_path):
    """`--ramp-gaps 11 12` in `ramp-room-nudge` (its own gaps 1-3): every episode's ramp, as
    measured from the layout, started 2.2-2.4 m short; gaps past the room are refused."""
    sp.train(sp.Trainer(tiny_config(total_steps=160), "cpu"),
             sp.RunFolder(str(tmp_path / "run")), write_gif=False, quiet=True)
    command = ["--device", "cpu", "eval", str(tmp_path / "run"), "--worlds", "24", "--game",
               "ramp-room-nudge", "--ramp-gaps"]
    result = sp.main(command + ["11", "12"])
    assert result["episodes_gap_2.2-2.4m"] == 24 and result["episodes_gap_0.2-0.4m"] == 0
    with pytest.raises(ValueError, match="at most 12 cells fit outside the room, got max 13"):
        sp.main(command + ["12", "13"])


def test_metrics_csv_has_every_column(tmp_path):
    trainer = sp.Trainer(tiny_config(total_steps=320), "cpu")
    run = sp.RunFolder(str(tmp_path / "run"))
    sp.train(trainer, run, write_gif=False, quiet=True)
    with open(run.metrics_path) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2
    needed = {"update", "steps", "episodes", "seconds", "steps_per_second", "hider_reward",
              "seeker_reward", "policy_loss", "value_loss", "entropy", "approx_kl",
              "clip_fraction", "explained_variance", "grad_norm", *sp.STAT_KEYS}
    assert needed <= set(rows[0])
    assert all(math.isfinite(float(rows[-1][k])) for k in ("policy_loss", "hider_reward"))


def test_progress_line_shows_steps_speed_episodes_rewards_and_stage(capsys):
    progress = sp.Progress(total=1000, done=0, quiet=False)
    progress.show(record(1, steps=100, episodes=7), "fort building")
    line = capsys.readouterr().out
    for text in ("100/1,000", "steps/s", "episodes", "hider", "seeker", "fort building", "left"):
        assert text in line


@pytest.mark.parametrize("seconds, text", [(0, "0h00m00s"), (3725, "1h02m05s"),
                                           (99 * 3600 + 59 * 60 + 59, "99h59m59s"),
                                           (2e9 / 900, "25d17h"), (-5, "0h00m00s")])
def test_time_left_reads_in_hours_and_from_100_hours_in_days(seconds, text):
    """2 billion world-steps at 900 a second: 2,222,222 s = 25 days 17 hours (and 17 minutes)."""
    assert sp.format_time(seconds) == text


@pytest.mark.parametrize("argv, message", [
    (["train", "--preset", "nope"], "unknown preset"),
    (["train", "--set", "n_worlds=abc"], "expected a int"),
    (["train", "--set", "ppo.nothing=1"], "unknown setting"),
    (["render", "no/such/run"], "no checkpoint"),
    (["eval", "no/such/run", "--worlds", "0"], "--worlds must be at least 1, got 0"),
    (["eval", "no/such/run", "--game", "nope"], "--game 'nope': expected one of"),
])
def test_bad_command_lines_are_clear_errors_before_any_work(argv, message, tmp_path):
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        sp.main(argv + (["--run", str(tmp_path / "r")] if argv[0] == "train" else []))
    assert not os.path.exists(tmp_path / "r")


def test_stages_file_is_written_at_the_end_of_a_run(tmp_path):
    trainer = sp.Trainer(tiny_config(total_steps=320), "cpu")
    run = sp.RunFolder(str(tmp_path / "run"))
    sp.train(trainer, run, write_gif=False, quiet=True)
    assert json.load(open(os.path.join(run.path, "stages.json"))) == trainer.stages.reached


def test_a_stage_found_in_training_keeps_its_own_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setattr(sp, "STAGES", (("always", "passes at once", lambda s, first, paid: True),))
    trainer = sp.Trainer(tiny_config(total_steps=480), "cpu")  # window 2: found at update 3
    run = sp.RunFolder(str(tmp_path / "run"))
    sp.train(trainer, run, write_gif=False, quiet=True)
    at_stage = sp.load_checkpoint(run.stage_checkpoint_path("always"))
    assert trainer.stages.reached[0]["update"] == 3 == at_stage.updates
    assert at_stage.steps == trainer.stages.reached[0]["steps"] == 480


def test_resume_may_change_threads_and_length_but_not_the_recipe(tmp_path):
    trainer = sp.Trainer(tiny_config(total_steps=320), "cpu")
    run = sp.RunFolder(str(tmp_path / "run"))
    run.write_config(trainer.config)
    sp.train(trainer, run, write_gif=False, quiet=True)
    with pytest.raises(ValueError, match="keeps its recipe"):
        sp.main(["train", "--resume", run.path, "--set", "ppo.lr=0.1"])
    parser_args = sp.argparse.Namespace(resume=run.path, set=["torch_threads=1"], steps=480,
                                        init=None, init_seekers=None)
    _, resumed = sp.start_or_resume(parser_args, "cpu")
    assert resumed.config.torch_threads == 1 and resumed.config.total_steps == 480
    assert json.load(open(os.path.join(run.path, "config.json")))["total_steps"] == 480


def test_each_rung_of_the_ladder_can_start_the_next():
    ladder = ["tiny", "fort", "fort-ramp-wall", "fort-ramp", "ramp-room-wall", "ramp-room-nudge",
              "ramp-room-near", "ramp-room-turn", "ramp-room", "ramp", "quadrant", "full"]
    models = {name: sp.Trainer(sp.replace(sp.preset_config(name), n_worlds=2), "cpu").ppo.model
              for name in ladder}
    for lower, upper in zip(ladder, ladder[1:]):
        models[upper].load_state_dict(models[lower].state_dict())  # raises if shapes differ


def test_paper_network_flag_gives_the_papers_network_and_ppo(tmp_path):
    run, trainer = sp.start_or_resume(sp.argparse.Namespace(
        resume=None, preset="quadrant", paper_network=True, set=["n_worlds=2"], steps=None,
        run=str(tmp_path / "q"), init=None, init_seekers=None), "cpu")
    assert trainer.config.network == sp.NetworkSizes() and trainer.config.network.use_lstm
    assert (trainer.config.ppo.lr, trainer.config.ppo.gamma) == (3e-4, 0.998)
    assert sum(p.numel() for p in trainer.ppo.model.parameters()) > 1_500_000


def test_stages_read_again_from_metrics_match_the_ones_found_in_training(tmp_path, monkeypatch):
    monkeypatch.setattr(sp, "STAGES", (("always", "passes at once", lambda s, f, p: True),))
    trainer = sp.Trainer(tiny_config(total_steps=480), "cpu")
    run = sp.RunFolder(str(tmp_path / "run"))
    run.write_config(trainer.config)
    sp.train(trainer, run, write_gif=False, quiet=True)
    assert sp.replay_stages(run.path) == trainer.stages.reached != []


def test_stages_read_again_are_written_to_the_run_and_its_checkpoint(tmp_path, monkeypatch):
    """A run whose tracker (an older one) found nothing: `stages RUN` rewrites stages.json and
    the checkpoint's list, which a resumed run would otherwise write back."""
    monkeypatch.setattr(sp, "STAGES", (("always", "passes at once", lambda s, f, p: True),))
    trainer = sp.Trainer(tiny_config(total_steps=480), "cpu")
    trainer.stages.window = 10 ** 6  # the older tracker: never sees the stage
    run = sp.RunFolder(str(tmp_path / "run"))
    run.write_config(trainer.config)
    sp.train(trainer, run, write_gif=False, quiet=True)
    assert sp.load_checkpoint(run.path).stages.reached == []
    stages = sp.main(["stages", run.path])
    assert stages == sp.replay_stages(run.path) != []
    assert json.load(open(os.path.join(run.path, "stages.json"))) == stages
    assert sp.load_checkpoint(run.path).stages.reached == stages


def test_a_shipped_checkpoint_plays_as_its_run_does_and_leaves_the_worlds_out(tmp_path):
    """The reference is the run's own checkpoint: the same episodes, statistic for statistic,
    from a file without the worlds in play (and, at 64 worlds, smaller)."""
    config = tiny_config(n_worlds=64, total_steps=64 * 20)
    sp.train(sp.Trainer(config, "cpu"), sp.RunFolder(str(tmp_path / "run")), write_gif=False,
             quiet=True)
    shipped = sp.main(["ship", str(tmp_path / "run"), "--out", str(tmp_path / "small.pt")])
    full = str(tmp_path / "run" / "checkpoint.pt")
    assert os.path.getsize(shipped) < os.path.getsize(full)
    assert not set(sp.IN_PLAY) & set(torch.load(shipped, weights_only=False))
    assert sp.evaluate(sp.load_checkpoint(shipped), 8, seed=3) == pytest.approx(
        sp.evaluate(sp.load_checkpoint(full), 8, seed=3), nan_ok=True)


def test_a_run_started_from_another_inherits_its_stages_and_counts(tmp_path, monkeypatch):
    """--init: the tracker tests the stage after the source's last, and the results table
    counts the source's world-steps and episodes with the new run's."""
    second_may_pass = [False]
    stages = (("first", "passes at once", lambda s, f, p: True),
              ("second", "when allowed", lambda s, f, p: second_may_pass[0]))
    monkeypatch.setattr(sp, "STAGES", stages)
    source = sp.Trainer(tiny_config(total_steps=480), "cpu")
    source_run = sp.RunFolder(str(tmp_path / "source"))
    sp.train(source, source_run, write_gif=False, quiet=True)
    assert [s["name"] for s in source.stages.reached] == ["first"]

    second_may_pass[0] = True
    overrides = ["n_worlds=8", "rollout_steps=20", "total_steps=480", "stage_window=2",
                 "checkpoint_minutes=1000"]
    run, trainer = sp.start_or_resume(sp.argparse.Namespace(
        resume=None, preset="tiny", paper_network=False, set=overrides, steps=None,
        run=str(tmp_path / "next"), init=source_run.checkpoint_path,
        init_seekers=None), "cpu")
    assert torch.equal(parameters(trainer.ppo.model), parameters(source.ppo.model))
    sp.train(trainer, run, write_gif=False, quiet=True)

    first, second = trainer.stages.reached
    assert first == dict(source.stages.reached[0], inherited=source_run.checkpoint_path)
    assert second["name"] == "second" and second["steps"] == 480 and "inherited" not in second
    assert sp.load_checkpoint(run.path).origin["steps"] == 480 == sp.read_origin(run.path)["steps"]
    assert sp.replay_stages(run.path) == trainer.stages.reached
    rows = sp.results_rows([run.path], "here").splitlines()[2:]
    assert len(rows) == 1 and "| second | 960 | " in rows[0]
    assert f"{second['episodes'] + source.episodes:,}" in rows[0]
    assert f"(from {source_run.checkpoint_path})" in rows[0]


def test_stages_a_source_found_itself_before_they_named_their_game_pass_on_its_game():
    """Older checkpoints' stages have no "game": those the source found itself were found in
    its game; those it inherited from a source not here stay unknown (tested again)."""
    reached = [{"name": "running and chasing", "inherited": "runs/not-here"},
               {"name": "fort building"}]
    source = SimpleNamespace(origin=None, stages=SimpleNamespace(reached=reached), steps=10,
                             episodes=1, seconds=1.0, config=SimpleNamespace(game="fort"))
    chasing, fort = sp.origin_of(source, "checkpoints/x.pt")["stages"]
    assert "game" not in chasing and chasing["inherited"] == "runs/not-here"
    assert fort == {"name": "fort building", "game": "fort", "inherited": "checkpoints/x.pt"}


def test_an_inherited_stage_without_a_game_takes_the_game_of_the_run_it_came_from(tmp_path):
    """The run folder or checkpoint named in "inherited" says where the stage was found (an
    older lineage's entries): its config's game; a source not here leaves the stage as it is."""
    run, checkpoint = tmp_path / "run", tmp_path / "stage.pt"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"game": "fort"}))
    torch.save({"config": {"game": "ramp-room-wall"}}, checkpoint)
    stages = [{"name": "running and chasing", "inherited": f"{run} at 16,599,040 world-steps"},
              {"name": "fort building", "inherited": str(checkpoint)},
              {"name": "ramp use", "inherited": str(tmp_path / "gone")},
              {"name": "ramp defense", "inherited": str(run), "game": "ramp"}]
    assert [s.get("game") for s in sp.with_games(stages)] == [
        "fort", "ramp-room-wall", None, "ramp"]


def test_init_adds_an_lstm_that_acts_as_the_network_without_one_did(tmp_path):
    """--init from the shipped fort-building policy with `network.use_lstm=true`: every tensor
    but the memory layers is the source's, and the new LSTM gives nearly the source's action
    distribution and values (a fresh LSTM moved them by 16-30 nats per agent); it trains."""
    path = os.path.join(os.path.dirname(__file__), "..", "checkpoints", "fort-building.pt")
    source = sp.load_checkpoint(path)
    config = sp.apply_overrides(sp.preset_config("ramp-room"), [
        "n_worlds=8", "rollout_steps=20", "total_steps=160", "checkpoint_minutes=1000",
        "network.use_lstm=true"])
    trainer = sp.Trainer(config, "cpu")
    sp.init_from(trainer, path)
    loaded, theirs = trainer.ppo.model.state_dict(), source.ppo.model.state_dict()
    assert [name for name in loaded if name not in theirs] == [
        f"{tower}.memory.{part}" for tower in ("policy", "critic")
        for part in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    for name, value in theirs.items():
        if ".memory." not in name:
            assert torch.equal(loaded[name], value), name

    obs = sp.to_torch(trainer.envs[0].reset(), "cpu")
    obs = {key: value[None] for key, value in source.ppo.normalise_obs(obs, False).items()}
    n = obs["self"].shape[1]
    with torch.no_grad():
        (p, v), (q, w) = [(dist, value) for dist, value, _ in (
            model(obs, model.initial_state(n), torch.ones(1, n, dtype=torch.bool))
            for model in (source.ppo.model, trainer.ppo.model))]
    kl = sum((lp.exp() * (lp - lq)).sum((-2, -1)) for lp, lq in zip(p.log_probs, q.log_probs))
    assert kl.max() < 0.1 and torch.allclose(v, w, atol=0.1)
    sp.train(trainer, sp.RunFolder(str(tmp_path / "run")), write_gif=False, quiet=True)
    assert trainer.steps == 160


def ramp_room_config(*changes):
    return sp.apply_overrides(sp.preset_config("ramp-room"), [
        "n_worlds=8", "rollout_steps=20", "total_steps=320", "checkpoint_minutes=1000",
        *changes])


def test_init_adds_the_doors_and_acts_exactly_as_its_source_until_it_learns(tmp_path):
    """--init with `observe_doors` from a source without: the source's tensors and observation
    statistics unchanged, the door weights zero, so the same action distribution and values
    (to float rounding); two updates of training then move the door weights off zero."""
    source = sp.Trainer(ramp_room_config(), "cpu")
    source.ppo.normalise_obs(sp.to_torch(source.envs[0].reset(), "cpu"), True)  # non-trivial
    path = str(tmp_path / "source.pt")
    sp.save_checkpoint(source, path)
    trainer = sp.Trainer(ramp_room_config("observe_doors=true"), "cpu")
    sp.init_from(trainer, path)
    loaded, theirs = trainer.ppo.model.state_dict(), source.ppo.model.state_dict()
    assert sorted(set(loaded) - set(theirs)) == ["critic.door_embed.weight",
                                                 "policy.door_embed.weight"]
    assert all(torch.equal(loaded[name], value) for name, value in theirs.items())
    assert not any(loaded[name].any() for name in set(loaded) - set(theirs))

    raw = trainer.envs[0].reset()
    assert raw["doors"].any()
    outputs = []
    for learner, keys in ((source.ppo, [k for k in raw if k != "doors"]), (trainer.ppo, raw)):
        obs = learner.normalise_obs(sp.to_torch({k: raw[k] for k in keys}, "cpu"), False)
        obs = {key: value[None] for key, value in obs.items()}
        n = obs["self"].shape[1]
        with torch.no_grad():
            dist, value, _ = learner.model(obs, learner.model.initial_state(n),
                                           torch.ones(1, n, dtype=torch.bool))
        outputs.append((torch.cat([lp.flatten(2) for lp in dist.log_probs], -1), value))
    (p, v), (q, w) = outputs
    assert torch.allclose(p, q, atol=1e-5) and torch.allclose(v, w, atol=1e-5)
    sp.train(trainer, sp.RunFolder(str(tmp_path / "run")), write_gif=False, quiet=True)
    assert trainer.ppo.model.policy.door_embed.weight.abs().sum() > 0


def test_init_of_a_run_without_doors_from_one_with_them_is_a_clear_error(tmp_path):
    source = sp.Trainer(ramp_room_config("observe_doors=true"), "cpu")
    path = str(tmp_path / "source.pt")
    sp.save_checkpoint(source, path)
    with pytest.raises(ValueError, match="holds a network of another shape"):
        sp.init_from(sp.Trainer(ramp_room_config(), "cpu"), path)


@pytest.mark.parametrize("source_change, target_change", [
    ("network.embed=16", "seed=1"),                        # another width
    ("network.embed=16", "network.use_lstm=true"),         # another width, and adding the LSTM
    ("network.use_lstm=true", "network.use_lstm=false")])  # dropping the source's LSTM
def test_init_from_a_network_of_another_shape_is_a_clear_error(source_change, target_change,
                                                               tmp_path):
    """Only adding the LSTM is allowed, not another width, nor dropping an LSTM the source has."""
    source = sp.Trainer(sp.apply_overrides(tiny_config(), [source_change]), "cpu")
    path = str(tmp_path / "source.pt")
    sp.save_checkpoint(source, path)
    target = sp.Trainer(sp.apply_overrides(tiny_config(), [target_change]), "cpu")
    with pytest.raises(ValueError, match="holds a network of another shape"):
        sp.init_from(target, path)


def saved(tmp_path, name, *changes):
    """A fresh tiny trainer with `changes` (FIELD=VALUE), saved as tmp_path/name.pt."""
    trainer = sp.Trainer(sp.apply_overrides(tiny_config(), list(changes)), "cpu")
    path = str(tmp_path / f"{name}.pt")
    sp.save_checkpoint(trainer, path)
    return trainer, path


def test_per_team_rows_go_to_their_teams_network_after_the_observation_normaliser():
    trainer = sp.Trainer(sp.apply_overrides(tiny_config(), ["network.per_team=true"]), "cpu")
    env = trainer.envs[0]
    raw = sp.to_torch(env.reset(), "cpu")
    for update_stats in (False, True):  # before any statistics, and after
        flag = trainer.ppo.normalise_obs(raw, update_stats)["self"][..., TEAM_FLAG]
        assert torch.equal(flag.flatten() > 0,
                           torch.as_tensor((env.team == sp.game.HIDERS).flatten()))


def test_per_team_run_from_a_shared_source_gives_each_team_a_copy_and_trains(tmp_path):
    source, path = saved(tmp_path, "shared")
    trainer = sp.Trainer(sp.apply_overrides(tiny_config(total_steps=160),
                                            ["network.per_team=true"]), "cpu")
    sp.init_from(trainer, path)
    for team in (trainer.ppo.model.hiders, trainer.ppo.model.seekers):
        assert torch.equal(parameters(team), parameters(source.ppo.model))
    sp.train(trainer, sp.RunFolder(str(tmp_path / "run")), write_gif=False, quiet=True)
    resumed = sp.load_checkpoint(str(tmp_path / "run"))
    assert trainer.steps == 160 and isinstance(resumed.ppo.model, TeamActorCritic)
    assert not torch.equal(parameters(resumed.ppo.model.hiders),
                           parameters(resumed.ppo.model.seekers))  # each learnt on its own


def test_init_seekers_takes_the_seekers_network_from_another_checkpoint(tmp_path):
    hiders, hiders_path = saved(tmp_path, "hiders", "seed=1")
    seekers, seekers_path = saved(tmp_path, "seekers", "seed=2")
    run, trainer = sp.start_or_resume(sp.build_parser().parse_args([
        "train", "--preset", "tiny", "--run", str(tmp_path / "run"), "--init", hiders_path,
        "--init-seekers", seekers_path, "--set", "n_worlds=8", "network.per_team=true"]), "cpu")
    model = trainer.ppo.model
    assert torch.equal(parameters(model.hiders), parameters(hiders.ppo.model))
    assert torch.equal(parameters(model.seekers), parameters(seekers.ppo.model))
    assert json.load(open(os.path.join(run.path, "origin.json")))["seekers"]["checkpoint"] \
        == seekers_path


@pytest.mark.parametrize("frozen, trained", [("hiders", "seekers"), ("seekers", "hiders")])
def test_a_frozen_team_keeps_its_weights_through_training_and_a_resume(frozen, trained, tmp_path):
    config = sp.apply_overrides(tiny_config(), ["network.per_team=true", f"frozen_team={frozen}"])
    trainer = sp.Trainer(config, "cpu")
    before = {team: parameters(getattr(trainer.ppo.model, team)).clone()
              for team in (frozen, trained)}
    sp.train(trainer, sp.RunFolder(str(tmp_path / "run")), write_gif=False, quiet=True)
    resumed = sp.load_checkpoint(str(tmp_path / "run"))
    resumed.config = sp.replace(resumed.config, total_steps=960)
    sp.train(resumed, sp.RunFolder(str(tmp_path / "run")), write_gif=False, quiet=True)
    assert trainer.updates == 3 and resumed.updates == 6
    assert torch.equal(parameters(getattr(resumed.ppo.model, frozen)), before[frozen])
    assert not torch.equal(parameters(getattr(resumed.ppo.model, trained)), before[trained])


@pytest.mark.parametrize("settings, message", [
    (["network.per_team=true", "frozen_team=hider"], "frozen_team='hider': expected one of"),
    (["frozen_team=hiders"], "needs one network per team")])
def test_a_frozen_team_that_cannot_be_is_a_clear_error(settings, message):
    with pytest.raises(ValueError, match=message):
        sp.apply_overrides(tiny_config(), settings)


@pytest.mark.parametrize("arguments, message", [
    (["--init", "{shared}", "--init-seekers", "{shared}"], "one network for both teams"),
    (["--init-seekers", "{shared}", "--set", "network.per_team=true"], "give --init"),
    (["--init", "{per_team}"], "one network per team"),
    (["--resume", "{run}", "--init", "{shared}"], "start a new one")])
def test_init_seekers_and_per_team_mistakes_are_clear_errors(arguments, message, tmp_path):
    paths = {"shared": saved(tmp_path, "shared")[1], "run": str(tmp_path / "old"),
             "per_team": saved(tmp_path, "per_team", "network.per_team=true")[1]}
    arguments = [a.format(**paths) for a in arguments]
    with pytest.raises(ValueError, match=message):
        sp.start_or_resume(sp.build_parser().parse_args(
            ["train", "--preset", "tiny", "--run", str(tmp_path / "new")] + arguments), "cpu")


def test_metrics_gain_a_column_when_a_resumed_run_records_a_new_statistic(tmp_path):
    run = sp.RunFolder(str(tmp_path / "run"))
    run.append_metrics({"update": 1, "steps": 10, "hider_reward": 0.5})  # an older selfplay.py
    run.append_metrics({"update": 2, "steps": 20, "hider_reward": 0.25, "hiders_sealed_prep": 1.0})
    run.append_metrics({"update": 3, "steps": 30, "hider_reward": 0.0})  # and back again
    rows = sp.read_metrics(run.metrics_path)
    assert [r["hiders_sealed_prep"] for r in rows] == ["", "1.0", ""]
    assert [r["hider_reward"] for r in rows] == ["0.5", "0.25", "0.0"]
