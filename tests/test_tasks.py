"""Specifications of tasks.py: each task's reward and success rule on scripted episodes, the
hide-and-seek observation layout, the intrinsic bonuses, and the drawing. Worlds are small (1 to
16) to stay fast; transfer.py's training on them is tests/test_transfer.py's."""

import math
import pickle

import numpy as np
import pytest

import env as game
import tasks
from physics import BOX, EMPTY, HIDERS, NO_TEAM

IDLE = np.array([[[5, 5, 5, 0, 0]]])  # [W=1, A=1, 5]
LOCK = np.array([[[5, 5, 5, 0, 1]]])
pytestmark = pytest.mark.usefixtures("one_thread")


def empty_rooms(env):
    """Take down every inner wall of world 0 (the outer four stay)."""
    env.world.wall_height[0, 4:] = 0.0


def put(env, slot, x, y, angle=0.0):
    env.world.pos[0, slot], env.world.angle[0, slot] = (x, y), angle
    env.world.vel[0, slot], env.world.spin[0, slot] = 0.0, 0.0


def step(env, action):
    obs, rewards, dones, info = env.step(action)
    return float(rewards[0, 0]), bool(dones[0]), info


# --- observations ----------------------------------------------------------------------------


@pytest.mark.parametrize("task", list(tasks.FIVE_TASKS) + ["explore"])
def test_observations_have_the_hide_and_seek_layout(task):
    quadrant = game.HideAndSeek("quadrant", 1, seed=0)
    bonus = tasks.CountBonus(0.1, 0.5) if task == "explore" else None
    obs = tasks.TaskEnv(task, 2, seed=0, bonus=bonus).reset()
    assert set(obs) == set(quadrant.observe())
    assert tasks.OBS_SIZES == quadrant.obs_sizes
    for key, size in quadrant.obs_sizes.items():
        assert obs[key].shape[-1] == size and obs[key].dtype == np.float32
    assert obs["self"].shape == (2, 1, 11)
    assert (obs["self"][..., 9] == 1).all()  # team flag: a hider
    assert (obs["self"][..., 10] == 0).all()  # preparation progress
    assert not obs["exists_agents"].any() and not obs["visible_agents"].any()  # empty slot
    assert obs["ramps"].shape[2] >= 1  # the ramp stream keeps at least one slot


# --- lock and return -------------------------------------------------------------------------


@pytest.fixture
def lock_return():
    env = tasks.TaskEnv("lock-return", 1, seed=0)
    env.reset()
    empty_rooms(env)
    put(env, 0, 1.0, 1.0)  # spawn
    put(env, tasks.FIRST_BOX, 4.0, 4.0)
    env.start_episodes([0])
    return env


def test_box_locked_then_agent_returns_is_paid_lock_approach_and_home(lock_return):
    env, spawn, box = lock_return, np.array([1.0, 1.0]), np.array([4.0, 4.0])
    beside = box + (0.45, 0.0)  # 0.05 m from the box's face, facing it
    put(env, 0, *beside, math.pi)
    reward, _, _ = step(env, IDLE)  # target: the box, 0.5 per metre closer
    closer = np.linalg.norm(spawn - box) - np.linalg.norm(beside - box)
    assert reward == pytest.approx(0.5 * closer, abs=1e-3)
    reward, _, _ = step(env, LOCK)  # a new lock: +5; the target is now the spawn point
    assert env.world.locked_by[0, tasks.FIRST_BOX] == HIDERS
    assert reward == pytest.approx(5.0, abs=1e-3)
    put(env, 0, *spawn)  # back home, the box stays locked (nobody of the team beside it)
    reward, _, _ = step(env, IDLE)
    assert reward == pytest.approx(0.5 * np.linalg.norm(beside - spawn) + 1.0, abs=1e-3)
    reward, _, _ = step(env, IDLE)  # every step at home with the box locked: +1
    assert reward == pytest.approx(1.0, abs=1e-3)
    for _ in range(env.task.horizon - 5):
        step(env, IDLE)
    _, done, info = step(env, IDLE)
    assert done and info["episodes"]["success"][0] == 1.0


def test_unlocking_the_box_costs_five(lock_return):
    env = lock_return
    put(env, 0, 4.45, 4.0, math.pi)
    step(env, IDLE)
    step(env, LOCK)
    reward, _, _ = step(env, IDLE)  # in reach, not pressing lock: the team unlocks it
    assert env.world.locked_by[0, tasks.FIRST_BOX] == NO_TEAM
    assert reward == pytest.approx(-5.0, abs=1e-3)


