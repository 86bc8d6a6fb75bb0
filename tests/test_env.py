"""Specifications of env.py, the hide-and-seek game. Each rule is checked against an independent
reference where one exists: the 135-degree rule computed from angles, a flood fill over grid edges
rebuilt from the wall slabs, box displacements measured from the world arrays, rectangles tested
for overlap in plain numpy.

Scenes are staged by hand: clear world 0, place bodies with physics.place_*, then
env.start_episodes([0]) (and env.t set past the preparation phase where a test needs it).
"""

import dataclasses
import math
import pickle
from collections import deque

import numpy as np
import pytest

import physics as ph
from env import (IDLE, PRESETS, HideAndSeek, Preset, agent_names, find_doors,
                 parallel_env)
from physics import BOX, HIDERS, RAMP, SEEKERS

CUBE = (0.25, 0.25)


def staged(preset="quadrant", hiders=(), seekers=(), objects=(), walls=(), after_prep=True,
           n_worlds=1, **env_args):
    """An env whose worlds (world 0, unless n_worlds is given) hold exactly the given bodies.
    hiders, seekers: (x, y, heading); objects: (kind, x, y, angle, half); walls: (x0, y0, x1,
    y1, height)."""
    env = HideAndSeek(preset, n_worlds, seed=0, **env_args)
    world = env.world
    for w in range(n_worlds):
        ph.clear_world(world, w)
        for k, (x, y, heading) in enumerate(hiders):
            ph.place_agent(world, w, k, x, y, heading, HIDERS)
        first_seeker = env.preset.hiders[1]
        for k, (x, y, heading) in enumerate(seekers):
            ph.place_agent(world, w, first_seeker + k, x, y, heading, SEEKERS)
        slots = {BOX: env.n_agents, RAMP: env.n_agents + env.n_boxes}
        for kind, x, y, angle, half in objects:
            ph.place_object(world, w, slots[kind], kind, x, y, angle, half)
            slots[kind] += 1
        for m, (x0, y0, x1, y1, height) in enumerate(walls):
            ph.place_wall(world, w, m, x0, y0, x1, y1, height)
    obs = env.start_episodes(list(range(n_worlds)))
    if after_prep:
        env.t[:] = env.prep_steps
    return env, obs


def idle(env):
    return np.tile(IDLE, (env.n_worlds, env.n_agents, 1))


def random_actions(env, rng):
    return rng.integers(0, [11, 11, 11, 2, 2], size=(env.n_worlds, env.n_agents, 5))


# ---------------------------------------------------------------------------------------------
# The preparation phase
# ---------------------------------------------------------------------------------------------


def test_seekers_cannot_move_during_preparation():
    env = HideAndSeek("quadrant", 4, seed=1)
    push = idle(env)
    push[:, 2:] = (10, 10, 10, 1, 1)  # seekers (slots 2, 3): full force, grab and lock
    start = env.world.pos[:, 2:4].copy()
    for _ in range(env.prep_steps):
        env.step(push)
    assert np.abs(env.world.pos[:, 2:4] - start).max() < 1e-9
    assert (env.world.holding[:, 2:4] == -1).all()
    env.step(push)  # the first step after the preparation phase
    assert np.linalg.norm(env.world.pos[:, 2:4] - start, axis=-1).min() > 0.05


def test_rewards_are_zero_during_preparation_even_penalties():
    env, _ = staged(hiders=[(1, 3, 0)], seekers=[(2, 3, math.pi)],
                    objects=[(BOX, 8.0, 3.0, 0.0, CUBE)], after_prep=False)  # box out of the area
    for _ in range(env.prep_steps):
        _, rewards, _, _ = env.step(idle(env))
        assert (rewards == 0).all()
    _, rewards, _, _ = env.step(idle(env))
    assert rewards[0, [0, 2]].tolist() == [-10, -10]


def test_rewards_are_zero_sum_after_preparation():
    env = HideAndSeek("quadrant", 8, seed=2)
    rng = np.random.default_rng(0)
    for t in range(env.preset.horizon):
        _, rewards, _, _ = env.step(random_actions(env, rng))
        if t >= env.prep_steps:
            hiders, seekers = rewards[:, :2], rewards[:, 2:]
            assert np.isin(hiders, (-1, 1)).all()
            assert (hiders == hiders[:, :1]).all() and (seekers == -hiders[:, :1]).all()
            assert (rewards.sum(1) == 0).all()


# ---------------------------------------------------------------------------------------------
# Vision and the team reward
# ---------------------------------------------------------------------------------------------


def test_hider_in_plain_view_of_a_seeker_scores_minus_one():
    env, _ = staged(hiders=[(3.5, 3, 0)], seekers=[(1, 3, 0)])
    _, rewards, _, _ = env.step(idle(env))
    assert rewards[0].tolist() == [-1, 0, 1, 0]  # hider, padding, seeker, padding


def test_hider_behind_a_wall_scores_plus_one():
    env, _ = staged(hiders=[(3.5, 3, 0)], seekers=[(1, 3, 0)], walls=[(2, 2, 2, 4, 0.5)])
    _, rewards, _, _ = env.step(idle(env))
    assert rewards[0].tolist() == [1, 0, -1, 0]


def test_hider_outside_the_cone_scores_plus_one():
    env, _ = staged(hiders=[(3.5, 3, 0)], seekers=[(1, 3, math.pi)])  # seeker looks away
    _, rewards, _, _ = env.step(idle(env))
    assert rewards[0].tolist() == [1, 0, -1, 0]


@pytest.mark.parametrize("bearing", [0, 30, -60, 66, -66, 69, -69, 90, 150, 180])
def test_vision_cone_is_135_degrees_wide(bearing):
    heading = 0.7  # any heading: the cone turns with the agent
    direction = heading + math.radians(bearing)
    hider = (3 + 1.5 * math.cos(direction), 3 + 1.5 * math.sin(direction), 0.0)
    _, obs = staged(hiders=[hider], seekers=[(3, 3, heading)])
    seeker_sees = obs["visible_agents"][0, 2, 1]  # seeker slot 2; its 2nd other is slot 0
    assert seeker_sees == (abs(bearing) <= 67.5)


def test_hidden_box_is_masked_for_the_policy_but_not_the_critic():
    env, obs = staged(hiders=[(1, 3, 0)], objects=[(BOX, 3, 3, 0, CUBE), (BOX, 1.8, 2.0, 0, CUBE)],
                      walls=[(2, 2.5, 2, 4, 0.5)])
    assert obs["visible_boxes"][0, 0].tolist() == [False, True]  # behind the wall; in view
    assert obs["exists_boxes"][0, 0].tolist() == [True, True]
    assert obs["boxes"][0, 0, 0, :2].tolist() == [3, 3]  # the features are there for the critic
    assert obs["exists_ramps"][0, 0].tolist() == [False]  # the ramp slot is padding
    assert (obs["ramps"][0, 0] == 0).all()


