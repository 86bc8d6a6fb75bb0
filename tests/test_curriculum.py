"""Specifications of the start-state curriculum: env.py's snapshot and restore give back the world
that was copied, restored episodes are marked and left out of the records, and curriculum.py keeps,
scores and draws states as its docstring says (checked against brute force and counting)."""

import os
import pickle
from dataclasses import asdict

import numpy as np
import pytest
import torch

import env as game
import physics
import selfplay as sp
import handmade
from curriculum import (CubeReach, CurriculumConfig, RampReach, StartStates, WalkReach,
                        check_curriculum, rms_distance)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def random_actions(rng, W, A):
    return rng.integers(0, [11, 11, 11, 2, 2], size=(W, A, 5))


def stop_motion(env, worlds):
    """What restore promises to do to a copied state, written out by hand."""
    for name in ("vel", "spin", "vz", "hold_offset", "hold_angle"):
        getattr(env.world, name)[worlds] = 0.0
    env.world.holding[worlds] = -1


def test_a_restored_world_steps_exactly_as_the_world_it_was_copied_from():
    rng = np.random.default_rng(0)
    source, target = game.HideAndSeek("ramp", 2, seed=1), game.HideAndSeek("ramp", 3, seed=2)
    for _ in range(30):  # bodies moving, some held or locked
        source.step(random_actions(rng, 2, source.n_agents))
    target.restore([2], source.snapshot([0]))
    stop_motion(source, [0])  # the source, stopped by hand and started again where it stands
    source.start_episodes([0])
    for _ in range(40):
        actions = random_actions(rng, 2, source.n_agents)
        obs_s, rewards_s, _, _ = source.step(actions)
        replayed = np.concatenate([actions[1:], actions[1:], actions[:1]])
        obs_t, rewards_t, _, _ = target.step(replayed)
        for key in obs_s:
            np.testing.assert_array_equal(obs_t[key][2], obs_s[key][0], err_msg=key)
        np.testing.assert_array_equal(rewards_t[2], rewards_s[0])


def test_a_restored_episode_is_marked_replayed_until_the_next_fresh_one():
    env = game.HideAndSeek("tiny", 2, seed=0)
    env.restore([1], env.snapshot([0]))
    assert env.replayed.tolist() == [False, True]
    for _ in range(env.preset.horizon):
        _, _, dones, info = env.step(np.tile(game.IDLE, (2, env.n_agents, 1)))
    assert dones.all() and info["episodes"]["replayed"].tolist() == [False, True]
    assert not env.replayed.any()  # the episodes that began at the reset are the game's own


def test_a_snapshot_of_another_game_is_refused_with_its_shapes():
    ramp, quadrant = game.HideAndSeek("ramp", 1, seed=0), game.HideAndSeek("quadrant", 1, seed=0)
    with pytest.raises(ValueError, match="snapshot field kind has shape"):
        ramp.restore([0], quadrant.snapshot([0]))


def test_a_snapshot_refused_late_in_its_fields_leaves_the_worlds_untouched():
    env = game.HideAndSeek("ramp", 2, seed=0)
    before = env.snapshot([0, 1])
    wrong = env.snapshot([1])._replace(walls=np.zeros((1, 1, 5)))  # every other field fits
    with pytest.raises(ValueError, match="snapshot field walls"):
        env.restore([0], wrong)
    after = env.snapshot([0, 1])
    assert all(np.array_equal(a, b) for a, b in zip(before, after))


def test_rms_distance_matches_a_loop_over_bodies():
    rng = np.random.default_rng(0)
    pos, kept = rng.normal(size=(5, 2)), rng.normal(size=(7, 5, 2))
    expected = [np.sqrt(np.mean([np.hypot(*(kept[k, b] - pos[b])) ** 2 for b in range(5)]))
                for k in range(7)]
    np.testing.assert_allclose(rms_distance(pos, kept), expected)


def record_positions(trainer):
    """From now on, each group's body centres as each of its steps begins: a dict filled as the
    trainer steps, (group, k-th step) -> [W_g, B, 2]."""
    seen = {}
    for g, env in enumerate(trainer.envs):
        def step(actions, env=env, g=g, step=env.step):
            seen[g, len([k for k in seen if k[0] == g])] = env.world.pos.copy()
            return step(actions)
        env.step = step
    return seen


def one_world_state(env, shift=0.0):
    state = env.snapshot([0])
    state.pos[:] += shift
    return state


def test_a_state_too_near_a_kept_one_is_not_kept():
    env = game.HideAndSeek("ramp", 1, seed=0)
    buffer = StartStates(CurriculumConfig(share=0.7, min_distance=0.5), [slice(0, 3)], 3)
    buffer.keep(one_world_state(env), 1.0)
    buffer.keep(one_world_state(env, 0.3), 1.0)  # every body 0.42 m away: too near
    assert len(buffer) == 1
    buffer.keep(one_world_state(env, 0.4), 1.0)  # 0.57 m
    assert len(buffer) == 2


def test_beyond_capacity_the_oldest_states_leave():
    env = game.HideAndSeek("ramp", 1, seed=0)
    buffer = StartStates(CurriculumConfig(share=0.7, capacity=3, min_distance=0.0),
                         [slice(0, 3)], 3)
    for k in range(5):
        buffer.keep(one_world_state(env, float(k)), float(k))
    assert len(buffer) == 3 and buffer.scores.tolist() == [2.0, 3.0, 4.0]
    np.testing.assert_allclose(buffer.states.pos[:, 0], env.world.pos[0, 0] + [[2, 2], [3, 3],
                                                                                 [4, 4]])


def test_offered_states_are_scored_by_the_mean_absolute_advantage_of_their_agents():
    W, A, T = 3, 3, 4
    env = game.HideAndSeek("ramp", W, seed=0)
    config = CurriculumConfig(share=0.7, offers=T * W, min_distance=0.0)  # every (t, w) offered
    buffer = StartStates(config, [slice(0, W * A)], A)
    buffer.plan(T, [W])
    rng = np.random.default_rng(0)
    for t in range(T):
        buffer.offer(0, t, env)
        env.step(random_actions(rng, W, A))
    advantages = rng.normal(size=(T, W * A))
    buffer.score(advantages)
    expected = [np.abs(advantages[t, w * A:(w + 1) * A]).mean() for t in range(T)
                for w in range(W)]  # offers are filed step by step, worlds in order
    np.testing.assert_allclose(buffer.scores, expected)


def test_states_are_drawn_in_proportion_to_their_scores():
    env = game.HideAndSeek("ramp", 1, seed=0)
    buffer = StartStates(CurriculumConfig(share=1.0, min_distance=0.0), [slice(0, 3)], 3)
    buffer.keep(one_world_state(env, 0.0), 3.0)
    buffer.keep(one_world_state(env, 1.0), 1.0)
    worlds = game.HideAndSeek("ramp", 2000, seed=1)
    assert buffer.restart(worlds, np.arange(2000)) == 2000  # share 1: every ended world
    first = np.isclose(worlds.world.pos[:, 0], env.world.pos[0, 0]).all(-1).mean()
    assert abs(first - 0.75) < 0.03  # 3 : 1; the binomial's standard deviation is 0.01


def test_a_share_of_the_ended_worlds_restarts_from_the_buffer():
    env = game.HideAndSeek("ramp", 1, seed=0)
    buffer = StartStates(CurriculumConfig(share=0.7), [slice(0, 3)], 3)
    assert buffer.restart(env, np.array([0])) == 0  # an empty buffer leaves the game's start
    buffer.keep(one_world_state(env), 1.0)
    worlds = game.HideAndSeek("ramp", 2000, seed=1)
    restarted = buffer.restart(worlds, np.arange(2000))
    assert restarted == worlds.replayed.sum() and abs(restarted / 2000 - 0.7) < 0.035


@pytest.mark.parametrize("rescore", [True, False])
def test_with_rescore_a_replayed_state_takes_the_score_of_its_replays_first_step(rescore):
    W, A, T = 8, 3, 5
    env = game.HideAndSeek("ramp", 1, seed=0)
    config = CurriculumConfig(share=0.5, capacity=4, min_distance=0.0, rescore=rescore)
    buffer = StartStates(config, [slice(0, W * A)], A)
    for k in range(4):  # four states, every body shifted k m: told apart by any body's place
        buffer.keep(one_world_state(env, float(k)), 10.0 + k)
    worlds = game.HideAndSeek("ramp", W, seed=1)
    assert 0 < buffer.restart(worlds, np.arange(W)) < W  # share 0.5: some of the 8
    shift = {int(w): int(round(worlds.world.pos[w, 0, 0] - env.world.pos[0, 0, 0]))
             for w in np.flatnonzero(worlds.replayed)}  # restored world -> its state's shift
    buffer.keep(one_world_state(env, 4.0), 14.0)  # evicts the state shifted 0 m: if it was
    # drawn, its replay finds no state to rescore; the others moved down one place
    buffer.offer(0, 2, worlds)  # the restored worlds' first step is step 2 of this rollout
    advantages = np.random.default_rng(0).normal(size=(T, W * A))
    buffer.score(advantages)
    expected = {k: 10.0 + k for k in range(1, 5)}  # shift -> score
    if rescore:
        for w, k in sorted(shift.items()):  # in world order: a state drawn twice keeps the
            if k > 0:  # later world's score
                expected[k] = np.abs(advantages[2, w * A:(w + 1) * A]).mean()
    assert set(shift.values()) - {0}, "no surviving state was drawn: choose another seed"
    np.testing.assert_allclose(buffer.scores, [expected[k] for k in range(1, 5)])


def test_states_rescored_in_training_take_their_replays_first_advantage():
    """Two groups of worlds, 30-step rollouts: the 40-step episodes end at step 9 of the second
    rollout, and the restored ones are first seen at its step 10."""
    config = sp.apply_overrides(sp.preset_config("tiny"), [
        "n_worlds=4", "rollout_steps=30", "overlap=true", "curriculum.share=1.0",
        "curriculum.min_distance=0", "curriculum.rescore=true"])
    trainer = sp.Trainer(config, "cpu")
    buffer, T, A = trainer.curriculum, 30, trainer.envs[0].n_agents
    coded = np.arange(T)[:, None] * 1000.0 + np.arange(4 * A)[None]  # [T, N]: 1000 t + row
    sp.collect_rollout(trainer)
    buffer.score(coded + 0.5)  # scores that no rescoring below can give
    before = buffer.scores.copy()
    seen = record_positions(trainer)  # (group, step of this rollout) -> body centres
    sp.collect_rollout(trainer)
    buffer.score(coded)
    expected = before.copy()
    for g in (0, 1):  # the order replays are filed: group 0, then 1, worlds in order; a state
        for w in (0, 1):  # drawn twice keeps the later world's score
            k = np.flatnonzero((buffer.states.pos[:len(before)] == seen[g, 10][w]).all((1, 2)))
            expected[k[0]] = 1000.0 * 10 + ((2 * g + w) * A + np.arange(A)).mean()
    np.testing.assert_allclose(buffer.scores[:len(before)], expected)