def test_lock_return_without_a_lock_is_no_success(lock_return):
    env = lock_return
    for _ in range(env.task.horizon - 1):
        step(env, IDLE)
    _, done, info = step(env, IDLE)
    assert done and info["episodes"]["success"][0] == 0.0


# --- sequential lock -------------------------------------------------------------------------


@pytest.fixture
def sequential():
    env = tasks.TaskEnv("sequential-lock", 1, seed=0)
    env.reset()
    empty_rooms(env)
    for k, x in enumerate((1.0, 2.5, 4.0, 5.0)):
        put(env, tasks.FIRST_BOX + k, x, 3.0)
    for k in range(3):
        put(env, tasks.FIRST_BOX + 4 + k, 1.0 + 1.5 * k, 5.3)
    put(env, 0, 2.5, 2.55, math.pi / 2)  # below box 1, facing it
    env.start_episodes([0])
    return env


def test_a_box_out_of_the_hidden_order_does_not_lock(sequential):
    env = sequential
    reward, _, _ = step(env, LOCK)
    assert env.world.locked_by[0, tasks.FIRST_BOX + 1] == NO_TEAM
    assert reward == pytest.approx(0.0, abs=1e-3)  # no lock, no move


def test_the_next_box_in_order_locks_for_five(sequential):
    env = sequential
    put(env, 0, 1.0, 2.55, math.pi / 2)  # below box 0
    env.start_episodes([0])
    reward, _, _ = step(env, LOCK)
    assert env.world.locked_by[0, tasks.FIRST_BOX] == HIDERS
    assert reward == pytest.approx(5.0, abs=1e-3)  # the target moved on to box 1: no approach


def test_all_boxes_locked_pays_one_per_step(sequential):
    env = sequential
    env.world.locked_by[0, env.boxes] = HIDERS
    put(env, 0, 5.5, 1.0)  # out of reach, so nothing is unlocked
    env.start_episodes([0])
    assert step(env, IDLE)[0] == pytest.approx(1.0, abs=1e-6)
    assert env.success[0] == 1.0


# --- blueprint -------------------------------------------------------------------------------


@pytest.fixture
def blueprint():
    env = tasks.TaskEnv("blueprint", 1, seed=0)
    env.reset()
    env.n_sites[0], env.sites[0, 0] = 1, (3.0, 3.0)
    for k in range(8):
        put(env, tasks.FIRST_BOX + k, 0.6 + 0.6 * k, 5.4)
    put(env, 0, 5.5, 0.5)
    return env


@pytest.mark.parametrize("angle", [0.0, math.pi / 2])
def test_a_box_on_the_site_completes_the_blueprint(blueprint, angle):
    env = blueprint
    put(env, tasks.FIRST_BOX, 3.0, 3.0, angle)  # a cube turned by 90 degrees fills it too
    env.start_episodes([0])
    # far boxes count a bit
    dense = -0.05 * tasks.smooth_min(tasks.site_distances(env)[0][0, 0], -1.5)
    reward, done, info = step(env, IDLE)
    assert done and info["episodes"]["success"][0] == 1.0
    assert reward == pytest.approx(3.0 + dense, abs=1e-4)  # +3 for one site, and the dense term


def test_a_box_beside_the_site_leaves_it_open(blueprint):
    env = blueprint
    put(env, tasks.FIRST_BOX, 3.15, 3.0)  # 0.15 m off: more than the 0.1 m tolerance
    env.start_episodes([0])
    dense = -0.05 * tasks.smooth_min(tasks.site_distances(env)[0][0, 0], -1.5)
    reward, done, _ = step(env, IDLE)
    assert not done and env.success[0] == 0.0
    assert reward == pytest.approx(dense, abs=1e-4) and reward < 0  # no completion bonus


def test_site_distance_matches_a_brute_force_corner_loop(blueprint):
    env = blueprint
    rng = np.random.default_rng(1)
    env.world.pos[0, env.boxes] = rng.uniform(0.5, 5.5, (8, 2))
    env.world.angle[0, env.boxes] = rng.uniform(-3, 3, 8)
    mean_gap, _ = tasks.site_distances(env)
    x, y, a = *env.world.pos[0, tasks.FIRST_BOX + 3], env.world.angle[0, tasks.FIRST_BOX + 3]
    box = [(x + math.cos(a) * u - math.sin(a) * v, y + math.sin(a) * u + math.cos(a) * v)
           for u in (-0.25, 0.25) for v in (-0.25, 0.25)]
    site = [(3.0 + u, 3.0 + v) for u in (-0.25, 0.25) for v in (-0.25, 0.25)]
    expected = np.mean([min(math.dist(s, b) for b in box) for s in site])
    assert mean_gap[0, 0, 3] == pytest.approx(expected)