def test_fully_observed_game_shows_the_policy_what_its_cone_misses_but_rewards_by_vision():
    """Preset.policy_sees_all: the policy's masks become the existence masks; the reward still
    asks whether the seeker really sees the hider (here it looks away: no)."""
    game = dataclasses.replace(PRESETS["fort"], name="seen-all", policy_sees_all=True)
    env, obs = staged(game, hiders=[(3.5, 3, 0)], seekers=[(1, 3, math.pi)],
                      objects=[(BOX, 1.5, 1.5, 0, CUBE)])
    assert not env.visible[0, 1, 0]  # the seeker (slot 1) does not see the hider (slot 0)
    assert obs["visible_agents"][0, :, 0].tolist() == [True, True]
    assert obs["visible_boxes"][0, :, 0].tolist() == [True, True]
    _, rewards, _, _ = env.step(idle(env))
    assert rewards[0].tolist() == [1, -1]  # hider unseen: +1


def test_other_agents_are_listed_circularly_after_oneself():
    env = HideAndSeek("full", 3, seed=3)
    obs, *_ = env.step(random_actions(env, np.random.default_rng(0)))
    A = env.n_agents
    for i in range(A):
        for k in range(A - 1):
            j = (i + 1 + k) % A
            assert (obs["agents"][:, i, k] == obs["self"][:, j]).all()
            assert (obs["visible_agents"][:, i, k] == env.visible[:, i, j]).all()
            assert (obs["exists_agents"][:, i, k] == env.agent_exists[:, j]).all()


def test_observations_match_the_contract():
    env = HideAndSeek("full", 2, seed=4)
    obs, *_ = env.step(idle(env))
    assert set(obs) == set(env.obs_shapes)
    for key, value in obs.items():
        assert value.shape == (2, env.n_agents, *env.obs_shapes[key]), key
        assert value.dtype == (bool if key.startswith(("visible_", "exists_")) else np.float32)
    assert env.obs_sizes == {"self": 11, "agents": 11, "boxes": 15, "ramps": 15, "lidar": 30}
    real = env.agent_exists
    assert np.allclose(obs["self"][..., 3] ** 2 + obs["self"][..., 4] ** 2, real)  # cos, sin
    assert (obs["self"][..., 9] == (env.team == HIDERS)).all()  # team flag
    assert np.allclose(obs["self"][..., 10], real / env.prep_steps)  # one step into the prep


def test_observations_feed_the_attention_network():
    torch = pytest.importorskip("torch")
    from attention import ActorCritic, NetworkSizes

    env = HideAndSeek("tiny", 3, seed=5)  # no ramps: an entity type with E = 0
    obs = env.reset()
    model = ActorCritic(env.obs_sizes, NetworkSizes(embed=16, heads=2, dense=16, lstm=16))
    N = env.n_worlds * env.n_agents
    rows = {key: torch.as_tensor(value.reshape(1, N, *value.shape[2:]))
            for key, value in obs.items()}  # [T=1, N=W*A, ...]
    dist, value, _ = model(rows, model.initial_state(N), torch.ones(1, N, dtype=torch.bool))
    assert dist.sample().shape == (1, N, 5) and value.shape == (1, N)


# ---------------------------------------------------------------------------------------------
# Layouts and spawning
# ---------------------------------------------------------------------------------------------