@pytest.mark.parametrize("setting", ["curriculum.share=1.5", "curriculum.capacity=0",
                                     "curriculum.min_distance=-1", "curriculum.ramp_reach=2",
                                     "curriculum.reach_window=0"])
def test_curriculum_settings_out_of_range_are_clear_errors(setting):
    with pytest.raises(ValueError, match=setting.split("=")[0]):
        check_curriculum(sp.apply_overrides(sp.preset_config("ramp"), [setting]).curriculum)


def rewards_only(rewards):
    """A Rollout with its rewards [T, N] alone: all that make_record reads of it."""
    return sp.Rollout(obs={}, actions=None, logp=None, values=None, rewards=rewards,
                      terminated=None, truncated=None, final_values=None, starts=None,
                      valid=None, last_values=None, chunk_states=None)


def test_replayed_episodes_are_left_out_of_the_recorded_rewards_and_statistics():
    trainer = sp.Trainer(sp.apply_overrides(sp.preset_config("tiny"), ["n_worlds=2"]), "cpu")
    T, N = 4, 4  # 2 worlds x 2 agents (a hider and a seeker each)
    team = trainer.envs[0].team.reshape(-1)
    rewards = torch.where(torch.from_numpy(team == physics.HIDERS), 1.0, -1.0).repeat(T, 1)
    replayed = torch.zeros(T, N, dtype=torch.bool)
    replayed[:, 2:] = True  # world 1's rows played a replayed episode ...
    rewards[:, 2:] *= -5  # ... with other rewards, which must not count
    rollout = rewards_only(rewards)
    ended = {"world": np.array([0, 1]), "replayed": np.array([False, True]),
             **{key: np.array([1.0, 9.0]) for key in sp.STAT_KEYS + ("max_seeker_height",)}}
    record = sp.make_record(trainer, rollout, ended, {}, 0.0, replayed)
    assert record["hider_reward"] == 1.0 and record["seeker_reward"] == -1.0
    assert all(record[key] == 1.0 for key in sp.STAT_KEYS)
    assert record["episodes_ended"] == 2 and record["episodes_replayed"] == 1


def test_each_offer_holds_the_world_it_names_and_its_own_agents_advantage():
    """Two overlapping groups of worlds: every (step, world) offered, rows coded by advantage."""
    config = sp.apply_overrides(sp.preset_config("tiny"), [
        "n_worlds=4", "rollout_steps=10", "overlap=true", "curriculum.share=0.7",
        "curriculum.offers=40", "curriculum.min_distance=0"])
    trainer = sp.Trainer(config, "cpu")
    seen = record_positions(trainer)  # (group, step) -> body centres [W_g, B, 2]
    sp.collect_rollout(trainer)
    T, A = 10, trainer.envs[0].n_agents
    coded = np.arange(T)[:, None] * 1000.0 + np.arange(4 * A)[None]  # [T, N]: 1000 t + row
    trainer.curriculum.score(coded)
    expected_pos, expected_scores = [], []
    for t in range(T):  # offers are filed step by step, group 0 then group 1, worlds in order
        for g, first in ((0, 0), (1, 2)):
            for w in range(2):
                expected_pos.append(seen[g, t][w])
                rows = (first + w) * A + np.arange(A)  # the world's agents among all N rows
                expected_scores.append(1000.0 * t + rows.mean())
    np.testing.assert_array_equal(trainer.curriculum.states.pos, np.array(expected_pos))
    np.testing.assert_allclose(trainer.curriculum.scores, expected_scores)


# -- forts already built (curriculum.door_forts, handmade.close_doors) ---------------------------

def uncovered_stretches(walls, wall_height, axis, line, length, step=0.005):
    """Brute force: the stretches of the line x = line (axis 0) or y = line (axis 1) that no inner
    slab covers, found by testing points every `step` m against every slab's rectangle."""
    along = np.arange(step / 2, length, step)
    covered = np.zeros(len(along), bool)
    for (x, y, half_length, half_thickness, heading), height in zip(walls[4:], wall_height[4:]):
        if height <= 0:
            continue
        fixed = np.full_like(along, line)
        px, py = (fixed, along) if axis == 0 else (along, fixed)
        c, s = np.cos(heading), np.sin(heading)
        u, v = c * (px - x) + s * (py - y), -s * (px - x) + c * (py - y)  # the slab's frame
        covered |= (np.abs(u) <= half_length) & (np.abs(v) <= half_thickness)
    gap = ~covered
    starts = np.flatnonzero(gap & ~np.r_[False, gap[:-1]])  # first open point of each stretch
    ends = np.flatnonzero(gap & ~np.r_[gap[1:], False])  # and its last
    return [(along[a] - step / 2, along[b] + step / 2) for a, b in zip(starts, ends)]


def test_the_doors_found_are_the_open_stretches_of_the_room_walls():
    env = game.HideAndSeek("quadrant", 64, seed=3)  # one or two doors
    counts = set()
    for w in range(64):
        doors = game.find_doors(env.world.walls[w], env.world.wall_height[w])
        expected = []
        for axis in (0, 1):  # the room's walls: x = 3 (along y from 0) and y = 3 (along x to 6)
            for a, b in uncovered_stretches(env.world.walls[w], env.world.wall_height[w], axis,
                                            3.0, 6.0):
                if 0.05 < a and b < 5.95 and (axis == 0 and b < 3.0 or axis == 1 and a > 3.0):
                    expected.append((3.0, (a + b) / 2, 0) if axis == 0 else ((a + b) / 2, 3.0, 1))
        assert len(doors) == len(expected), (w, doors, expected)
        doors, expected = sorted(doors, key=lambda d: d[2]), sorted(expected, key=lambda d: d[2])
        for door, want in zip(doors, expected):
            assert door[2] == want[2]
            np.testing.assert_allclose(door[:2], want[:2], atol=0.006)
        counts.add(len(doors))
    assert counts == {1, 2}


def test_a_fort_already_built_seals_the_hiders_in():
    env = game.HideAndSeek("ramp-room", 48, seed=0)
    arranged = handmade.close_doors(env, np.arange(48))
    assert len(arranged) >= 46  # a layout with a body in the cube's way is drawn again 8 times
    assert env.sealed_off(arranged).all()  # the flood fill of section 4b
    cube = env.n_agents  # the box slot
    assert (env.world.locked_by[arranged, cube] == physics.HIDERS).all()
    x, y = env.world.pos[arranged, cube].T  # inside the room, which is x > 3, y < 3
    assert (x - 0.25 > 3.05 - 1e-9).all() and (y + 0.25 < 2.95 + 1e-9).all()
    assert (env.replayed[arranged] & env.door_fort[arranged]).all()


def test_a_fort_already_built_touches_no_body_but_the_wall():
    """At rest, with nothing pushed, no body moves in one step: the cube overlaps nothing."""
    env = game.HideAndSeek("ramp-room-wall", 48, seed=1)
    arranged = handmade.close_doors(env, np.arange(48))
    before = env.world.pos[arranged].copy()
    idle = np.tile(np.array([5, 5, 5, 0, 1]), (48, env.n_agents, 1))  # no push, lock held
    env.step(idle)
    np.testing.assert_allclose(env.world.pos[arranged], before, atol=1e-4)


def test_forts_already_built_are_refused_where_hiders_start_anywhere():
    with pytest.raises(ValueError, match="hider_spawn 'anywhere'.*quadrant"):
        handmade.close_doors(game.HideAndSeek("quadrant", 1, seed=0), [0])
    with pytest.raises(ValueError, match="hider_spawn"):
        config = sp.apply_overrides(sp.preset_config("ramp"),
                                    ["n_worlds=2", "curriculum.door_forts=0.2"])
        sp.Trainer(config, "cpu")


def test_a_door_forts_part_of_the_ended_worlds_starts_from_a_fort():
    buffer = StartStates(CurriculumConfig(share=0.5, door_forts=0.3), [slice(0, 3 * 2000)], 3)
    buffer.keep(one_world_state(game.HideAndSeek("ramp-room", 1, seed=0)), 1.0)
    worlds = game.HideAndSeek("ramp-room", 2000, seed=1)
    restarted = buffer.restart(worlds, np.arange(2000))
    forts = worlds.door_fort.sum()
    assert restarted == worlds.replayed.sum()
    assert abs(forts / 2000 - 0.3) < 0.035 and abs((restarted - forts) / 2000 - 0.5) < 0.035
    assert StartStates(CurriculumConfig(door_forts=1.0), [slice(0, 3)], 3).restart(
        worlds, np.array([0])) == 1  # forts need no buffer


def test_shares_that_add_up_to_more_than_every_episode_are_refused():
    message = "curriculum.ramp_hiders must be <= 1.*0.8 \\+ 0.3 \\+ 0.0 \\+ 0.0 \\+ 0.0"
    with pytest.raises(ValueError, match=message):
        check_curriculum(CurriculumConfig(share=0.8, door_forts=0.3))


def test_how_the_forts_built_for_them_ended_is_recorded_apart():
    config = sp.apply_overrides(sp.preset_config("ramp-room"), ["n_worlds=2",
                                                                "curriculum.door_forts=0.5"])
    trainer = sp.Trainer(config, "cpu")
    rollout = rewards_only(torch.zeros(1, 6))
    ended = {"world": np.array([0, 1, 0]), "replayed": np.array([False, True, True]),
             "door_fort": np.array([False, True, True]), "hider_return": np.array([5.0, 1.0, 3.0]),
             "seeker_in_room": np.array([1.0, 1.0, 0.0]), "ramp_gap": np.array([1.5, 1.5, 0.0]),
             **{key: np.array([1.0, 0.0, 1.0]) for key in sp.STAT_KEYS + ("max_seeker_height",)}}
    record = sp.make_record(trainer, rollout, ended, {}, 0.0, torch.zeros(1, 6, dtype=torch.bool))
    assert record["episodes_door_fort"] == 2 and record["door_fort_hider_return"] == 2.0
    assert record["door_fort_hiders_sealed"] == 0.5 and record["door_fort_max_seeker_height"] == 0.5
    # the first fort: in the room, never up (0 m); the second: up 1 m, never in the room
    assert record["door_fort_seekers_climbed_in"] == 0.0
    assert record["door_fort_seekers_climbed_in_far"] == 0.0  # the first fort's ramp alone
    assert record["hiders_sealed"] == 1.0  # the game's own start alone