def test_smooth_min_is_the_softmin_weighted_mean():
    d = np.array([[0.3, 2.0, 1.1, 4.0]])
    w = [math.exp(-1.5 * v) for v in d[0]]
    expected = sum(v * u for v, u in zip(d[0], w)) / sum(w)
    assert tasks.smooth_min(d, -1.5)[0] == pytest.approx(expected)
    assert tasks.smooth_min(d, -200.0)[0] == pytest.approx(0.3)  # sharp: the minimum


# --- shelter ---------------------------------------------------------------------------------


@pytest.fixture
def shelter():
    """A cylinder of radius 0.5 at the centre walled in by 4 long boxes in a pinwheel (each
    box's end covers the next one's side, so no corner is left open); the agent in a corner."""
    env = tasks.TaskEnv("shelter", 1, seed=0)
    env.reset()
    tasks.build_cylinder(env, 0, 3.0, 3.0, 0.5)
    env.world.kind[0, env.boxes] = EMPTY
    centres = [(-0.2, 0.7, 0.0), (0.7, 0.2, math.pi / 2), (0.2, -0.7, 0.0),
               (-0.7, -0.2, math.pi / 2)]  # (dx, dy, angle) of each box from the centre
    for k, (dx, dy, angle) in enumerate(centres):
        env.world.kind[0, tasks.FIRST_BOX + k] = BOX
        env.world.half[0, tasks.FIRST_BOX + k] = game.LONG_HALF
        put(env, tasks.FIRST_BOX + k, 3.0 + dx, 3.0 + dy, angle)
    put(env, 0, 0.4, 5.6)
    return env


def test_a_closed_shelter_stops_every_ray(shelter):
    shelter.start_episodes([0])
    assert shelter.ray_hits[0].sum() == 0
    assert step(shelter, IDLE)[0] == 0.0


def test_a_shelter_with_a_gap_lets_rays_through_on_that_side(shelter):
    env = shelter
    env.world.kind[0, tasks.FIRST_BOX + 1] = EMPTY  # the right-hand wall of the shelter
    env.start_episodes([0])
    hits = env.ray_hits[0]
    origins = tasks.ray_origins(env.task.rays_per_side)
    assert hits.sum() > 0 and (origins[hits, 0] > 3.0).all()
    assert step(env, IDLE)[0] == pytest.approx(-0.001 * hits.sum())


def test_an_open_cylinder_meets_nearly_every_ray(shelter):
    env = shelter
    env.world.kind[0, env.boxes] = EMPTY
    env.start_episodes([0])
    assert env.ray_hits[0].sum() >= 97  # the agent in the corner may shade a ray or two
    assert len(tasks.ray_origins(25)) == 100


def test_shelter_success_is_the_fraction_of_rays_blocked_at_the_end(shelter):
    env = shelter
    env.world.kind[0, tasks.FIRST_BOX + 1] = EMPTY
    env.start_episodes([0])
    for _ in range(env.task.horizon - 1):
        step(env, IDLE)
    blocked = 1 - env.ray_hits[0].mean()
    _, done, info = step(env, IDLE)
    assert done and info["episodes"]["success"][0] == pytest.approx(blocked, abs=0.02)


# --- object counting -------------------------------------------------------------------------


def test_counting_boxes_vanish_behind_the_screens_and_the_label_counts_the_left_ones():
    env = tasks.TaskEnv("counting", 8, seed=3)
    obs = env.reset()
    labels = tasks.counting_labels(env)
    assert obs["visible_boxes"][:, 0, 0].all()  # the first box starts in plain view
    agent = env.world.pos[:, 0].copy()
    for _ in range(env.task.boxes * tasks.COUNT_PERIOD):
        obs, _, _, _ = env.step(np.tile(game.IDLE, (8, 1, 1)))
    assert np.allclose(env.world.pos[:, 0], agent)  # pinned
    assert not obs["visible_boxes"].any()  # every box has gone behind a screen
    assert (env.world.kind[:, env.boxes] == BOX).all()
    assert ((env.world.pos[:, env.boxes, 0] < 3.0).sum(1) == labels).all()
    assert 0 < labels.mean() < 6