def test_quadrant_spawns_boxes_in_the_room_and_seekers_outside():
    env = HideAndSeek("quadrant", 64, seed=6)
    s, A = env.world, env.n_agents
    boxes = s.kind == BOX
    low, high = s.pos - s.half, s.pos + s.half  # cubes are axis-aligned
    assert ((low[..., 0] >= 3.05) & (high[..., 1] <= 2.95))[boxes].all()
    seekers = s.pos[:, A // 2:A]
    assert not ((seekers[..., 0] > 3) & (seekers[..., 1] < 3)).any()


@pytest.mark.parametrize("preset, hiders", [("fort", 1), ("fort-ramp-wall", 1), ("fort-ramp", 1),
                                            ("ramp-room-wall", 2), ("ramp-room-near", 2),
                                            ("ramp-room-turn", 2), ("ramp-room", 2)])
def test_hiders_spawn_in_the_room(preset, hiders):
    env = HideAndSeek(preset, 32, seed=7)
    hider = env.world.pos[:, :hiders]  # hiders take the first agent slots
    assert ((hider[..., 0] > 3) & (hider[..., 1] < 3)).all()


def ramp_pose(env):
    """x, y, angle, half length and the uphill edge's midpoint (edge_x, edge_y) of every world's
    ramp, [W] each (the ramp's slot follows the agents' and the boxes')."""
    ramp = env.n_agents + env.n_boxes
    x, y = env.world.pos[:, ramp, 0], env.world.pos[:, ramp, 1]
    angle, half = env.world.angle[:, ramp], env.world.half[:, ramp, 0]
    return x, y, angle, half, x + half * np.cos(angle), y + half * np.sin(angle)


def test_wall_ramps_stand_against_a_room_wall_uphill_toward_it():
    """`ramp_spawn="wall"`: the ramp's high edge lies on the outer face of wall 4 (the slab on
    x = 3 m, y in 0..3) or of wall 5 (on y = 3 m, x in 3..6) of the quadrant room."""
    x, y, angle, half, edge_x, edge_y = ramp_pose(HideAndSeek("fort-ramp-wall", 64, seed=2))
    face = ph.WALL_THICKNESS / 2
    left_of_4 = np.isclose(edge_x, 3.0 - face) & (y - half >= 0) & (y + half <= 3.0)
    above_5 = np.isclose(edge_y, 3.0 + face) & (x - half >= 3.0) & (x + half <= 6.0)
    assert (left_of_4 ^ above_5).all()
    assert left_of_4.any() and above_5.any()


def test_near_ramps_stand_the_drawn_gap_short_of_a_room_wall_uphill_toward_it():
    """`ramp_gap=(0, 10)`: the ramp's high edge lies a whole number of 0.2 m cells, 0 to 10,
    from the outer face of wall 4 or 5, every gap drawn, and the ramp outside the room."""
    x, y, angle, half, edge_x, edge_y = ramp_pose(HideAndSeek("ramp-room-near", 512, seed=4))
    face = ph.WALL_THICKNESS / 2
    toward_4 = np.isclose(np.cos(angle), 1.0)  # uphill along +x, to wall 4
    toward_5 = np.isclose(np.sin(angle), -1.0)  # uphill along -y, to wall 5
    assert (toward_4 ^ toward_5).all()
    gap = np.where(toward_4, 3.0 - face - edge_x, edge_y - (3.0 + face)) / 0.2
    assert np.allclose(gap, np.rint(gap))
    assert set(np.rint(gap).astype(int)) == set(range(11))
    assert ((y[toward_4] + half[toward_4] <= 3.0).all()
            and (x[toward_5] - half[toward_5] >= 3.0).all())  # alongside the wall it faces


def test_moved_ramp_gaps_are_drawn_from_the_next_layouts_on():
    """`set_ramp_gaps(5, 7)`: the ramps of the next layouts stand 5, 6 or 7 cells short of the
    wall, measured from their edges as above, every one of the three drawn."""
    env = HideAndSeek("ramp-room-nudge", 256, seed=6)
    env.set_ramp_gaps(5, 7)
    env.reset()
    x, y, angle, half, edge_x, edge_y = ramp_pose(env)
    face = ph.WALL_THICKNESS / 2
    gap = np.where(np.isclose(angle, 0.0), 3.0 - face - edge_x, edge_y - 3.0 - face) / 0.2
    assert set(np.rint(gap).astype(int)) == {5, 6, 7} and np.allclose(gap, np.rint(gap))


def test_ramp_gaps_beyond_the_room_are_refused_and_the_gaps_kept():
    env = HideAndSeek("ramp-room-nudge", 2, seed=6)
    with pytest.raises(ValueError, match=r"at most 12 cells fit outside the room, got max 13"):
        env.set_ramp_gaps(11, 13)
    assert env.preset.ramp_gap == (1, 3) and env.rules.ramp_gap_max == 3


def test_ramp_turn_turns_that_share_of_wall_ramps_by_each_quarter_equally_often():
    """`ramp-room-turn` (`ramp_turn=0.5`): in about half of 2048 layouts the ramp is turned a
    quarter, a half or three quarters round from uphill toward the wall it stands by (wall 4
    left of the room, wall 5 above it), each about equally often; the rest face that wall."""
    x, y, angle, _, _, _ = ramp_pose(HideAndSeek("ramp-room-turn", 2048, seed=8))
    facing = np.where(x < 3.0, 0.0, -np.pi / 2)  # left of the room: +x; above it: -y
    quarters = np.rint((angle - facing) / (np.pi / 2)).astype(int) % 4
    assert np.allclose(np.cos(angle - facing), np.cos(quarters * np.pi / 2), atol=1e-6)
    counts = np.bincount(quarters, minlength=4)
    assert abs(counts[0] - 1024) < 4 * 23  # 4 binomial SDs (sqrt(2048 / 4) = 22.6)
    assert all(abs(n - 1024 / 3) < 4 * 17 for n in counts[1:])  # 341 each, SD about 17


def test_a_turned_wall_ramp_records_no_gap_and_a_facing_one_its_gap():
    """`ramp_gap` is the gap of a ramp that faces the wall; a ramp turned from facing it (half
    of `ramp-room-turn`'s) has none (NaN), so climbs from it are counted apart ("not_facing")."""
    env = HideAndSeek("ramp-room-turn", 256, seed=9)
    x, y, angle, _, edge_x, edge_y = ramp_pose(env)
    facing = np.where(x < 3.0, 0.0, -np.pi / 2)
    turned = ~np.isclose(np.cos(angle - facing), 1.0)
    gaps = env.episode_stats(np.arange(256))["ramp_gap"]
    face = ph.WALL_THICKNESS / 2
    expected = np.where(x < 3.0, 3.0 - face - edge_x, edge_y - 3.0 - face)
    assert turned.any() and (~turned).any()
    assert np.isnan(gaps[turned]).all()
    assert np.allclose(gaps[~turned], expected[~turned])


def test_each_episode_records_how_far_its_ramp_started_short_of_the_wall():
    """`ramp_gap` in the episode statistics is the gap measured from the spawned ramp's edge,
    as above; NaN for a ramp moved into the room, and in a game without a ramp."""
    env = HideAndSeek("ramp-room-near", 64, seed=5)
    _, _, angle, _, edge_x, edge_y = ramp_pose(env)
    face, ramp = ph.WALL_THICKNESS / 2, env.n_agents + env.n_boxes
    expected = np.where(np.isclose(angle, 0.0), 3.0 - face - edge_x, edge_y - 3.0 - face)
    stats = env.episode_stats(np.arange(64))
    assert np.allclose(stats["ramp_gap"], expected)
    env.world.pos[:, ramp] = (4.5, 1.5)  # moved into the room: not short of a wall from outside
    assert np.isnan(env.wall_ramp_gaps(np.arange(64))).all()
    assert np.isnan(HideAndSeek("fort", 4, seed=5).episode_stats(np.arange(4))["ramp_gap"]).all()


def covered_by_a_wall(walls, heights, point):
    """Does `point` lie inside a standing wall slab (centre x, y, half length, half thickness,
    angle)? Straight from the slab's geometry, not from find_doors' pairing of slabs."""
    for (x, y, half_length, half_thickness, angle), height in zip(walls, heights):
        dx, dy = point[0] - x, point[1] - y
        along = dx * math.cos(angle) + dy * math.sin(angle)
        across = -dx * math.sin(angle) + dy * math.cos(angle)
        if height > 0 and abs(along) <= half_length and abs(across) <= half_thickness:
            return True
    return False


def test_the_door_table_points_at_the_gaps_in_the_room_walls():
    """With observe_doors every agent observes each door's centre, which no wall covers while
    the wall stands 0.3 m to either side along it (the doorway is 0.4 m); the quadrant game has
    1-2 doors, its empty slot reads zeros."""
    env = HideAndSeek("quadrant", 32, seed=4, observe_doors=True)
    obs = env.observe()
    assert obs["doors"].shape == (32, env.n_agents, 8)
    assert (obs["doors"] == obs["doors"][:, :1]).all()  # the same for every agent of a world
    table = obs["doors"][:, 0].reshape(32, 2, 4)
    assert set(table[:, :, 3].sum(1)) == {1.0, 2.0}
    for w in range(32):
        walls, heights = env.world.walls[w], env.world.wall_height[w]
        for x, y, vertical, here in table[w]:
            if not here:
                assert (x, y, vertical) == (0, 0, 0)
                continue
            side = np.array([0.0, 0.3] if vertical else [0.3, 0.0])
            assert not covered_by_a_wall(walls, heights, (x, y))
            assert covered_by_a_wall(walls, heights, np.array([x, y]) + side)
            assert covered_by_a_wall(walls, heights, np.array([x, y]) - side)
    assert "doors" not in HideAndSeek("quadrant", 2, seed=4).observe()


def test_observing_the_doors_needs_the_quadrant_room():
    with pytest.raises(ValueError, match="observe_doors.*'tiny'.*expected 'quadrant'"):
        HideAndSeek("tiny", 2, observe_doors=True)


def place_cube_from_home(back, along, seed=3, n=16):
    """A ramp-room env whose cube each world sets by hand `back` m farther into the room and
    `along` m along the door's wall (toward the room's middle) from the spot where it closes
    the door: the wall's half thickness, the cube's half width and 1 cm of play in from the
    wall's line x = 3 or y = 3. Its episodes begun there."""
    env = HideAndSeek("ramp-room", n, seed=seed)
    cube, inset = env.n_agents, 0.05 + 0.25 + 0.01
    for w in range(n):
        (x_door, y_door, axis), = find_doors(env.world.walls[w], env.world.wall_height[w])
        if axis == 0:  # the wall x = 3, the room at x > 3: into it is +x, along it y
            sign = 1.0 if y_door < 1.5 else -1.0
            env.world.pos[w, cube] = (3.0 + inset + back, y_door + sign * along)
        else:  # the wall y = 3, the room at y < 3: into it is -y, along it x
            sign = 1.0 if x_door < 4.5 else -1.0
            env.world.pos[w, cube] = (x_door + sign * along, 3.0 - inset - back)
    env.start_episodes(np.arange(n))
    return env


def test_each_episode_records_how_far_its_cube_started_from_closing_the_door():
    """`cube_home` for a cube 0.3 m back and 0.4 m along the wall: 0.5 m whichever wall has
    the door; NaN in a game without the quadrant room."""
    env = place_cube_from_home(0.3, 0.4)
    assert np.allclose(env.episode_stats(np.arange(16))["cube_home"], 0.5)
    assert np.isnan(HideAndSeek("tiny", 4, seed=3).episode_stats(np.arange(4))["cube_home"]).all()


def test_each_episode_records_in_which_direction_its_cube_started_from_home():
    """`cube_bearing` against the analytic angle atan2(along, back): 0 degrees straight back,
    53.13 for 0.3 m back and 0.4 m along, 90 beside the door along its wall, 90 too for a cube
    flush against that wall, 1 cm nearer it than home; NaN at home."""
    expected = (0.0, math.degrees(math.atan2(0.4, 0.3)), 90.0, 90.0)
    for (back, along), angle in zip(((0.5, 0.0), (0.3, 0.4), (0.0, 0.6), (-0.01, 0.6)), expected):
        bearing = place_cube_from_home(back, along).episode_stats(np.arange(16))["cube_bearing"]
        assert np.allclose(bearing, angle)
    at_home = place_cube_from_home(0.0, 0.0).episode_stats(np.arange(16))
    assert np.allclose(at_home["cube_home"], 0.0) and np.isnan(at_home["cube_bearing"]).all()


ROOT5 = math.sqrt(5.0)


@pytest.mark.parametrize("spot, heading, distance, facing", [
    ((1.0, 4.0), 0.0, ROOT5, 2 / ROOT5),  # the room's nearest point (3, 3): the way (2, -1)
    ((1.0, 4.0), math.pi, ROOT5, -2 / ROOT5),  # turned round
    ((1.0, 4.0), math.pi / 2, ROOT5, -1 / ROOT5),  # uphill along +y
    ((2.0, 1.5), 0.0, 1.0, 1.0), ((4.5, 4.5), math.pi / 2, 1.5, -1.0),
    ((4.5, 1.5), 0.0, 0.0, math.nan)])  # in the room: no way to it
def test_each_episode_records_how_its_ramp_stood_to_the_room_when_preparation_ended(
        spot, heading, distance, facing):
    """`ramp_room_prep` against the distance to the square x 3..6, y 0..3 worked by hand, and
    `ramp_facing_prep` against the cosine of the uphill heading with the way to its nearest
    point: NaN until preparation ends, then as the ramp stood (the agents idle: it stays)."""
    env, _ = staged("ramp-room", hiders=[(5.5, 0.5, 0), (5.5, 1.0, 0)], seekers=[(0.5, 0.5, 0)],
                    objects=[(RAMP, *spot, heading, (0.25, 0.25))], after_prep=False)
    assert np.isnan(env.ramp_room_prep[0]) and np.isnan(env.ramp_facing_prep[0])
    for _ in range(env.prep_steps):
        env.step(idle(env))
    stats = env.episode_stats(np.array([0]))
    assert stats["ramp_room_prep"][0] == pytest.approx(distance, abs=1e-6)
    assert stats["ramp_facing_prep"][0] == pytest.approx(facing, abs=1e-6, nan_ok=True)


def test_ramp_room_prep_is_nan_without_the_room_or_a_ramp():
    for preset in ("tiny", "fort"):  # no quadrant room; a room but no ramp
        env = HideAndSeek(preset, 2, seed=0)
        for _ in range(env.prep_steps):
            env.step(idle(env))
        stats = env.episode_stats(np.arange(2))
        assert np.isnan(stats["ramp_room_prep"]).all() and np.isnan(stats["ramp_facing_prep"]).all()


def test_a_wall_ramp_takes_a_seeker_over_the_room_wall():
    """A seeker set just downhill of the ramp and pushed uphill climbs it and drops into the room:
    the spawn's heading is the ramp's uphill direction, whichever wall it stands against."""
    game = dataclasses.replace(PRESETS["fort-ramp-wall"], horizon=16, prep_fraction=0.0)
    env = HideAndSeek(game, 16, seed=3, auto_reset=False)
    world, seeker, cube = env.world, 1, env.n_agents
    ramp = cube + env.n_boxes
    world.pos[:, 0], world.pos[:, cube] = (0.5, 5.5), (1.3, 5.2)  # hider and cube out of the way
    uphill = np.stack([np.cos(world.angle[:, ramp]), np.sin(world.angle[:, ramp])], -1)
    world.pos[:, seeker] = world.pos[:, ramp] - 0.5 * uphill
    env.start_episodes(list(range(16)))
    push = np.tile(IDLE, (16, 2, 1))
    push[:, seeker, :2] = 5 + 4 * np.rint(uphill).astype(int)  # bins 1 or 9 along the slope
    heights = []
    for _ in range(game.horizon):
        env.step(push)
        heights.append(world.z[:, seeker].copy())
    assert (np.max(heights, axis=0) >= 0.3).all()
    assert ((world.pos[:, seeker, 0] > 3.0) & (world.pos[:, seeker, 1] < 3.0)).all()  # in the room


def footprints(world, w):
    """Axis-aligned rectangles (x0, y0, x1, y1) of the bodies and standing walls of world w."""
    rects = []
    for b in np.flatnonzero(world.kind[w] != ph.EMPTY):
        hx, hy = world.half[w, b]
        if abs(math.sin(world.angle[w, b])) > 0.5 and world.kind[w, b] != ph.AGENT:
            hx, hy = hy, hx
        rects.append((*(world.pos[w, b] - (hx, hy)), *(world.pos[w, b] + (hx, hy))))
    for m in np.flatnonzero(world.wall_height[w] > 0):
        cx, cy, hl, ht, angle = world.walls[w, m]
        hx, hy = (ht, hl) if abs(math.sin(angle)) > 0.5 else (hl, ht)
        rects.append((cx - hx, cy - hy, cx + hx, cy + hy, "wall"))
    return rects


@pytest.mark.parametrize("preset", ["quadrant", "full", "ramp-room-near", "ramp-room-turn"])
def test_spawned_bodies_overlap_nothing(preset):
    env = HideAndSeek(preset, 40, seed=8)
    for w in range(env.n_worlds):
        rects = footprints(env.world, w)
        for i, a in enumerate(rects):
            for b in rects[i + 1:]:
                if len(a) == 5 and len(b) == 5:
                    continue  # walls meet walls at corners
                overlap_x = min(a[2], b[2]) - max(a[0], b[0])
                overlap_y = min(a[3], b[3]) - max(a[1], b[1])
                assert min(overlap_x, overlap_y) <= 1e-9, (w, a, b)


def blocked_edges(world, w, n=30, cell=0.2):
    """Which edges between neighbouring cells an inner wall covers (the edge's midpoint lies in
    a wall slab): right[i, j] between cells (i, j) and (i+1, j); up[i, j] above cell (i, j)."""
    slabs = [world.walls[w, m] for m in np.flatnonzero(world.wall_height[w] == 0.5)]

    def covered(x, y):
        for cx, cy, hl, ht, angle in slabs:
            u = (x - cx) * math.cos(angle) + (y - cy) * math.sin(angle)
            v = -(x - cx) * math.sin(angle) + (y - cy) * math.cos(angle)
            if abs(u) <= hl and abs(v) <= ht:
                return True
        return False
    right = np.array([[covered((i + 1) * cell, (j + 0.5) * cell) for j in range(n)]
                      for i in range(n - 1)])
    up = np.array([[covered((i + 0.5) * cell, (j + 1) * cell) for j in range(n - 1)]
                   for i in range(n)])
    return right, up


def flood_fill(right, up, n=30):
    reached = np.zeros((n, n), bool)
    reached[0, 0] = True
    queue = deque([(0, 0)])
    while queue:
        i, j = queue.popleft()
        steps = [(i + 1, j, i < n - 1 and not right[i, j]),
                 (i - 1, j, i > 0 and not right[i - 1, j]),
                 (i, j + 1, j < n - 1 and not up[i, j]),
                 (i, j - 1, j > 0 and not up[i, j - 1])]
        for a, b, open_edge in steps:
            if open_edge and not reached[a, b]:
                reached[a, b] = True
                queue.append((a, b))
    return reached


def test_random_rooms_always_connect_through_doors():
    env = HideAndSeek("full", 48, seed=9)
    room_counts = set()
    for w in range(env.n_worlds):
        right, up = blocked_edges(env.world, w)
        inner_walls = (env.world.wall_height[w] == 0.5).sum() // 2  # a door splits each in two
        room_counts.add(inner_walls + 1)
        assert (right.sum() + up.sum() > 0) == (inner_walls > 0)  # the reference sees the walls
        assert flood_fill(right, up).all(), f"world {w} has a cell no door leads to"
    assert room_counts == {1, 2, 3, 4}


def test_quadrant_door_lets_an_agent_through_but_not_a_cube():
    env = HideAndSeek("quadrant", 16, seed=10)
    gaps = []
    for w in range(env.n_worlds):
        for vertical in (True, False):  # the room's two walls: x = 3 and y = 3
            pieces = []
            for m in np.flatnonzero(env.world.wall_height[w] == 0.5):
                cx, cy, hl, _, angle = env.world.walls[w, m]
                if (abs(math.sin(angle)) > 0.5) == vertical:
                    centre = cy if vertical else cx
                    pieces.append((centre - hl, centre + hl))
            pieces.sort()
            gaps += [b[0] - a[1] for a, b in zip(pieces, pieces[1:])]
    assert 16 <= len(gaps) <= 32  # one or two doors per world
    assert np.allclose(gaps, 0.4)
    assert 2 * ph.Physics().agent_radius < 0.4 < 2 * CUBE[0]


@pytest.mark.parametrize("locked", [False, True])
def test_agent_runs_through_a_door_unless_a_locked_cube_closes_it(locked):
    door = [(3, 0, 3, 1.75, 0.5), (3, 2.25, 3, 3, 0.5)]  # wall x = 3, door 1.8..2.2 (ends +0.05)
    cube = [(BOX, 3.31, 2.0, 0.0, CUBE)] if locked else []
    env, _ = staged(hiders=[(5.5, 0.5, 0)], seekers=[(2, 2.05, 0)], objects=cube, walls=door)
    env.world.locked_by[0, env.n_agents] = HIDERS if locked else ph.NO_TEAM
    run = idle(env)
    run[0, 2, 0] = 10  # the seeker: full force along +x, through the door
    for _ in range(20):
        env.step(run)
    assert (env.world.pos[0, 2, 0] < 3) == locked


# ---------------------------------------------------------------------------------------------
# Penalties
# ---------------------------------------------------------------------------------------------


def test_agent_out_of_bounds_gets_minus_ten_instead_of_its_reward():
    # The full game's bounds are the 18 m square [-6, 12]^2. The seeker sees both hiders.
    env, _ = staged("full", hiders=[(12.5, 3, 0), (11.5, 3, 0)], seekers=[(1, 3, 0)])
    _, rewards, _, _ = env.step(idle(env))
    assert rewards[0, [0, 1, 3]].tolist() == [-10, -1, 1]  # replaced, not -11


def test_box_out_of_the_quadrant_costs_every_agent_ten():
    env, _ = staged(hiders=[(1, 3, 0)], seekers=[(2, 5, 0)], objects=[(BOX, 6.2, 3, 0, CUBE)])
    _, rewards, _, _ = env.step(idle(env))
    assert rewards[0].tolist() == [-10, 0, -10, 0]


# ---------------------------------------------------------------------------------------------
# Statistics, episodes, padding
# ---------------------------------------------------------------------------------------------


def test_statistics_match_a_scripted_episode():
    """The hider grabs the cube in front of it, drags it about 1 m during the preparation phase,
    lets go and locks it, and keeps pressing lock (releasing it would unlock it)."""
    game = dataclasses.replace(PRESETS["fort"], name="script", horizon=24, prep_fraction=0.5)
    env, _ = staged(game, hiders=[(1, 2, 0)], seekers=[(5, 5, 0)],
                    objects=[(BOX, 1.45, 2, 0, CUBE)], after_prep=False, auto_reset=False)
    spawn = env.world.pos[0, 2].copy()
    for t in range(env.preset.horizon):
        act = idle(env)
        moved = np.linalg.norm(env.world.pos[0, 2] - spawn)
        if t < 9:
            act[0, 0] = (5, 8 if moved < 0.8 else 5, 5, 1, 0)  # drag along +y, then hold
        else:
            act[0, 0] = (5, 5, 5, 0, 1)  # release and lock
        _, _, dones, info = env.step(act)
        if env.t[0] == env.prep_steps:
            move_at_prep_end = np.linalg.norm(env.world.pos[0, 2] - spawn)
            locked_at_prep_end = env.world.locked_by[0, 2] == HIDERS
    stats = {key: value[0] for key, value in info["episodes"].items()}
    assert dones[0] and stats["length"] == 24 and stats["world"] == 0
    assert 0.8 < move_at_prep_end < 1.2 and locked_at_prep_end
    assert stats["max_box_move_prep"] == pytest.approx(move_at_prep_end)
    assert stats["max_box_move"] == pytest.approx(np.linalg.norm(env.world.pos[0, 2] - spawn))
    assert stats["max_box_move"] == pytest.approx(move_at_prep_end)  # locked: it stayed
    assert stats["num_box_lock_prep"] == 1 and stats["num_box_lock"] == 1
    assert stats["max_ramp_move_prep"] == stats["max_ramp_move"] == 0
    assert stats["num_ramp_lock"] == 0
    assert stats["hider_return"] == 12 and stats["seeker_return"] == -12  # never seen


def test_box_unlocks_count_the_unlocks_after_preparation():
    """The hider presses lock at the cube in front of it on every step but three: one in the
    preparation phase (unlocks it, not counted) and two after it (each unlocks it, counted)."""
    game = dataclasses.replace(PRESETS["fort"], name="unlock", horizon=24, prep_fraction=0.5)
    env, _ = staged(game, hiders=[(1, 2, 0)], seekers=[(5, 5, 0)],
                    objects=[(BOX, 1.45, 2, 0, CUBE)], after_prep=False, auto_reset=False)
    released, seen = (3, 15, 19), []  # steps without the lock button; unlocks seen after prep
    for t in range(env.preset.horizon):
        act = idle(env)
        act[0, 0, 4] = 0 if t in released else 1
        was_locked = env.world.locked_by[0, 2] != ph.NO_TEAM
        _, _, dones, info = env.step(act)
        if was_locked and env.world.locked_by[0, 2] == ph.NO_TEAM:
            seen.append(t)
    assert seen == list(released)  # every release unlocked it, the next press locked it again
    assert dones[0] and info["episodes"]["box_unlocks"].tolist() == [2]


# A room x in [3, 6], y in [0, 3] inside 4 m outer walls, with one 0.4 m door, y in [1.3, 1.7],
# in its west wall (place_wall extends each end by half the 0.1 m thickness). The hider is in
# the room, the seeker outside. A cube flush against the wall's inner face has its centre at x
# = 3.05 + 0.25.
ROOM_WALLS = [(0, 0, 6, 0, 4), (6, 0, 6, 6, 4), (6, 6, 0, 6, 4), (0, 6, 0, 0, 4),
              (3, 0, 3, 1.25, 0.5), (3, 1.75, 3, 3, 0.5), (3, 3, 6, 3, 0.5)]
FLUSH_X = 3.30


def sealed_with_cube_at(x, y):
    objects = [] if x is None else [(BOX, x, y, 0.0, CUBE)]
    env, _ = staged("fort", hiders=[(4.5, 1.5, 0)], seekers=[(1, 4, 0)], objects=objects,
                    walls=ROOM_WALLS)
    return bool(env.sealed_off(np.array([0]))[0])


def test_an_open_door_lets_the_seeker_walk_to_the_hider():
    assert not sealed_with_cube_at(None, None)


def test_agents_touching_two_walls_can_still_meet_through_an_open_door():
    """Both agents stand in corners, touching two walls each: their own cells are blocked."""
    env, _ = staged("fort", hiders=[(5.8, 0.2, 0)], seekers=[(0.2, 5.8, 0)], walls=ROOM_WALLS)
    assert not env.sealed_off(np.array([0]))[0]


# An agent (0.3 m across) passes a gap of at least 0.3 m. On the 5 cm grid the answer is exact
# to within a cell, leaning towards sealed: gaps up to 0.32 m count as sealed, from 0.33 m open.
@pytest.mark.parametrize("gap, sealed", [(-0.05, True), (0.15, True), (0.25, True),
                                         (0.35, False), (0.45, False)])
def test_a_cube_slid_along_the_wall_seals_the_door_until_an_agent_fits_past(gap, sealed):
    """Slid along the wall by s, the cube leaves a gap of s - 0.05 m beside the door's edge."""
    assert sealed_with_cube_at(FLUSH_X, 1.5 + gap + 0.05) == sealed


@pytest.mark.parametrize("gap, sealed", [(0.1, True), (0.25, True), (0.35, False), (0.45, False)])
def test_a_cube_away_from_the_wall_seals_only_a_gap_narrower_than_an_agent(gap, sealed):
    assert sealed_with_cube_at(FLUSH_X + gap, 1.5) == sealed


def sealed_by_dilation(env, w, cell=0.05, margin=0.5, radius=0.15):
    """Brute force: the free cells (centres farther than an agent's radius from every wall and
    box, each cell tested against each rectangle in numpy), grown from the seeker's 3 x 3 cells
    one ring at a time until nothing changes; sealed when no hider's 3 x 3 cells were reached."""
    s = env.world
    n = round((env.preset.arena + 2 * margin) / cell)
    x, y = np.meshgrid((np.arange(n) + 0.5) * cell - margin, (np.arange(n) + 0.5) * cell - margin,
                       indexing="ij")
    rects = [tuple(s.walls[w, m]) for m in range(s.walls.shape[1]) if s.wall_height[w, m] > 0]
    rects += [(*s.pos[w, b], *s.half[w, b], s.angle[w, b]) for b in range(env.n_agents,
                                                                        env.n_bodies)
              if s.kind[w, b] == BOX]
    free = np.ones((n, n), bool)
    for cx, cy, hx, hy, heading in rects:
        c, sn = math.cos(heading), math.sin(heading)
        qx = np.abs(c * (x - cx) + sn * (y - cy)) - hx
        qy = np.abs(-sn * (x - cx) + c * (y - cy)) - hy
        free &= np.maximum(qx, 0) ** 2 + np.maximum(qy, 0) ** 2 >= radius ** 2

    def around(agent):
        i, j = (min(n - 1, max(0, int((v + margin) / cell))) for v in s.pos[w, agent])
        near = np.zeros((n, n), bool)
        near[max(0, i - 1):i + 2, max(0, j - 1):j + 2] = True
        return near

    hiders, seekers = (np.flatnonzero(env.team[w] == side) for side in (HIDERS, SEEKERS))
    reached = np.logical_or.reduce([around(a) for a in seekers]) & free
    while True:
        grown = reached.copy()
        grown[1:] |= reached[:-1]
        grown[:-1] |= reached[1:]
        grown[:, 1:] |= reached[:, :-1]
        grown[:, :-1] |= reached[:, 1:]
        grown &= free
        if (grown == reached).all():
            return not any((around(a) & reached).any() for a in hiders)
        reached = grown


def test_sealed_agrees_with_a_brute_force_fill_around_a_jittered_cube():
    """64 worlds with the cube thrown about the doorway, the hider anywhere in the room and the
    seeker anywhere outside it: a mix of forts and open doors, each answered alike."""
    W, rng = 64, np.random.default_rng(5)
    env, _ = staged("fort", hiders=[(4.5, 1.5, 0)], seekers=[(1, 4, 0)],
                    objects=[(BOX, FLUSH_X, 1.5, 0.0, CUBE)], walls=ROOM_WALLS, n_worlds=W)
    cube = env.n_agents
    env.world.pos[:, cube] = np.stack([FLUSH_X + rng.uniform(-0.1, 0.4, W),
                                       1.5 + rng.uniform(-0.35, 0.35, W)], axis=1)
    env.world.angle[:, cube] = rng.uniform(-0.6, 0.6, W)
    env.world.pos[:, 0] = rng.uniform((3.2, 0.2), (5.8, 2.8), (W, 2))  # the hider, in the room
    env.world.pos[:, 1] = rng.uniform((0.2, 0.2), (2.8, 5.8), (W, 2))  # the seeker, outside
    sealed = env.sealed_off(np.arange(W))
    assert sealed.tolist() == [sealed_by_dilation(env, w) for w in range(W)]
    assert 10 <= sealed.sum() <= W - 10  # both answers are tested


@pytest.mark.parametrize("closed_after, sealed", [(2, 1), (3, 0)])
def test_sealed_is_read_when_preparation_ends(closed_after, sealed):
    """The cube starts 0.5 m into the room and is put in the doorway after `closed_after` of
    the episode's 6 steps: in time for the end of preparation (step 3), or just too late."""
    game = dataclasses.replace(PRESETS["fort"], name="sealed", horizon=6, prep_fraction=0.5)
    env, _ = staged(game, hiders=[(4.5, 1.5, 0)], seekers=[(1, 4, 0)],
                    objects=[(BOX, FLUSH_X + 0.5, 1.5, 0.0, CUBE)], walls=ROOM_WALLS,
                    after_prep=False, auto_reset=False)
    cube = env.n_agents
    for t in range(game.horizon):
        if t == closed_after:
            env.world.pos[0, cube] = (FLUSH_X, 1.5)
        _, _, dones, info = env.step(idle(env))
    assert dones[0] and info["episodes"]["hiders_sealed_prep"].tolist() == [sealed]


@pytest.mark.parametrize("opened_after, held", [(6, 1), (5, 0)])
def test_a_fort_that_held_is_read_after_the_last_step(opened_after, held):
    """The cube stands in the doorway from the start and is moved 0.5 m into the room after
    `opened_after` of the episode's 6 steps: never (the fort held), or just before the last
    step (it did not). Either way the hider was sealed off when preparation ended (step 3)."""
    game = dataclasses.replace(PRESETS["fort"], name="held", horizon=6, prep_fraction=0.5)
    env, _ = staged(game, hiders=[(4.5, 1.5, 0)], seekers=[(1, 4, 0)],
                    objects=[(BOX, FLUSH_X, 1.5, 0.0, CUBE)], walls=ROOM_WALLS,
                    after_prep=False, auto_reset=False)
    cube = env.n_agents
    for t in range(game.horizon):
        if t == opened_after:
            env.world.pos[0, cube] = (FLUSH_X + 0.5, 1.5)
        _, _, dones, info = env.step(idle(env))
    episode = info["episodes"]
    assert dones[0] and episode["hiders_sealed_prep"].tolist() == [1]
    assert episode["hiders_sealed"].tolist() == [held]


def test_statistics_record_how_high_a_seeker_climbed():
    """A seeker runs up a ramp set against an inner wall and over it."""
    game = dataclasses.replace(PRESETS["ramp"], name="climb", horizon=12, prep_fraction=0.0)
    env, _ = staged(game, hiders=[(5.5, 5.5, 0)], seekers=[(0.8, 3, 0)],
                    objects=[(RAMP, 1.6, 3.0, 0.0, CUBE)], walls=[(1.85, 2, 1.85, 4, 0.5)],
                    after_prep=False, auto_reset=False)
    run, heights = idle(env), []
    run[0, 2, 0] = 9
    for _ in range(env.preset.horizon):
        _, _, _, info = env.step(run)
        heights.append(env.world.z[0, 2])
    assert env.world.pos[0, 2, 0] > 2  # over the wall
    assert info["episodes"]["max_seeker_height"][0] == max(heights) > 0.3


@pytest.mark.parametrize("x, y, inside", [(4.5, 1.5, 1), (1.5, 1.5, 0), (4.5, 4.5, 0)])
def test_statistics_record_a_seeker_that_stood_in_the_room(x, y, inside):
    """The seeker is set down for one step at (x, y): in the quadrant room (x > 3, y < 3), or
    outside it on either side, then put back outside for the episode's last steps."""
    game = dataclasses.replace(PRESETS["fort"], name="in-room", horizon=4, prep_fraction=0.0)
    env, _ = staged(game, hiders=[(5.5, 0.5, 0)], seekers=[(1, 4, 0)], walls=ROOM_WALLS,
                    after_prep=False, auto_reset=False)
    seeker = env.preset.hiders[1]
    for t in range(game.horizon):
        env.world.pos[0, seeker] = (x, y) if t == 1 else (1, 4)
        _, _, dones, info = env.step(idle(env))
    assert dones[0] and info["episodes"]["seeker_in_room"].tolist() == [inside]


def test_a_layout_without_the_quadrant_room_reports_no_seeker_in_it():
    env = HideAndSeek("tiny", 2, seed=0, auto_reset=False)
    for _ in range(env.preset.horizon):
        _, _, _, info = env.step(idle(env))
    in_room = info["episodes"]["seeker_in_room"]
    assert len(in_room) == 2 and np.isnan(in_room).all()


def test_a_seeker_that_stood_in_the_room_is_forgotten_by_the_next_episode():
    """Episode 1: the seeker is set down in the room for one step; episode 2 (a fresh layout,
    the seeker spawned outside, everyone idle) reports 0."""
    game = dataclasses.replace(PRESETS["fort"], name="in-room-twice", horizon=3,
                               prep_fraction=0.0)
    env, _ = staged(game, hiders=[(5.5, 0.5, 0)], seekers=[(1, 4, 0)], walls=ROOM_WALLS,
                    after_prep=False)
    seeker, reported = env.preset.hiders[1], []
    for t in range(2 * game.horizon):
        if t == 1:
            env.world.pos[0, seeker] = (4.5, 1.5)
        elif t == 2:
            env.world.pos[0, seeker] = (1, 4)
        _, _, dones, info = env.step(idle(env))
        if dones[0]:
            reported += info["episodes"]["seeker_in_room"].tolist()
    assert reported == [1, 0]


def test_episode_end_resets_the_world_and_reports_statistics():
    env = HideAndSeek("tiny", 3, seed=11)
    rng = np.random.default_rng(0)
    for t in range(env.preset.horizon):
        before = env.world.pos.copy()
        obs, _, dones, info = env.step(random_actions(env, rng))
        assert dones.all() == (t == env.preset.horizon - 1) and dones.all() == dones.any()
    assert info["episodes"]["world"].tolist() == [0, 1, 2]
    assert (env.t == 0).all() and (obs["self"][..., 10] == 0).all()  # the first observation
    assert np.abs(env.world.pos - before).max() > 0.5  # a new layout
    assert set(info["episodes"]) >= {"hiders_sealed_prep", "hiders_sealed", "box_unlocks",
                                     "max_box_move_prep", "max_box_move",
                                     "max_ramp_move_prep",
                                     "max_ramp_move", "num_box_lock_prep", "num_box_lock",
                                     "num_ramp_lock_prep", "num_ramp_lock", "hider_return",
                                     "seeker_return", "length"}


def test_padding_agents_never_act_and_get_zero_reward():
    env = HideAndSeek("full", 12, seed=12)
    assert not env.agent_exists.all()  # 1-3 v 1-3 in 3 + 3 slots
    padding = ~env.agent_exists
    assert (env.team[padding] == -1).all()
    full_force = np.tile([10, 10, 10, 1, 1], (12, env.n_agents, 1))
    for _ in range(env.prep_steps + 5):
        _, rewards, _, _ = env.step(full_force)
        assert (rewards[padding] == 0).all()
        assert (env.world.pos[:, :env.n_agents][padding] == 0).all()


def test_same_seed_same_episode():
    def play(seed):
        env = HideAndSeek("full", 2, seed=seed)
        rng = np.random.default_rng(0)
        history = [env.reset()]
        for _ in range(260):  # past one episode end
            history.append(env.step(random_actions(env, rng)))
        return history
    def same(a, b):
        if isinstance(a, dict):
            return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
        if isinstance(a, tuple):
            return all(same(x, y) for x, y in zip(a, b))
        return np.array_equal(a, b, equal_nan=True)  # (seeker_in_room: NaN without the room)
    first, again, other = play(13), play(13), play(14)
    assert all(same(a, b) for a, b in zip(first, again))
    assert any(step[2].any() for step in first[1:])  # the comparison spans an episode end
    assert not same(first[0], other[0])


# ---------------------------------------------------------------------------------------------
# Clear errors
# ---------------------------------------------------------------------------------------------


def test_unknown_preset_name_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown preset 'quadrnt'; expected one of"):
        HideAndSeek("quadrnt")


@pytest.mark.parametrize("change, message", [
    (dict(boxes=(40, 40)), "need .* cells"),
    (dict(hiders=(120, 120)), "need .* cells"),
    (dict(prep_fraction=1.5), "prep_fraction must be in 0..1"),
    (dict(hiders=(0, 1)), "hiders must be a range"),
    (dict(seekers=2), r"seekers must be a range \(min, max\) of two ints, got 2"),
    (dict(layout="rooms"), "spawn 'outside' needs the quadrant layout's room"),
    (dict(layout="maze"), "layout 'maze' is not one of"),
    (dict(box_spawn="wall"), "box_spawn 'wall' is a ramp's spawn"),
    (dict(ramp_gap=(0, 3)), r"ramp_gap \(0, 3\) is a distance from the room's wall: it needs "
     "ramp_spawn 'wall', got 'anywhere'"),
    (dict(ramp_spawn="wall", ramp_gap=(0, 13)), "at most 12 cells fit outside the room"),
    (dict(ramp_spawn="wall", ramp_gap=(3, 1)), r"ramp_gap must be a range \(min, max\) of cells"),
    (dict(ramp_turn=0.5), r"ramp_turn 0.5 turns a ramp from facing the room's wall: it needs "
     "ramp_spawn 'wall', got 'anywhere'"),
    (dict(ramp_spawn="wall", ramp_turn=1.5), r"ramp_turn is a share of episodes, expected 0..1, "
     "got 1.5"),
    (dict(ramp_spawn="wall", seeker_spawn="anywhere", box_spawn="anywhere", layout="arena"),
     "ramp_spawn 'wall' needs the quadrant layout's room"),
])
def test_impossible_settings_are_clear_errors(change, message):
    with pytest.raises(ValueError, match=message):
        HideAndSeek(dataclasses.replace(PRESETS["quadrant"], **change))


@pytest.mark.parametrize("actions, message", [
    (np.full((2, 4, 4), 5), r"shape \(2, 4, 4\), expected \[W, A, 5\]"),
    (np.full((2, 4, 5), 5.0), "dtype float64, expected an integer dtype"),
    (np.tile([5, 5, 11, 0, 0], (2, 4, 1)), r"actions\[0, 0, 2\] = 11 is out of range: turn bin"),
    (np.tile([5, 5, 5, 0, -1], (2, 4, 1)), r"actions\[0, 0, 4\] = -1 is out of range: lock"),
])
def test_bad_actions_are_clear_errors(actions, message):
    env = HideAndSeek("quadrant", 2, seed=0)
    with pytest.raises(ValueError, match=message):
        env.step(actions)


def test_every_preset_plays_an_episode_and_renders():
    for name in PRESETS:
        env = HideAndSeek(name, 2, seed=15)
        rng = np.random.default_rng(0)
        for _ in range(env.preset.horizon):
            _, _, dones, info = env.step(random_actions(env, rng))
        assert dones.all() and len(info["episodes"]["world"]) == 2
        frame = env.render(1)
        assert frame.dtype == np.uint8 and frame.shape[2] == 3 and frame.std() > 10


def test_a_small_render_keeps_the_header_text_that_fits():
    """At 64 pixels the header's "PREP 0/32" is wider than the frame: the letters that fit are
    drawn, the rest left out (it used to fail on the first letter past the edge)."""
    env = HideAndSeek("ramp-room-lock", 1, seed=0)
    frame = env.render(0, size=64)
    assert frame.shape[1] == 64
    np.testing.assert_array_equal(frame[:20, :14], env.render(0, size=320)[:20, :14])  # "P"


# ---------------------------------------------------------------------------------------------
# The PettingZoo face
# ---------------------------------------------------------------------------------------------


def test_pettingzoo_parallel_api():
    pytest.importorskip("pettingzoo")
    from pettingzoo.test import parallel_api_test

    parallel_api_test(parallel_env("quadrant", seed=0), num_cycles=100)
    env = parallel_env("full", seed=1, render_mode="rgb_array")
    obs, _ = env.reset(seed=2)
    assert set(env.agents) <= set(agent_names("full"))
    for name in env.agents:
        assert env.observation_space(name).contains(obs[name])
    assert env.render().ndim == 3


def test_preset_dataclass_is_accepted_as_well_as_a_name():
    env = HideAndSeek(Preset("mine", horizon=10), 1, seed=0)
    assert env.preset.horizon == 10 and env.prep_steps == 4


def test_worlds_pickled_before_a_statistic_was_added_still_play():
    env = HideAndSeek("fort", 2, seed=3)
    del env.prep_stats["hiders_sealed_prep"]  # as pickled by an env.py without it
    restored = pickle.loads(pickle.dumps(env))
    for _ in range(restored.preset.horizon):
        _, _, dones, info = restored.step(idle(restored))
    assert dones.all() and len(info["episodes"]["hiders_sealed_prep"]) == 2