def test_the_climb_over_the_hiders_own_forts_is_recorded_from_the_games_own_starts_alone():
    """Four ended episodes, each with a seeker 1 m up: the first two of the game's own starts
    (in the room in the first alone), a fort given and one replayed from the start-state
    buffer (both in the room): seekers_climbed_in is 1 of the 2 own starts."""
    trainer = sp.Trainer(sp.apply_overrides(sp.preset_config("ramp-room"), ["n_worlds=2"]),
                         "cpu")
    rollout = rewards_only(torch.zeros(1, 6))
    ended = {"world": np.array([0, 1, 0, 1]), "replayed": np.array([False, False, True, True]),
             "door_fort": np.array([False, False, True, False]), "hider_return": np.ones(4),
             **{key: np.ones(4) for key in sp.STAT_KEYS + ("max_seeker_height",)},
             "seeker_in_room": np.array([1.0, 0.0, 1.0, 1.0])}
    record = sp.make_record(trainer, rollout, ended, {}, 0.0, torch.zeros(1, 6, dtype=torch.bool))
    assert record["seekers_climbed_in"] == 0.5


# RampReach: the ramp's gaps move out once the seeker climbs in from the farthest one.

def reach_episodes(reach, gaps_m, hits, begun=True):
    """The statistics `reach` (a Reach or its class) reads, for crafted episodes: gaps (m)
    under its gap key, begun (or not) as its flag says, and hits (1 or 0: a climb in, a fort
    closed, a ramp locked)."""
    n = len(gaps_m)
    return ({reach.gap_key: np.array(gaps_m, float), reach.flag: np.full(n, begun)},
            np.array(hits, float))


def nudge_worlds(groups=2):
    return [game.HideAndSeek("ramp-room-nudge", 2, seed=g) for g in range(groups)]


def test_climbs_from_the_farthest_gap_move_every_groups_gaps_one_cell_out():
    reach, envs = RampReach(CurriculumConfig(door_forts=1.0, ramp_reach=0.5, reach_window=4)), \
        nudge_worlds()
    assert reach.update(envs, *reach_episodes(RampReach, [0.6, 0.6], [1, 0])) is None  # 2 of 4 seen
    assert reach.update(envs, *reach_episodes(RampReach, [0.6, 0.6], [1, 0])) == (2, 4)  # 2 of 4
    assert all(env.rules.ramp_gap_min == 2 and env.rules.ramp_gap_max == 4 for env in envs)
    assert len(reach.hits) == 0  # the new farthest gap, 0.8 m, is judged afresh


def test_only_door_fort_episodes_at_the_farthest_gap_count():
    reach, envs = RampReach(CurriculumConfig(door_forts=1.0, ramp_reach=0.5, reach_window=4)), \
        nudge_worlds(1)
    reach.update(envs, *reach_episodes(RampReach, [0.2, 0.4, 0.4, np.nan], [1, 1, 1, 1]))  # nearer
    reach.update(envs, *reach_episodes(RampReach, [0.6] * 4, [1] * 4, begun=False))  # own starts
    assert len(reach.hits) == 0
    climbs = [1, 1, 0, 0, 0]  # the first 4 would pass (2 of 4), the newest 4 do not (1 of 4)
    assert reach.update(envs, *reach_episodes(RampReach, [0.6] * 5, climbs)) is None
    np.testing.assert_array_equal(reach.hits, climbs[1:])  # the window keeps the newest
    assert reach.share() == 0.25
    assert envs[0].rules.ramp_gap_max == 3


def test_the_gaps_stop_at_the_farthest_that_fits_outside_the_room():
    reach, envs = RampReach(CurriculumConfig(door_forts=1.0, ramp_reach=0.5, reach_window=1)), \
        nudge_worlds(1)
    most = game.most_ramp_gap(envs[0].preset)
    envs[0].set_ramp_gaps(most - 2, most)
    assert reach.update(envs, *reach_episodes(RampReach, [most * game.CELL], [1])) is None
    assert envs[0].rules.ramp_gap_max == most == 12


def test_a_resumed_run_keeps_its_moved_gaps_and_its_count(tmp_path):
    config = sp.apply_overrides(sp.preset_config("ramp-room-nudge"), [
        "n_worlds=2", "curriculum.door_forts=1.0", "curriculum.ramp_reach=0.5"])
    trainer = sp.Trainer(config, "cpu")
    trainer.envs[0].set_ramp_gaps(4, 6)
    trainer.reach.hits = np.array([1.0, 0.0, 1.0])
    sp.save_checkpoint(trainer, str(tmp_path / "c.pt"))
    resumed = sp.load_checkpoint(str(tmp_path / "c.pt"))
    assert resumed.envs[0].rules.ramp_gap_min == 4 and resumed.envs[0].preset.ramp_gap == (4, 6)
    np.testing.assert_array_equal(resumed.reach.hits, [1.0, 0.0, 1.0])


@pytest.mark.parametrize("game_name, settings, message", [
    ("ramp-room-nudge", ["curriculum.share=0.5"], "needs curriculum.door_forts > 0"),
    ("ramp-room", ["curriculum.door_forts=1.0"], "ramp_spawn 'outside', expected 'wall'")])
def test_ramp_reach_without_forts_or_a_wall_ramp_is_a_clear_error(game_name, settings, message):
    config = sp.apply_overrides(sp.preset_config(game_name),
                                ["n_worlds=2", "curriculum.ramp_reach=0.5"] + settings)
    with pytest.raises(ValueError, match=message):
        sp.Trainer(config, "cpu")


def test_training_hands_each_updates_ended_episodes_and_climbs_to_ramp_reach(tmp_path):
    config = sp.apply_overrides(sp.preset_config("ramp-room-nudge"), [
        "n_worlds=2", "rollout_steps=80", "total_steps=320", "curriculum.door_forts=1.0",
        "curriculum.ramp_reach=0.5"])
    trainer, seen = sp.Trainer(config, "cpu"), []
    trainer.reach.update = lambda envs, ended, climbed: seen.append(
        (envs is trainer.envs, ended["ramp_gap"].copy(),
         np.array_equal(climbed, sp.climbed_in(ended), equal_nan=True)))
    sp.train(trainer, sp.RunFolder(str(tmp_path / "run")), write_gif=False, quiet=True)
    assert len(seen) == 2  # two updates, in each of which both worlds' episodes end
    assert all(same_envs and same_climbs for same_envs, _, same_climbs in seen)
    assert all(set(np.rint(gaps / game.CELL)) <= {1, 2, 3} for _, gaps, _ in seen)
    rows = sp.read_metrics(str(tmp_path / "run" / "metrics.csv"))
    assert [float(r["ramp_gap_farthest"]) for r in rows] == [0.6, 0.6]
    assert all(np.isnan(float(r["ramp_reach_share"])) for r in rows)  # the stub counted none


def test_a_ramp_reach_saved_before_the_rename_loads_its_climbs():
    reach = RampReach(CurriculumConfig(door_forts=1.0, ramp_reach=0.5))
    reach.load_state_dict({"climbs": np.array([1.0, 0.0])})  # runs/ramp-reach-0's checkpoint
    assert reach.share() == 0.5


# -- forts left to finish (curriculum.door_cubes, handmade.close_doors with set_back, CubeReach) --

def doors_of(env, w):
    return game.find_doors(env.world.walls[w], env.world.wall_height[w])


@pytest.mark.parametrize("gap", [0, 3, 11])
def test_a_fort_left_to_finish_has_its_cube_gap_cells_straight_back_and_unlocked(gap):
    env = game.HideAndSeek("ramp-room", 48, seed=2)
    handmade.set_cube_gaps(env, gap, gap)
    arranged = handmade.close_doors(env, np.arange(48), set_back=True)
    assert len(arranged) >= 40
    cube = env.n_agents  # the box slot
    for w in arranged:
        (x_door, y_door, axis), = doors_of(env, w)  # ramp-room: one door in a room wall
        x, y = env.world.pos[w, cube]
        # flush: the wall's half thickness, the cube's half width and 1 cm of play from the line
        # the wall stands on (x = 3 or y = 3), then `gap` cells of 0.2 m farther into the room
        depth = 0.05 + 0.25 + 0.01 + gap * 0.2
        if axis == 0:  # the wall x = 3, the room at x > 3
            assert x - 3.0 == pytest.approx(depth) and y == pytest.approx(y_door)
        else:  # the wall y = 3, the room at y < 3
            assert 3.0 - y == pytest.approx(depth) and x == pytest.approx(x_door)
        assert 3.05 <= x - 0.25 and x + 0.25 <= 5.95 and 0.05 <= y - 0.25 and y + 0.25 <= 2.95
    assert (env.world.locked_by[arranged, cube] == physics.NO_TEAM).all()
    assert (env.door_cube[arranged] & env.replayed[arranged] & ~env.door_fort[arranged]).all()
    np.testing.assert_allclose(env.cube_gap[arranged], gap * 0.2)


def test_a_forts_cube_starts_its_gap_from_closing_the_door():
    """env.py's `cube_home`: 0 in a fort built, the gap drawn in one left to finish."""
    env = game.HideAndSeek("ramp-room", 48, seed=4)
    built = handmade.close_doors(env, np.arange(48))
    np.testing.assert_allclose(env.cube_home[built], 0.0, atol=1e-9)
    handmade.set_cube_gaps(env, 2, 5)
    left = handmade.close_doors(env, np.arange(48), set_back=True)
    assert len(built) >= 40 and len(left) >= 40
    np.testing.assert_allclose(env.cube_home[left], env.cube_gap[left])


def test_a_cube_flush_with_the_door_seals_the_hiders_in_and_one_set_back_does_not():
    """0.2 m back still leaves no way past (an agent is 0.3 m wide); 0.6 m back lets one in."""
    env = game.HideAndSeek("ramp-room", 48, seed=0)
    for gap, sealed in ((0, True), (1, True), (3, False)):
        handmade.set_cube_gaps(env, gap, gap)
        arranged = handmade.close_doors(env, np.arange(48), set_back=True)
        assert (env.sealed_off(arranged) == sealed).all(), gap