def test_count_bonus_falls_as_a_state_repeats_and_ignores_box_order():
    env = tasks.TaskEnv("explore", 1, seed=0, bonus=tasks.CountBonus(0.1, 0.5))
    env.reset()
    bonus = tasks.CountBonus(0.1, 0.5)
    state = tasks.box_histogram(env, 0.5)
    assert [bonus(state)[0] for _ in range(4)] == pytest.approx([0.1 / math.sqrt(n)
                                                                 for n in (1, 2, 3, 4)])
    env.world.pos[0, env.boxes] = env.world.pos[0, env.boxes][::-1]  # the boxes swap places
    assert bonus(tasks.box_histogram(env, 0.5))[0] == pytest.approx(0.1 / math.sqrt(5))
    env.world.pos[0, tasks.FIRST_BOX] += 1.0  # one box moves a cell or two: a new state
    assert bonus(tasks.box_histogram(env, 0.5))[0] == pytest.approx(0.1)


def test_count_bonus_counts_as_whole_histograms_would_even_with_boxes_sharing_a_cell():
    rng = np.random.default_rng(0)
    cells = rng.integers(0, 3, (400, 4))  # 4 boxes over 3 of the 144 cells: many repeats
    histograms = np.zeros((400, 144), np.int64)
    np.add.at(histograms, (np.arange(400)[:, None], cells), 1)
    bonus, seen = tasks.CountBonus(0.1, 0.5), {}
    for h in histograms:  # one world at a time, against a count of the histograms themselves
        seen[h.tobytes()] = seen.get(h.tobytes(), 0) + 1
        assert bonus(h[None])[0] == pytest.approx(0.1 / math.sqrt(seen[h.tobytes()]))
    assert len(bonus.counts) == len(seen) < 20


def test_the_count_table_is_saved_in_a_few_bytes_a_state():
    bonus = tasks.CountBonus(0.1, 0.5)
    histograms = np.zeros((5000, 144), np.int64)
    np.add.at(histograms, (np.arange(5000)[:, None],
                           np.random.default_rng(1).integers(0, 144, (5000, 4))), 1)
    bonus(histograms)
    assert len(bonus.counts) > 4900 and len(pickle.dumps(bonus)) < 30 * len(bonus.counts)


def test_a_count_table_of_an_older_tasks_py_is_refused():
    old = tasks.CountBonus(0.1, 0.5)
    del old.key_format  # as pickled by a tasks.py that keyed whole histograms
    with pytest.raises(ValueError, match="older tasks.py.*delete its pretraining folder"):
        pickle.loads(pickle.dumps(old))


def test_a_count_cell_too_small_to_name_in_a_byte_is_refused():
    with pytest.raises(ValueError, match="count cell 0.2 m makes more than 256 cells"):
        tasks.CountBonus(0.1, 0.2)


def test_the_exploration_world_starts_everything_in_a_quarter_of_the_arena():
    env = tasks.TaskEnv("explore", 16, seed=0, bonus=tasks.CountBonus(0.1, 0.5))
    env.reset()
    real = env.world.kind != EMPTY  # [W, B]
    assert (env.world.pos[real] < tasks.ARENA / 2).all() and (env.world.pos[real] > 0).all()


def test_rnd_bonus_is_lower_on_a_state_it_has_seen_than_on_a_new_one():
    bonus = tasks.RNDBonus(0.1, 0.5, 32, 1e-2, seed=0)
    seen, new = np.zeros((1, 144), np.int64), np.zeros((1, 144), np.int64)
    seen[0, [3, 40, 77, 100]], new[0, [10, 20, 120, 140]] = 1, 1
    for _ in range(100):
        bonus(seen)
    both = bonus(np.concatenate([seen, new]))
    assert both[0] < 0.2 * both[1]


@pytest.mark.parametrize("task", tasks.FIVE_TASKS)
def test_every_task_renders_like_the_game(task):
    env = tasks.TaskEnv(task, 1, seed=0)
    env.reset()
    frame = env.render(0, size=160)
    assert frame.shape == (160 + game.HEADER, 160, 3) and frame.dtype == np.uint8
    assert (frame == (235, 190, 60)).all(-1).any()  # boxes in the game's colour


# --- errors and the walk-through -------------------------------------------------------------


def test_an_unknown_task_is_refused_with_the_names():
    with pytest.raises(ValueError, match="unknown task 'hide'.*blueprint"):
        tasks.get_task("hide")


def test_the_walk_through_refuses_no_worlds():
    with pytest.raises(SystemExit, match="--worlds 0: expected at least 1"):
        tasks.main(["--worlds", "0"])