def test_the_gaps_drawn_are_every_gap_from_low_to_high():
    env = game.HideAndSeek("ramp-room", 400, seed=1)
    handmade.set_cube_gaps(env, 2, 4)
    arranged = handmade.close_doors(env, np.arange(400), set_back=True)
    cells, counts = np.unique(np.rint(env.cube_gap[arranged] / 0.2), return_counts=True)
    assert list(cells) == [2, 3, 4] and counts.min() > 100  # uniform: about 133 each


def home_spot(env, w):
    """Where the cube closes world w's door from inside, worked out by hand as above."""
    (x_door, y_door, axis), = doors_of(env, w)
    inset = 0.05 + 0.25 + 0.01
    return np.array([3.0 + inset, y_door] if axis == 0 else [x_door, 3.0 - inset]), axis


@pytest.mark.parametrize("gap", [3, 8, 11])
def test_a_fort_left_to_finish_on_its_arc_stands_its_gap_from_home_on_both_sides(gap):
    """`arc`: the cube `gap` cells from home in the room, clear of its walls, unlocked, and
    not only straight back: to both sides of it along the door's wall."""
    env = game.HideAndSeek("ramp-room", 96, seed=5)
    handmade.set_cube_gaps(env, gap, gap)
    arranged = handmade.close_doors(env, np.arange(96), set_back=True, arc=True)
    assert len(arranged) >= 80
    cube, sideways = env.n_agents, []
    for w in arranged:
        home, axis = home_spot(env, w)
        offset = env.world.pos[w, cube] - home
        assert np.hypot(*offset) == pytest.approx(gap * 0.2)
        x, y = env.world.pos[w, cube]
        assert 3.05 <= x - 0.25 and x + 0.25 <= 5.95 and 0.05 <= y - 0.25 and y + 0.25 <= 2.95
        assert (offset[0] if axis == 0 else -offset[1]) >= -1e-9  # into the room, never out
        sideways.append(offset[1] if axis == 0 else offset[0])
    assert min(sideways) < -0.1 and max(sideways) > 0.1
    assert (env.world.locked_by[arranged, cube] == physics.NO_TEAM).all()
    np.testing.assert_allclose(env.cube_home[arranged], gap * 0.2)


def test_a_cube_with_no_place_on_its_arc_stands_straight_back():
    door = (3.0, 1.5, 0)  # in the wall x = 3, the room at x > 3
    spot = handmade.arc_position(door, 6.0, 0.6, np.random.default_rng(0), tries=0)
    np.testing.assert_allclose(spot, (3.0 + 0.31 + 0.6, 1.5))


def test_a_curriculum_with_cube_arc_sets_its_cubes_off_the_straight_line():
    buffer = StartStates(CurriculumConfig(door_cubes=1.0, cube_arc=True), [slice(0, 3 * 64)], 3)
    worlds = game.HideAndSeek("ramp-room", 64, seed=2)
    handmade.set_cube_gaps(worlds, 4, 4)
    buffer.restart(worlds, np.arange(64))
    begun = np.flatnonzero(worlds.door_cube)
    sideways = []
    for w in begun:
        home, axis = home_spot(worlds, w)
        offset = worlds.world.pos[w, worlds.n_agents] - home
        sideways.append(abs(offset[1] if axis == 0 else offset[0]))
    assert len(begun) >= 56 and np.mean(np.array(sideways) > 0.05) > 0.5


def test_an_arc_with_the_hiders_behind_the_cube_is_refused():
    env = game.HideAndSeek("ramp-room", 2, seed=0)
    with pytest.raises(ValueError, match="arc places the cube.*hiders_behind=True"):
        handmade.close_doors(env, np.arange(2), set_back=True, hiders_behind=True, arc=True)


@pytest.mark.parametrize("low, high", [(-1, 2), (3, 2), (11, 12), (0.5, 2)])
def test_cube_gaps_that_do_not_fit_the_room_are_refused(low, high):
    with pytest.raises(ValueError, match=f"0 <= low <= high <= 11.*got \\({low}, {high}\\)"):
        handmade.set_cube_gaps(game.HideAndSeek("ramp-room", 1, seed=0), low, high)


def test_a_door_cubes_part_of_the_ended_worlds_starts_from_a_fort_left_to_finish():
    buffer = StartStates(CurriculumConfig(door_forts=0.3, door_cubes=0.4), [slice(0, 3 * 2000)], 3)
    worlds = game.HideAndSeek("ramp-room", 2000, seed=1)
    handmade.set_cube_gaps(worlds, 0, 2)
    restarted = buffer.restart(worlds, np.arange(2000))
    forts, cubes = worlds.door_fort.sum(), worlds.door_cube.sum()
    assert restarted == worlds.replayed.sum() == forts + cubes
    assert abs(forts / 2000 - 0.3) < 0.035 and abs(cubes / 2000 - 0.4) < 0.035
    assert not (worlds.door_fort & worlds.door_cube).any()


@pytest.mark.parametrize("settings, message", [
    (["curriculum.cube_reach=0.5"], "needs curriculum.door_cubes > 0"),
    (["curriculum.door_cubes=0.5", "curriculum.cube_gap=12"], "cube_gap=12 cells does not fit"),
    (["curriculum.door_cubes=0.5", "curriculum.cube_gap=-1"], "cube_gap is a number of cells"),
    (["curriculum.door_cubes=0.5", "curriculum.door_forts=0.6"], "must be <= 1"),
    (["curriculum.cube_arc=true"], "cube_arc places the cube.*door_cubes=0.0"),
    (["curriculum.door_cubes=0.5", "curriculum.cube_arc=true", "curriculum.hiders_behind=true"],
     "cube_arc places the cube.*hiders_behind=True")])
def test_forts_left_to_finish_set_badly_are_a_clear_error(settings, message):
    with pytest.raises(ValueError, match=message):  # from --set's check or the Trainer's
        sp.Trainer(sp.apply_overrides(sp.preset_config("ramp-room"), ["n_worlds=2"] + settings),
                   "cpu")


def test_forts_left_to_finish_are_refused_where_hiders_start_anywhere():
    config = sp.apply_overrides(sp.preset_config("ramp"), ["n_worlds=2",
                                                           "curriculum.door_cubes=0.3"])
    with pytest.raises(ValueError, match="hider_spawn 'anywhere'"):
        sp.Trainer(config, "cpu")


def test_a_run_with_forts_left_to_finish_starts_from_cube_gap_and_the_two_below():
    config = sp.apply_overrides(sp.preset_config("ramp-room"), [
        "n_worlds=2", "curriculum.door_cubes=0.5", "curriculum.cube_gap=4"])
    assert sp.Trainer(config, "cpu").envs[0].cube_gaps == (2, 4)


# Two of the Reach bodies, each with its game and the settings that switch it on: the cube of
# the forts left to finish, the hider that walks out to a ramp at the door.
REACHES = [(CubeReach, "ramp-room", dict(door_cubes=0.5, cube_reach=0.5)),
           (WalkReach, "ramp-room-lock", dict(door_ramps=0.5, door_ramp_beside=True,
                                              walk_reach=0.5))]


def reach_worlds(reach, game_name, groups=2):
    """`groups` envs of `game_name` whose gaps `reach` moves start at (0, 2)."""
    envs = [game.HideAndSeek(game_name, 2, seed=g) for g in range(groups)]
    for env in envs:
        reach.set_gaps(env, 0, 2)
    return envs


@pytest.mark.parametrize("body, game_name, settings", REACHES)
def test_hits_from_the_farthest_gap_move_every_groups_gaps_one_cell(body, game_name, settings):
    reach = body(CurriculumConfig(**settings, reach_window=4))
    envs = reach_worlds(reach, game_name)
    assert reach.update(envs, *reach_episodes(reach, [0.4, 0.4], [1, 0])) is None  # 2 of 4
    assert reach.update(envs, *reach_episodes(reach, [0.4, 0.0, 0.4], [1, 1, 0])) == (1, 3)
    assert all(reach.gaps(env) == (1, 3) for env in envs)
    assert len(reach.hits) == 0  # the new farthest gap, 0.6 m, is judged afresh


@pytest.mark.parametrize("body, game_name, settings", REACHES)
def test_only_episodes_so_begun_at_the_farthest_gap_count(body, game_name, settings):
    reach = body(CurriculumConfig(**settings, reach_window=2))
    envs = reach_worlds(reach, game_name, groups=1)
    reach.update(envs, *reach_episodes(reach, [0.0, 0.2, np.nan], [1, 1, 1]))  # nearer, own
    reach.update(envs, *reach_episodes(reach, [0.4, 0.4], [1, 1], begun=False))  # not so begun
    assert len(reach.hits) == 0 and reach.gaps(envs[0]) == (0, 2)


def test_the_cube_gaps_stop_at_the_rooms_far_wall():
    reach = CubeReach(CurriculumConfig(door_cubes=0.5, cube_reach=0.5, reach_window=1))
    envs = reach_worlds(reach, "ramp-room", groups=1)
    handmade.set_cube_gaps(envs[0], 9, 11)
    assert reach.update(envs, *reach_episodes(reach, [11 * 0.2], [1])) is None
    assert envs[0].cube_gaps == (9, 11) and handmade.most_cube_gap(envs[0].preset) == 11


@pytest.mark.parametrize("body, game_name, settings", REACHES)
def test_a_resumed_run_keeps_its_gaps_and_its_count(body, game_name, settings, tmp_path):
    config = sp.apply_overrides(sp.preset_config(game_name), ["n_worlds=2"] + [
        f"curriculum.{key}={str(value).lower()}" for key, value in settings.items()])
    trainer = sp.Trainer(config, "cpu")
    reach = trainer.cube_reach if body is CubeReach else trainer.walk_reach
    reach.set_gaps(trainer.envs[0], 3, 5)
    reach.hits = np.array([1.0, 0.0])
    sp.save_checkpoint(trainer, str(tmp_path / "c.pt"))
    resumed = sp.load_checkpoint(str(tmp_path / "c.pt"))
    again = resumed.cube_reach if body is CubeReach else resumed.walk_reach
    assert again.gaps(resumed.envs[0]) == (3, 5)
    np.testing.assert_array_equal(again.hits, [1.0, 0.0])


def test_training_records_forts_left_to_finish_apart_and_hands_cube_reach_the_seals(tmp_path):
    config = sp.apply_overrides(sp.preset_config("ramp-room"), [
        "n_worlds=4", "rollout_steps=80", "total_steps=640", "curriculum.door_cubes=1.0",
        "curriculum.cube_reach=0.5"])
    trainer, seen = sp.Trainer(config, "cpu"), []
    trainer.cube_reach.update = lambda envs, ended, sealed: seen.append(
        (ended["door_cube"].copy(), ended["cube_gap"].copy(),
         np.array_equal(sealed, ended["hiders_sealed_prep"])))
    sp.train(trainer, sp.RunFolder(str(tmp_path / "run")), write_gif=False, quiet=True)
    assert len(seen) == 2 and all(same for _, _, same in seen)
    first, second = seen[0][0], seen[1][0]
    assert not first.any() and second.all()  # the first episodes are the game's own
    assert set(np.rint(seen[1][1] / game.CELL)) <= {0, 1, 2}
    rows = sp.read_metrics(str(tmp_path / "run" / "metrics.csv"))
    assert [int(r["episodes_door_cube"]) for r in rows] == [0, 4]
    assert [float(r["cube_gap_farthest"]) for r in rows] == [0.4, 0.4]
    assert np.isnan(float(rows[0]["door_cube_hiders_sealed_prep"]))
    assert 0.0 <= float(rows[1]["door_cube_hiders_sealed_prep"]) <= 1.0
    assert np.isnan(float(rows[1]["hiders_sealed_prep"]))  # no own start ended: nothing to say


def test_eval_refuses_forts_built_and_left_to_finish_at_once():
    trainer = sp.Trainer(sp.apply_overrides(sp.preset_config("ramp-room"), ["n_worlds=2"]), "cpu")
    with pytest.raises(ValueError, match="not both"):
        sp.evaluate(trainer, 2, door_forts=True, cube_gaps=(0, 2))


def test_eval_from_forts_left_to_finish_counts_them():
    trainer = sp.Trainer(sp.apply_overrides(sp.preset_config("ramp-room"), ["n_worlds=2"]), "cpu")
    result = sp.evaluate(trainer, 8, cube_gaps=(0, 0))
    assert result["door_cube_episodes"] >= 7
    assert result["hiders_sealed_prep"] >= 0.75  # flush against the door, even untrained


def test_hiders_behind_stand_side_by_side_just_behind_the_cube_facing_the_door():
    env = game.HideAndSeek("ramp-room", 48, seed=4)
    handmade.set_cube_gaps(env, 2, 2)
    arranged = handmade.close_doors(env, np.arange(48), set_back=True, hiders_behind=True)
    assert len(arranged) >= 40
    cube, hiders = env.n_agents, [0, 1]  # ramp-room: hider slots first, then the seeker
    for w in arranged:
        (_, _, axis), = doors_of(env, w)
        cx, cy = env.world.pos[w, cube]
        for h in hiders:
            x, y = env.world.pos[w, h]
            # by hand: 0.25 m half cube + 0.15 m radius + 5 cm behind it, deeper in the room,
            # 0.16 m either side of its centre line, and facing the door (-x or +y)
            if axis == 0:
                assert x - cx == pytest.approx(0.45) and abs(y - cy) == pytest.approx(0.16)
                assert np.cos(env.world.angle[w, h]) == pytest.approx(-1.0)
            else:
                assert cy - y == pytest.approx(0.45) and abs(x - cx) == pytest.approx(0.16)
                assert np.sin(env.world.angle[w, h]) == pytest.approx(1.0)
        a, b = env.world.pos[w, hiders]
        assert np.linalg.norm(a - b) == pytest.approx(0.32)  # 2 cm between two 0.3 m agents


def test_hiders_behind_touch_no_body_at_rest():
    """At rest, with nothing pushed, nothing moves in one step: no overlap to push apart."""
    env = game.HideAndSeek("ramp-room", 48, seed=5)
    handmade.set_cube_gaps(env, 0, 4)
    arranged = handmade.close_doors(env, np.arange(48), set_back=True, hiders_behind=True)
    before = env.world.pos[arranged].copy()
    env.step(np.tile(np.array([5, 5, 5, 0, 0]), (48, env.n_agents, 1)))  # no push, no lock
    np.testing.assert_allclose(env.world.pos[arranged], before, atol=1e-4)


def test_a_step_forward_from_behind_the_cube_pushes_it_home():
    """Gap 2 (0.4 m back) leaves a way in; hiders that walk toward the door for the whole
    preparation phase push the cube into the doorway and are sealed in."""
    env = game.HideAndSeek("ramp-room", 32, seed=6)
    handmade.set_cube_gaps(env, 2, 2)
    arranged = handmade.close_doors(env, np.arange(32), set_back=True, hiders_behind=True)
    assert not env.sealed_off(arranged).any()
    for _ in range(10):
        actions = np.tile(np.array([5, 5, 5, 0, 0]), (32, env.n_agents, 1))
        for w in arranged:
            (_, _, axis), = doors_of(env, w)
            actions[w, :2, :2] = (0, 5) if axis == 0 else (5, 10)  # bins: -x, or +y, full force
        env.step(actions)
    assert env.sealed_off(arranged).mean() >= 0.9


def test_hiders_behind_need_forts_left_to_finish_in_eval():
    trainer = sp.Trainer(sp.apply_overrides(sp.preset_config("ramp-room"), ["n_worlds=2"]), "cpu")
    with pytest.raises(ValueError, match="needs cube_gaps"):
        sp.evaluate(trainer, 2, hiders_behind=True)


def test_a_cube_spread_of_0_draws_the_farthest_gap_alone():
    config = sp.apply_overrides(sp.preset_config("ramp-room"), [
        "n_worlds=2", "curriculum.door_cubes=0.5", "curriculum.cube_gap=4",
        "curriculum.cube_spread=0"])
    assert sp.Trainer(config, "cpu").envs[0].cube_gaps == (4, 4)
    with pytest.raises(ValueError, match="cube_spread is a number of cells >= 0, got -1"):
        sp.apply_overrides(config, ["curriculum.cube_spread=-1"])


# -- the forts' ramp at the wall in a game whose ramps stand anywhere (curriculum.fort_ramps) ---

@pytest.mark.parametrize("gap", [0, 5, 12])
def test_a_forts_wall_ramp_goes_up_toward_the_room_its_gap_short_of_the_wall(gap):
    """Measured from the ramp's pose: its high edge `gap` cells from the outer face of wall 4
    (x = 2.95, the ramp left of the room, uphill along +x) or of wall 5 (y = 3.05, above the
    room, uphill along -y), and beside the room along that wall, as ramp_spawn 'wall' sets it."""
    env = game.HideAndSeek("ramp-room", 64, seed=gap)
    handmade.set_fort_ramp_gaps(env, gap, gap)
    arranged = handmade.close_doors(env, np.arange(64), wall_ramp=True)
    assert len(arranged) >= 60
    ramp = env.n_agents + env.n_boxes
    sides = set()
    for w in arranged:
        (x, y), heading = env.world.pos[w, ramp], env.world.angle[w, ramp]
        if np.isclose(heading, 0.0):  # up along +x: its high edge at x + 0.25
            assert 2.95 - (x + 0.25) == pytest.approx(gap * 0.2) and 0.25 <= y <= 2.75
        else:
            assert np.isclose(heading, -np.pi / 2)  # up along -y: its high edge at y - 0.25
            assert (y - 0.25) - 3.05 == pytest.approx(gap * 0.2) and 3.25 <= x <= 5.75
        sides.add(round(float(heading), 3))
    assert len(sides) == 2  # both walls, as the wall games
    np.testing.assert_allclose(env.ramp_gap[arranged], gap * 0.2, atol=1e-9)  # eval splits by it
    assert env.door_fort[arranged].all() and env.sealed_off(arranged).all()


def test_a_forts_wall_ramp_touches_no_body():
    """At rest, with nothing pushed, no body moves in one step: the ramp overlaps nothing."""
    env = game.HideAndSeek("ramp-room", 64, seed=2)
    handmade.set_fort_ramp_gaps(env, 0, 3)
    arranged = handmade.close_doors(env, np.arange(64), wall_ramp=True)
    before = env.world.pos[arranged].copy()
    env.step(np.tile(np.array([5, 5, 5, 0, 1]), (64, env.n_agents, 1)))
    np.testing.assert_allclose(env.world.pos[arranged], before, atol=1e-4)


def test_a_turned_forts_ramp_stands_where_a_facing_one_would_turned_a_quarter_half_or_more():
    """fort_ramp_turn 1: every ramp on a spot a facing one takes (its square's edge 0-3 cells
    short of wall 4, x = 2.95, left of the room, or of wall 5, y = 3.05, above it), its heading
    a whole quarter off facing that wall (0 or -90 degrees), each of the three turns about a
    third of the time; `ramp_gap` NaN (it faces no wall); nothing moves at rest (no overlap)."""
    env = game.HideAndSeek("ramp-room", 300, seed=5)
    handmade.set_fort_ramp_gaps(env, 0, 3)
    handmade.set_fort_ramp_turn(env, 1.0)
    arranged = handmade.close_doors(env, np.arange(300), wall_ramp=True)
    assert len(arranged) >= 290
    ramp = env.n_agents + env.n_boxes
    (x, y), heading = env.world.pos[arranged, ramp].T, env.world.angle[arranged, ramp]
    left = x < 3.0  # else above the room
    gaps = np.where(left, 2.95 - (x + 0.25), (y - 0.25) - 3.05) / 0.2
    assert np.allclose(gaps, np.rint(gaps)) and (np.rint(gaps) >= 0).all() and (gaps < 3.5).all()
    assert ((left & (y <= 2.75)) | (~left & (x >= 3.25))).all()  # beside the room
    quarters = np.rint((heading - np.where(left, 0.0, -np.pi / 2)) / (np.pi / 2))
    off = np.abs(heading - np.where(left, 0.0, -np.pi / 2) - quarters * np.pi / 2)
    assert (off < 1e-9).all() and set(quarters % 4) == {1, 2, 3}
    assert all(abs(np.mean(quarters % 4 == q) - 1 / 3) < 0.1 for q in (1, 2, 3))
    assert np.isnan(env.ramp_gap[arranged]).all()
    before = env.world.pos[arranged].copy()
    env.step(np.tile(np.array([5, 5, 5, 0, 1]), (300, env.n_agents, 1)))
    np.testing.assert_allclose(env.world.pos[arranged], before, atol=1e-4)


def test_fort_ramp_turn_reaches_the_worlds_and_a_resumed_run(tmp_path):
    config = sp.apply_overrides(sp.preset_config("ramp-room"), [
        "n_worlds=2", "curriculum.door_forts=0.5", "curriculum.fort_ramps=0.5",
        "curriculum.fort_ramp_turn=0.25"])
    trainer = sp.Trainer(config, "cpu")
    assert [env.fort_ramp_turn for env in trainer.envs] == [0.25] * len(trainer.envs)
    sp.save_checkpoint(trainer, str(tmp_path / "c.pt"))
    assert sp.load_checkpoint(str(tmp_path / "c.pt")).envs[0].fort_ramp_turn == 0.25


def test_fort_ramps_set_the_ramp_of_that_part_of_the_forts_at_the_wall():
    """fort_ramps 0.5 of door_forts 1.0: about half the forts' ramps stand exactly 0 cells
    short, facing the wall (a ramp the game placed anywhere outside does so seldom)."""
    worlds, n = game.HideAndSeek("ramp-room", 800, seed=3), 800
    config = CurriculumConfig(door_forts=1.0, fort_ramps=0.5)
    assert StartStates(config, [slice(0, 3 * n)], 3).restart(worlds, np.arange(n)) >= n - 10
    at_wall = np.isclose(worlds.ramp_gap, 0.0)
    assert worlds.door_fort.all() and abs(at_wall.mean() - 0.5) < 0.07
    StartStates(CurriculumConfig(door_forts=1.0), [slice(0, 3 * n)], 3).restart(
        worlds, np.arange(n))
    assert np.isclose(worlds.ramp_gap, 0.0).mean() < 0.05  # fort_ramps 0: where the game put it


def test_the_ramp_use_checkpoint_climbs_a_forts_wall_ramp_in_a_game_whose_ramps_stand_anywhere():
    """ramp-room-wall-3's seeker learnt to climb a ramp standing at the wall (`ramp-room-wall`,
    65% of its forts) and climbs into 2.5% of `ramp-room`'s forts (README). With the forts'
    ramp moved to the wall, `ramp-room` is its own game again: 128 sampled episodes, >= 35%,
    as tests/test_results.py asks of it in its own game."""
    trainer = sp.load_in_game(os.path.join(ROOT, "checkpoints", "ramp-room-wall-ramp-use.pt"),
                              "cpu", "ramp-room")
    result = sp.evaluate(trainer, n_worlds=128, seed=0, sample=True, door_forts=True,
                         ramp_gaps=(0, 0))
    assert result["episodes_gap_0.0-0.0m"] >= 120 and result["seekers_climbed_in"] >= 0.35


def test_eval_turns_the_forts_wall_ramps_it_is_told_to():
    """--ramp-turn 1 with forts whose ramp is flush at the wall: none of them faces it (the
    climbs split by gap find no gap), where --ramp-turn 0 leaves every one facing it."""
    trainer = sp.Trainer(sp.apply_overrides(sp.preset_config("ramp-room"), ["n_worlds=2"]), "cpu")
    turned = sp.evaluate(trainer, 16, door_forts=True, ramp_gaps=(0, 0), ramp_turn=1.0)
    facing = sp.evaluate(trainer, 16, door_forts=True, ramp_gaps=(0, 0))
    assert turned["door_fort_episodes"] >= 15 and turned.get("episodes_gap_0.0-0.0m", 0) == 0
    assert facing["episodes_gap_0.0-0.0m"] == facing["door_fort_episodes"] >= 15


def test_a_ramp_turn_without_forts_ramps_at_the_wall_is_a_clear_error():
    trainer = sp.Trainer(sp.apply_overrides(sp.preset_config("ramp-room"), ["n_worlds=2"]), "cpu")
    with pytest.raises(ValueError, match="ramp_turn 0.5 turns the ramps .* door_forts=True, "
                                         "ramp_gaps=None"):
        sp.evaluate(trainer, 2, door_forts=True, ramp_turn=0.5)


def test_ramp_gaps_in_a_game_whose_ramps_stand_anywhere_need_forts():
    trainer = sp.Trainer(sp.apply_overrides(sp.preset_config("ramp-room"), ["n_worlds=2"]), "cpu")
    with pytest.raises(ValueError, match="ramp_gaps \\(0, 1\\).*need door_forts"):
        sp.evaluate(trainer, 2, ramp_gaps=(0, 1))


@pytest.mark.parametrize("game_name, settings, message", [
    ("ramp-room", ["curriculum.fort_ramps=0.5"], "needs curriculum.door_forts > 0"),
    ("ramp-room-wall", ["curriculum.door_forts=0.5", "curriculum.fort_ramps=0.5"],
     "ramp_spawn 'wall'"),
    ("fort", ["curriculum.door_forts=0.5", "curriculum.fort_ramps=0.5"], "ramps 0"),
    ("ramp-room", ["curriculum.door_forts=0.5", "curriculum.fort_ramps=0.5",
                   "curriculum.fort_ramp_gap=13"], "fort_ramp_gap=13 cells does not fit"),
    ("ramp-room", ["curriculum.fort_ramps=1.5"], "fort_ramps must be in \\[0, 1\\], got 1.5"),
    ("ramp-room", ["curriculum.fort_ramp_gap=-1"], "fort_ramp_gap is a number of cells"),
    ("ramp-room", ["curriculum.door_forts=0.5", "curriculum.fort_ramp_turn=0.5"],
     "fort_ramp_turn=0.5 turns the ramps .* needs fort_ramps > 0, got 0.0"),
    ("ramp-room", ["curriculum.fort_ramp_turn=-0.1"], "fort_ramp_turn must be in \\[0, 1\\]")])
def test_fort_ramps_set_badly_are_a_clear_error(game_name, settings, message):
    with pytest.raises(ValueError, match=message):  # from --set's check or the Trainer's
        sp.Trainer(sp.apply_overrides(sp.preset_config(game_name), ["n_worlds=2"] + settings),
                   "cpu")


def test_ramp_reach_moves_the_forts_wall_ramps_where_fort_ramps_set_them(tmp_path):
    config = sp.apply_overrides(sp.preset_config("ramp-room"), [
        "n_worlds=2", "curriculum.door_forts=0.5", "curriculum.fort_ramps=0.5",
        "curriculum.fort_ramp_gap=2", "curriculum.ramp_reach=0.5", "curriculum.reach_window=2"])
    trainer = sp.Trainer(config, "cpu")
    assert trainer.envs[0].fort_ramp_gaps == (0, 2)  # from 0 to fort_ramp_gap
    crafted = reach_episodes(RampReach, [0.4, 0.4], [1, 0])
    assert trainer.reach.update(trainer.envs, *crafted) == (1, 3)
    assert trainer.envs[0].fort_ramp_gaps == (1, 3)
    assert trainer.envs[0].preset.ramp_gap == (0, 0)  # the game's own ramps stay anywhere
    sp.save_checkpoint(trainer, str(tmp_path / "c.pt"))
    assert sp.load_checkpoint(str(tmp_path / "c.pt")).envs[0].fort_ramp_gaps == (1, 3)


@pytest.mark.parametrize("setter, gaps, message", [
    ("set_fort_ramp_gaps", (3, 13), "fort ramp gaps .* <= 12 \\(the room's wall to the arena"),
    ("set_fort_ramp_gaps", (2, 1), "fort ramp gaps .*got \\(2, 1\\)"),
    ("set_cube_gaps", (0, 12), "cube gaps .* <= 11 \\(the room's depth"),
    ("set_cube_gaps", (0.5, 2), "cube gaps must be whole cells.*got \\(0.5, 2\\)")])
def test_gaps_out_of_range_are_refused_and_the_gaps_kept(setter, gaps, message):
    env = game.HideAndSeek("ramp-room", 1, seed=0)
    before = (env.fort_ramp_gaps, env.cube_gaps)
    with pytest.raises(ValueError, match=message):
        getattr(handmade, setter)(env, *gaps)
    assert (env.fort_ramp_gaps, env.cube_gaps) == before


def test_worlds_pickled_before_fort_ramps_draw_their_wall_ramps_flush():
    env = game.HideAndSeek("ramp-room", 2, seed=0)
    del env.fort_ramp_gaps  # as pickled by an env.py without it
    assert pickle.loads(pickle.dumps(env)).fort_ramp_gaps == (0, 0)


# -- the ramp set outside the room's door: a start for ramp defense (curriculum.door_ramps) -----

@pytest.mark.parametrize("gap", [0, 6, 12])
def test_a_door_ramp_stands_its_gap_straight_out_from_the_door(gap):
    """Measured from the ramp's pose against the door find_doors reads from the walls: the
    room lies at x > 3 (door in wall 4, x = 3) or y < 3 (door in wall 5, y = 3); the ramp's
    near face is its gap plus 1 cm of play from the wall's outer face (0.05 m off its line),
    its centre level with the door's, its heading a quarter turn."""
    env = game.HideAndSeek("ramp-room-lock", 64, seed=gap)
    arranged = handmade.ramps_to_doors(env, np.arange(64), (gap, gap))
    assert len(arranged) >= 60
    ramp = env.n_agents + env.n_boxes
    for w in arranged:
        x_door, y_door, axis = game.find_doors(env.world.walls[w], env.world.wall_height[w])[0]
        x, y = env.world.pos[w, ramp]
        if axis == 0:  # outside is -x
            assert (x_door - 0.05) - (x + 0.25) == pytest.approx(gap * 0.2 + 0.01)
            assert y == pytest.approx(y_door)
        else:  # outside is +y
            assert (y - 0.25) - (y_door + 0.05) == pytest.approx(gap * 0.2 + 0.01)
            assert x == pytest.approx(x_door)
        quarters = env.world.angle[w, ramp] / (np.pi / 2)
        assert quarters == pytest.approx(round(quarters))
    np.testing.assert_allclose(env.door_ramp_gap[arranged], gap * 0.2, atol=1e-9)
    assert env.door_ramp[arranged].all() and env.replayed[arranged].all()


@pytest.mark.parametrize("hider", [{}, {"hider_at_door": True}, {"hider_at_ramp": True}])
def test_door_ramps_touch_no_body(hider):
    """At rest, with nothing pushed, no body moves in one step: the ramp (and the hider in the
    doorway, or beside the ramp) overlaps nothing."""
    env = game.HideAndSeek("ramp-room-lock", 64, seed=4)
    arranged = handmade.ramps_to_doors(env, np.arange(64), (0, 3), **hider)
    assert len(arranged) >= 60
    assert env.ramp_hider[arranged].all() == bool(hider.get("hider_at_ramp"))
    before = env.world.pos[arranged].copy()
    env.step(np.tile(game.IDLE, (64, env.n_agents, 1)))
    np.testing.assert_allclose(env.world.pos[arranged], before, atol=1e-4)


@pytest.mark.parametrize("game_name, locked_by", [("ramp-room-lock", physics.HIDERS),
                                                   ("ramp-room", physics.NO_TEAM)])
def test_a_hider_in_the_doorway_locks_a_door_ramp_where_ramps_may_be_locked(game_name, locked_by):
    """The hider that ramps_to_doors stands in the doorway stands 0.1 m into the room from the
    door's wall line, facing out: at gap 0 the ramp's near face is 0.16 m from its centre,
    inside the grab range (0.25 m), so its lock takes, in the game whose ramps may be
    locked."""
    env = game.HideAndSeek(game_name, 8, seed=1)
    arranged = handmade.ramps_to_doors(env, np.arange(8), (0, 0), hider_at_door=True)
    assert len(arranged) == 8
    hider, ramp = 0, env.n_agents + env.n_boxes  # hiders take the first agent slots
    for w in arranged:
        x_door, y_door, axis = game.find_doors(env.world.walls[w], env.world.wall_height[w])[0]
        (x, y), heading = env.world.pos[w, hider], env.world.angle[w, hider]
        outward = (-1.0, 0.0) if axis == 0 else (0.0, 1.0)
        assert (x - x_door, y - y_door) == pytest.approx((-0.1 * outward[0], -0.1 * outward[1]))
        assert (np.cos(heading), np.sin(heading)) == pytest.approx(outward, abs=1e-9)
        ramp_face = np.abs(env.world.pos[w, ramp] - (x, y)).max() - 0.25
        assert ramp_face == pytest.approx(0.16)
    actions = np.tile(game.IDLE, (8, env.n_agents, 1))
    actions[:, hider, 4] = 1  # press lock
    env.step(actions)
    assert (env.world.locked_by[arranged, ramp] == locked_by).all()


def test_door_ramps_restart_that_share_of_the_episodes_with_gaps_up_to_door_ramp_gap():
    worlds, n = game.HideAndSeek("ramp-room-lock", 800, seed=3), 800
    config = CurriculumConfig(door_cubes=0.3, door_ramps=0.5, door_ramp_gap=4)
    restarted = StartStates(config, [slice(0, 3 * n)], 3).restart(worlds, np.arange(n))
    at_door = worlds.door_ramp
    assert abs(at_door.mean() - 0.5) < 0.06 and not (at_door & worlds.door_cube).any()
    assert restarted == worlds.replayed.sum() == (at_door | worlds.door_cube).sum()
    assert set(np.rint(worlds.door_ramp_gap[at_door] / game.CELL)) == {0, 1, 2, 3, 4}
    assert np.isnan(worlds.door_ramp_gap[~at_door]).all()


@pytest.mark.parametrize("game_name, settings, message", [
    ("fort", ["curriculum.door_ramps=0.5"], "has ramps=0, expected 1 or more"),
    ("ramp", ["curriculum.door_ramps=0.5"], "hider_spawn 'anywhere'"),
    ("ramp-room-lock", ["curriculum.door_ramps=0.5", "curriculum.door_ramp_gap=13"],
     "door_ramp_gap=13 cells does not fit"),
    ("ramp-room-lock", ["curriculum.door_ramps=1.5"], "door_ramps must be in \\[0, 1\\]"),
    ("ramp-room-lock", ["curriculum.door_ramps=0.6", "curriculum.door_forts=0.5"],
     "must be <= 1"),
    ("ramp-room-lock", ["curriculum.door_ramp_gap=-1"], "door_ramp_gap is a number of cells"),
    ("ramp-room-lock", ["curriculum.door_ramp_hider=true"], "needs curriculum.door_ramps > 0"),
    ("ramp-room-lock", ["curriculum.door_ramps=0.5", "curriculum.door_ramp_hider=true",
                        "curriculum.door_ramp_beside=true"], "one or the other")])
def test_door_ramps_set_badly_are_a_clear_error(game_name, settings, message):
    with pytest.raises(ValueError, match=message):  # from --set's check or the Trainer's
        sp.Trainer(sp.apply_overrides(sp.preset_config(game_name), ["n_worlds=2"] + settings),
                   "cpu")


def test_door_ramp_gaps_out_of_range_are_refused():
    env = game.HideAndSeek("ramp-room-lock", 2, seed=0)
    with pytest.raises(ValueError, match="door ramp gaps .* <= 12 .*got \\(0, 13\\)"):
        handmade.ramps_to_doors(env, np.arange(2), (0, 13))


@pytest.mark.parametrize("share, flag", [("door_ramps", "door_ramp"),
                                         ("ramp_hiders", "ramp_hider")])
def test_training_records_the_ramp_defense_starts_apart(share, flag, tmp_path):
    config = sp.apply_overrides(sp.preset_config("ramp-room-lock"), [
        "n_worlds=4", "rollout_steps=80", "total_steps=640", f"curriculum.{share}=1.0"])
    trainer = sp.Trainer(config, "cpu")
    sp.train(trainer, sp.RunFolder(str(tmp_path / "run")), write_gif=False, quiet=True)
    rows = sp.read_metrics(str(tmp_path / "run" / "metrics.csv"))
    assert [int(r[f"episodes_{flag}"]) for r in rows] == [0, 4]  # the first are the game's
    assert np.isnan(float(rows[0][f"{flag}_num_ramp_lock_prep"]))
    assert 0.0 <= float(rows[1][f"{flag}_num_ramp_lock_prep"]) <= 1.0
    assert np.isnan(float(rows[1]["num_ramp_lock_prep"]))  # no own start ended: nothing to say


# -- a hider beside the ramp where the game put it: ramp defense, the walk out done
# (curriculum.ramp_hiders) ----------------------------------------------------------------------

def test_a_hider_beside_the_ramp_faces_one_of_its_faces_from_outside_the_room():
    """Measured in the ramp's own frame: the hider's centre lies on one of its axes, 0.43 m
    out (the ramp's half width, the agent's radius, 3 cm), its heading points back at the
    ramp's centre, and it stands outside the room (x < 3 or y > 3) within the arena."""
    env = game.HideAndSeek("ramp-room-lock", 64, seed=5)
    arranged = handmade.hiders_to_ramps(env, np.arange(64))
    assert len(arranged) >= 60
    assert_facing_a_ramp_face_from(env, arranged, 0.43)
    assert env.ramp_hider[arranged].all() and env.replayed[arranged].all()


def assert_facing_a_ramp_face_from(env, arranged, distance):
    """In each of the `arranged` worlds the first hider's centre lies on one of the ramp's
    axes, `distance` m from its centre, heads back at that centre, and stands outside the
    room (x < 3 or y > 3) within the arena."""
    hider, ramp = 0, env.n_agents + env.n_boxes
    for w in arranged:
        offset = env.world.pos[w, hider] - env.world.pos[w, ramp]
        c, s = np.cos(env.world.angle[w, ramp]), np.sin(env.world.angle[w, ramp])
        along, across = offset @ np.array([c, s]), offset @ np.array([-s, c])
        assert sorted(np.abs([along, across])) == pytest.approx([0.0, distance], abs=1e-9)
        heading = env.world.angle[w, hider]
        assert np.array([np.cos(heading), np.sin(heading)]) == pytest.approx(-offset / distance)
        x, y = env.world.pos[w, hider]
        assert (x < 3.0 or y > 3.0) and 0.0 < x < 6.0 and 0.0 < y < 6.0


def test_a_hider_beside_the_ramp_touches_no_body_and_its_lock_takes():
    """At rest nothing moves in a step (the hider overlaps nothing), and the ramp's face,
    0.18 m from the hider's centre, is inside the grab range: a lock pressed takes."""
    env = game.HideAndSeek("ramp-room-lock", 64, seed=6)
    arranged = handmade.hiders_to_ramps(env, np.arange(64))
    assert (lock_pressed_at_rest(env, arranged) == physics.HIDERS).all()


def lock_pressed_at_rest(env, arranged):
    """One step in which the first hider of every world presses lock and nothing is pushed:
    checks that no body of the `arranged` worlds moved (none overlaps another) and returns
    who locked their ramp (physics' locked_by, one per world)."""
    before = env.world.pos[arranged].copy()
    actions = np.tile(game.IDLE, (env.n_worlds, env.n_agents, 1))
    actions[:, 0, 4] = 1  # the first hider presses lock
    env.step(actions)
    np.testing.assert_allclose(env.world.pos[arranged], before, atol=1e-4)
    return env.world.locked_by[arranged, env.n_agents + env.n_boxes]


def test_a_hider_beside_a_door_ramp_locks_it_from_outside_the_room():
    env = game.HideAndSeek("ramp-room-lock", 64, seed=8)
    arranged = handmade.ramps_to_doors(env, np.arange(64), (3, 10), hider_at_ramp=True)
    ramp = env.n_agents + env.n_boxes
    distance = np.linalg.norm(env.world.pos[arranged, 0] - env.world.pos[arranged, ramp], axis=1)
    np.testing.assert_allclose(distance, 0.43)  # beside it, as hiders_to_ramps stands it
    actions = np.tile(game.IDLE, (64, env.n_agents, 1))
    actions[:, 0, 4] = 1
    env.step(actions)
    assert (env.world.locked_by[arranged, ramp] == physics.HIDERS).all()


# -- the hider placed some steps out from the ramp: the walk to it, a cell at a time
# (curriculum.ramp_walk, walk_reach) -------------------------------------------------------------

def walking_hiders(seed, walks, door_ramp=True, n=64):
    """n worlds of ramp-room-lock begun with the first hider `walks` cells out from beside the
    ramp, which stands 0-10 cells out from the door (`door_ramp`) or where the game put it;
    returns (env, worlds arranged)."""
    env = game.HideAndSeek("ramp-room-lock", n, seed=seed)
    handmade.set_ramp_walks(env, *walks)
    if door_ramp:
        return env, handmade.ramps_to_doors(env, np.arange(n), (0, 10), hider_at_ramp=True)
    return env, handmade.hiders_to_ramps(env, np.arange(n))


@pytest.mark.parametrize("walk, door_ramp", [(1, True), (3, True), (2, False)])
def test_a_walking_hider_stands_its_walk_out_from_one_of_the_ramps_faces_facing_it(walk,
                                                                                   door_ramp):
    """As beside the ramp, 0.2 m a cell farther out (see below)."""
    env, arranged = walking_hiders(walk, (walk, walk), door_ramp)
    assert len(arranged) >= 60
    assert_facing_a_ramp_face_from(env, arranged, 0.43 + 0.2 * walk)
    np.testing.assert_allclose(env.ramp_walk[arranged], 0.2 * walk, atol=1e-9)


def test_walking_hiders_touch_no_body_and_a_lock_pressed_from_afar_does_not_take():
    """At rest nothing moves in a step, and a hider a cell or more out from beside the ramp
    (its face 0.38 m or more away, beyond the grab range) cannot lock it from there."""
    env, arranged = walking_hiders(10, (1, 4))
    assert len(arranged) >= 60
    assert (lock_pressed_at_rest(env, arranged) == physics.NO_TEAM).all()


def test_ramp_walk_draws_every_walk_up_to_it_in_both_starts_with_a_hider_beside_the_ramp():
    worlds, n = game.HideAndSeek("ramp-room-lock", 800, seed=11), 800
    config = CurriculumConfig(door_ramps=0.5, door_ramp_beside=True, ramp_hiders=0.5,
                              ramp_walk=3)
    handmade.set_ramp_walks(worlds, 0, config.ramp_walk)  # as the Trainer sets them from the config
    StartStates(config, [slice(0, 3 * n)], 3).restart(worlds, np.arange(n))
    for start in (worlds.door_ramp, worlds.ramp_hider & ~worlds.door_ramp):
        walks = worlds.ramp_walk[start] / game.CELL
        np.testing.assert_allclose(walks, np.rint(walks), atol=1e-9)  # whole cells
        assert set(np.rint(walks)) == {0, 1, 2, 3}
    assert np.isnan(worlds.ramp_walk[~worlds.ramp_hider]).all()


def test_ramp_walks_out_of_range_are_refused_and_kept():
    env = game.HideAndSeek("ramp-room-lock", 2, seed=0)
    handmade.set_ramp_walks(env, 1, 2)
    with pytest.raises(ValueError, match="ramp walk gaps .* <= 12 .*got \\(0, 13\\)"):
        handmade.set_ramp_walks(env, 0, 13)
    assert env.ramp_walks == (1, 2)


def test_training_hands_walk_reach_the_ramp_locks_and_records_the_farthest_walk(tmp_path):
    config = sp.apply_overrides(sp.preset_config("ramp-room-lock"), [
        "n_worlds=4", "rollout_steps=80", "total_steps=640", "curriculum.ramp_hiders=1.0",
        "curriculum.ramp_walk=2", "curriculum.walk_reach=0.9"])
    trainer, seen = sp.Trainer(config, "cpu"), []
    assert trainer.envs[0].ramp_walks == (0, 2)
    trainer.walk_reach.update = lambda envs, ended, locked: seen.append(
        np.array_equal(locked, ended["num_ramp_lock_prep"] > 0))
    sp.train(trainer, sp.RunFolder(str(tmp_path / "run")), write_gif=False, quiet=True)
    assert seen == [True, True]
    rows = sp.read_metrics(str(tmp_path / "run" / "metrics.csv"))
    assert [float(r["ramp_walk_farthest"]) for r in rows] == [0.4, 0.4]


def test_worlds_pickled_before_the_walks_start_their_hiders_beside_the_ramp():
    env = game.HideAndSeek("ramp-room-lock", 2, seed=0)
    del env.ramp_walks, env.ramp_walk  # as pickled by an env.py without them
    del env.walk_door_share, env.walk_door_side
    restored = pickle.loads(pickle.dumps(env))
    assert restored.ramp_walks == (0, 0) and np.isnan(restored.ramp_walk).all()
    assert restored.walk_door_share == 0.0 and np.isnan(restored.walk_door_side).all()


def test_a_config_saved_with_door_ramp_walk_loads_it_as_ramp_walk():
    saved = asdict(sp.apply_overrides(sp.preset_config("ramp-room-lock"), [
        "curriculum.door_ramps=0.5", "curriculum.door_ramp_beside=true",
        "curriculum.ramp_walk=2"]))
    saved["curriculum"]["door_ramp_walk"] = saved["curriculum"].pop("ramp_walk")  # as run -8's
    assert sp.config_from_dict(saved).curriculum.ramp_walk == 2


@pytest.mark.parametrize("settings, message", [
    (["curriculum.door_ramps=0.5", "curriculum.ramp_walk=2"],
     "ramp_walk=2 moves a hider .* needs curriculum.door_ramp_beside=true or "
     "curriculum.ramp_hiders > 0"),
    (["curriculum.door_ramps=0.5", "curriculum.door_ramp_hider=true", "curriculum.walk_reach=0.3"],
     "walk_reach=0.3 moves a hider placed beside the ramp"),
    (["curriculum.ramp_hiders=0.5", "curriculum.ramp_walk=13"], "ramp_walk=13 cells does not fit"),
    (["curriculum.ramp_walk=-1"], "ramp_walk is a number of cells"),
    (["curriculum.walk_reach=1.5"], "walk_reach is a share of episodes in \\[0, 1\\]")])
def test_walks_set_badly_are_a_clear_error(settings, message):
    with pytest.raises(ValueError, match=message):
        sp.Trainer(sp.apply_overrides(sp.preset_config("ramp-room-lock"),
                                      ["n_worlds=2"] + settings), "cpu")


def door_side_by_hand(env, w):
    """Whether world w's first hider stands nearer the room's door than the ramp's centre."""
    door = np.array(game.find_doors(env.world.walls[w], env.world.wall_height[w])[0][:2])
    hider, ramp = env.world.pos[w, 0], env.world.pos[w, env.n_agents + env.n_boxes]
    return np.hypot(*(hider - door)) < np.hypot(*(ramp - door))


@pytest.mark.parametrize("door_ramp", [False, True])
def test_a_hider_on_the_door_side_stands_between_the_ramp_and_the_door(door_ramp):
    """With walk_door_share 1 every placed hider stands nearer the door than the ramp does,
    its walk out from one of the ramp's faces, facing it, as any placed hider."""
    env = game.HideAndSeek("ramp-room-lock", 64, seed=21)
    handmade.set_walk_door_share(env, 1.0)
    handmade.set_ramp_walks(env, 2, 2)
    arranged = (handmade.ramps_to_doors(env, np.arange(64), (6, 10), hider_at_ramp=True)
                if door_ramp else handmade.hiders_to_ramps(env, np.arange(64)))
    assert len(arranged) >= 50
    assert all(door_side_by_hand(env, w) for w in arranged)
    assert_facing_a_ramp_face_from(env, arranged, 0.43 + 0.2 * 2)
    assert (env.walk_door_side[arranged] == 1.0).all()


def test_without_the_door_side_both_sides_are_drawn_and_recorded_as_they_fell():
    env = game.HideAndSeek("ramp-room-lock", 200, seed=22)
    handmade.set_ramp_walks(env, 2, 2)
    arranged = handmade.hiders_to_ramps(env, np.arange(200))
    by_hand = np.array([door_side_by_hand(env, w) for w in arranged], float)
    np.testing.assert_array_equal(env.walk_door_side[arranged], by_hand)
    assert 0.25 < by_hand.mean() < 0.75
    assert np.isnan(np.delete(env.walk_door_side, arranged)).all()


def test_training_stands_that_share_of_the_placed_hiders_on_the_door_side():
    config = sp.apply_overrides(sp.preset_config("ramp-room-lock"), [
        "n_worlds=400", "curriculum.ramp_hiders=1.0", "curriculum.ramp_walk=1",
        "curriculum.walk_door_side=1.0"])
    trainer = sp.Trainer(config, "cpu")
    worlds = trainer.envs[0]
    assert worlds.walk_door_share == 1.0  # as the Trainer sets it from the config
    StartStates(config.curriculum, [slice(0, 3 * 400)], 3).restart(worlds, np.arange(400))
    assert worlds.ramp_hider.sum() >= 350
    assert (worlds.walk_door_side[worlds.ramp_hider] == 1.0).all()


def test_a_door_side_share_out_of_range_is_refused_and_kept():
    env = game.HideAndSeek("ramp-room-lock", 2, seed=0)
    handmade.set_walk_door_share(env, 0.5)
    with pytest.raises(ValueError, match="walk door share 1.5: expected a share in \\[0, 1\\]"):
        handmade.set_walk_door_share(env, 1.5)
    assert env.walk_door_share == 0.5


@pytest.mark.parametrize("settings, message", [
    (["curriculum.door_ramps=0.5", "curriculum.walk_door_side=1.0"],
     "walk_door_side=1.0 moves a hider .* needs curriculum.door_ramp_beside=true"),
    (["curriculum.ramp_hiders=0.5", "curriculum.walk_door_side=2.0"],
     "walk_door_side must be in \\[0, 1\\], got 2.0")])
def test_the_door_side_set_badly_is_a_clear_error(settings, message):
    with pytest.raises(ValueError, match=message):
        sp.Trainer(sp.apply_overrides(sp.preset_config("ramp-room-lock"),
                                      ["n_worlds=2"] + settings), "cpu")


def test_ramp_hiders_restart_that_share_of_the_episodes():
    worlds, n = game.HideAndSeek("ramp-room-lock", 800, seed=7), 800
    config = CurriculumConfig(door_ramps=0.3, ramp_hiders=0.4)
    restarted = StartStates(config, [slice(0, 3 * n)], 3).restart(worlds, np.arange(n))
    assert abs(worlds.ramp_hider.mean() - 0.4) < 0.06
    assert not (worlds.ramp_hider & worlds.door_ramp).any()
    assert restarted == worlds.replayed.sum() == (worlds.ramp_hider | worlds.door_ramp).sum()


@pytest.mark.parametrize("game_name, settings, message", [
    ("fort", ["curriculum.ramp_hiders=0.5"], "ramp_hiders=0.5 moves a hider beside the ramp"),
    ("ramp", ["curriculum.ramp_hiders=0.5"], "hider_spawn 'anywhere'"),
    ("ramp-room-lock", ["curriculum.ramp_hiders=0.6", "curriculum.door_ramps=0.5"],
     "ramp_hiders must be <= 1")])
def test_ramp_hiders_set_badly_are_a_clear_error(game_name, settings, message):
    with pytest.raises(ValueError, match=message):
        sp.Trainer(sp.apply_overrides(sp.preset_config(game_name), ["n_worlds=2"] + settings),
                   "cpu")
