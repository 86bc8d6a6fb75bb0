"""Specifications of transfer.py: each task's reward and success rule on scripted episodes, the
hide-and-seek observation layout, fine-tuning's re-initialisation, the intrinsic bonuses, and a
few PPO updates of every task on CPU. Worlds are small (1 to 4) to stay fast."""

import math
from dataclasses import replace

import numba
import numpy as np
import pytest
import torch
import torch.nn as nn

import env as game
import transfer as tr
from attention import ActorCritic, TeamActorCritic
from physics import BOX, EMPTY, HIDERS, NO_TEAM

CHECKPOINT = "checkpoints/tiny-chasing.pt"
IDLE = np.array([[[5, 5, 5, 0, 0]]])  # [W=1, A=1, 5]
LOCK = np.array([[[5, 5, 5, 0, 1]]])


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Small worlds on shared cores: one numba and torch thread is faster and deterministic."""
    numba_threads, torch_threads = numba.get_num_threads(), torch.get_num_threads()
    numba.set_num_threads(1)
    torch.set_num_threads(1)
    yield
    numba.set_num_threads(numba_threads)
    torch.set_num_threads(torch_threads)


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


@pytest.mark.parametrize("task", list(tr.FIVE_TASKS) + ["explore"])
def test_observations_have_the_hide_and_seek_layout(task):
    quadrant = game.HideAndSeek("quadrant", 1, seed=0)
    bonus = tr.CountBonus(0.1, 0.5) if task == "explore" else None
    obs = tr.TaskEnv(task, 2, seed=0, bonus=bonus).reset()
    assert set(obs) == set(quadrant.observe())
    assert tr.OBS_SIZES == quadrant.obs_sizes
    for key, size in quadrant.obs_sizes.items():
        assert obs[key].shape[-1] == size and obs[key].dtype == np.float32
    assert obs["self"].shape == (2, 1, 11)
    assert (obs["self"][..., 9] == 1).all()  # team flag: a hider
    assert (obs["self"][..., 10] == 0).all()  # preparation progress
    assert not obs["exists_agents"].any() and not obs["visible_agents"].any()  # empty slot
    assert obs["ramps"].shape[2] >= 1  # the ramp stream keeps at least one slot


def test_the_hide_and_seek_network_reads_task_observations_unchanged():
    model = tr.load_source(tr.TransferConfig(source=CHECKPOINT))[0]
    obs = tr.TaskEnv("blueprint", 2, seed=0).reset()
    x = {k: torch.from_numpy(v)[None, :, 0] for k, v in obs.items()}  # [T=1, N=2, ...]
    dist, value, _ = model(x, model.initial_state(2), torch.ones(1, 2, dtype=torch.bool))
    assert value.shape == (1, 2) and dist.sample().shape == (1, 2, 5)


# --- lock and return -------------------------------------------------------------------------


@pytest.fixture
def lock_return():
    env = tr.TaskEnv("lock-return", 1, seed=0)
    env.reset()
    empty_rooms(env)
    put(env, 0, 1.0, 1.0)  # spawn
    put(env, tr.FIRST_BOX, 4.0, 4.0)
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
    assert env.world.locked_by[0, tr.FIRST_BOX] == HIDERS
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
    assert env.world.locked_by[0, tr.FIRST_BOX] == NO_TEAM
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
    env = tr.TaskEnv("sequential-lock", 1, seed=0)
    env.reset()
    empty_rooms(env)
    for k, x in enumerate((1.0, 2.5, 4.0, 5.0)):
        put(env, tr.FIRST_BOX + k, x, 3.0)
    for k in range(3):
        put(env, tr.FIRST_BOX + 4 + k, 1.0 + 1.5 * k, 5.3)
    put(env, 0, 2.5, 2.55, math.pi / 2)  # below box 1, facing it
    env.start_episodes([0])
    return env


def test_a_box_out_of_the_hidden_order_does_not_lock(sequential):
    env = sequential
    reward, _, _ = step(env, LOCK)
    assert env.world.locked_by[0, tr.FIRST_BOX + 1] == NO_TEAM
    assert reward == pytest.approx(0.0, abs=1e-3)  # no lock, no move


def test_the_next_box_in_order_locks_for_five(sequential):
    env = sequential
    put(env, 0, 1.0, 2.55, math.pi / 2)  # below box 0
    env.start_episodes([0])
    reward, _, _ = step(env, LOCK)
    assert env.world.locked_by[0, tr.FIRST_BOX] == HIDERS
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
    env = tr.TaskEnv("blueprint", 1, seed=0)
    env.reset()
    env.n_sites[0], env.sites[0, 0] = 1, (3.0, 3.0)
    for k in range(8):
        put(env, tr.FIRST_BOX + k, 0.6 + 0.6 * k, 5.4)
    put(env, 0, 5.5, 0.5)
    return env


@pytest.mark.parametrize("angle", [0.0, math.pi / 2])
def test_a_box_on_the_site_completes_the_blueprint(blueprint, angle):
    env = blueprint
    put(env, tr.FIRST_BOX, 3.0, 3.0, angle)  # a cube turned by 90 degrees fills it too
    env.start_episodes([0])
    dense = -0.05 * tr.smooth_min(tr.site_distances(env)[0][0, 0], -1.5)  # far boxes count a bit
    reward, done, info = step(env, IDLE)
    assert done and info["episodes"]["success"][0] == 1.0
    assert reward == pytest.approx(3.0 + dense, abs=1e-4)  # +3 for one site, and the dense term


def test_a_box_beside_the_site_leaves_it_open(blueprint):
    env = blueprint
    put(env, tr.FIRST_BOX, 3.15, 3.0)  # 0.15 m off: more than the 0.1 m tolerance
    env.start_episodes([0])
    dense = -0.05 * tr.smooth_min(tr.site_distances(env)[0][0, 0], -1.5)
    reward, done, _ = step(env, IDLE)
    assert not done and env.success[0] == 0.0
    assert reward == pytest.approx(dense, abs=1e-4) and reward < 0  # no completion bonus


def test_site_distance_matches_a_brute_force_corner_loop(blueprint):
    env = blueprint
    rng = np.random.default_rng(1)
    env.world.pos[0, env.boxes] = rng.uniform(0.5, 5.5, (8, 2))
    env.world.angle[0, env.boxes] = rng.uniform(-3, 3, 8)
    mean_gap, _ = tr.site_distances(env)
    x, y, a = *env.world.pos[0, tr.FIRST_BOX + 3], env.world.angle[0, tr.FIRST_BOX + 3]
    box = [(x + math.cos(a) * u - math.sin(a) * v, y + math.sin(a) * u + math.cos(a) * v)
           for u in (-0.25, 0.25) for v in (-0.25, 0.25)]
    site = [(3.0 + u, 3.0 + v) for u in (-0.25, 0.25) for v in (-0.25, 0.25)]
    expected = np.mean([min(math.dist(s, b) for b in box) for s in site])
    assert mean_gap[0, 0, 3] == pytest.approx(expected)


def test_smooth_min_is_the_softmin_weighted_mean():
    d = np.array([[0.3, 2.0, 1.1, 4.0]])
    w = [math.exp(-1.5 * v) for v in d[0]]
    expected = sum(v * u for v, u in zip(d[0], w)) / sum(w)
    assert tr.smooth_min(d, -1.5)[0] == pytest.approx(expected)
    assert tr.smooth_min(d, -200.0)[0] == pytest.approx(0.3)  # sharp: the minimum


# --- shelter ---------------------------------------------------------------------------------


@pytest.fixture
def shelter():
    """A cylinder of radius 0.5 at the centre walled in by 4 long boxes in a pinwheel (each
    box's end covers the next one's side, so no corner is left open); the agent in a corner."""
    env = tr.TaskEnv("shelter", 1, seed=0)
    env.reset()
    tr.build_cylinder(env, 0, 3.0, 3.0, 0.5)
    env.world.kind[0, env.boxes] = EMPTY
    centres = [(-0.2, 0.7, 0.0), (0.7, 0.2, math.pi / 2), (0.2, -0.7, 0.0),
               (-0.7, -0.2, math.pi / 2)]  # (dx, dy, angle) of each box from the centre
    for k, (dx, dy, angle) in enumerate(centres):
        env.world.kind[0, tr.FIRST_BOX + k] = BOX
        env.world.half[0, tr.FIRST_BOX + k] = game.LONG_HALF
        put(env, tr.FIRST_BOX + k, 3.0 + dx, 3.0 + dy, angle)
    put(env, 0, 0.4, 5.6)
    return env


def test_a_closed_shelter_stops_every_ray(shelter):
    shelter.start_episodes([0])
    assert shelter.ray_hits[0].sum() == 0
    assert step(shelter, IDLE)[0] == 0.0


def test_a_shelter_with_a_gap_lets_rays_through_on_that_side(shelter):
    env = shelter
    env.world.kind[0, tr.FIRST_BOX + 1] = EMPTY  # the right-hand wall of the shelter
    env.start_episodes([0])
    hits = env.ray_hits[0]
    origins = tr.ray_origins(env.task.rays_per_side)
    assert hits.sum() > 0 and (origins[hits, 0] > 3.0).all()
    assert step(env, IDLE)[0] == pytest.approx(-0.001 * hits.sum())


def test_an_open_cylinder_meets_nearly_every_ray(shelter):
    env = shelter
    env.world.kind[0, env.boxes] = EMPTY
    env.start_episodes([0])
    assert env.ray_hits[0].sum() >= 97  # the agent in the corner may shade a ray or two
    assert len(tr.ray_origins(25)) == 100


def test_shelter_success_is_the_fraction_of_rays_blocked_at_the_end(shelter):
    env = shelter
    env.world.kind[0, tr.FIRST_BOX + 1] = EMPTY
    env.start_episodes([0])
    for _ in range(env.task.horizon - 1):
        step(env, IDLE)
    blocked = 1 - env.ray_hits[0].mean()
    _, done, info = step(env, IDLE)
    assert done and info["episodes"]["success"][0] == pytest.approx(blocked, abs=0.02)


# --- object counting -------------------------------------------------------------------------


def test_counting_boxes_vanish_behind_the_screens_and_the_label_counts_the_left_ones():
    env = tr.TaskEnv("counting", 8, seed=3)
    obs = env.reset()
    labels = tr.counting_labels(env)
    assert obs["visible_boxes"][:, 0, 0].all()  # the first box starts in plain view
    agent = env.world.pos[:, 0].copy()
    for _ in range(env.task.boxes * tr.COUNT_PERIOD):
        obs, _, _, _ = env.step(np.tile(game.IDLE, (8, 1, 1)))
    assert np.allclose(env.world.pos[:, 0], agent)  # pinned
    assert not obs["visible_boxes"].any()  # every box has gone behind a screen
    assert (env.world.kind[:, env.boxes] == BOX).all()
    assert ((env.world.pos[:, env.boxes, 0] < 3.0).sum(1) == labels).all()
    assert 0 < labels.mean() < 6


# --- fine-tuning and baselines ---------------------------------------------------------------


def test_fine_tuning_reinitialises_exactly_the_last_dense_layer_and_layer_norm():
    import selfplay

    trained = selfplay.load_checkpoint(CHECKPOINT).ppo.model.state_dict()
    tuned = tr.load_source(tr.TransferConfig(source=CHECKPOINT))[0].state_dict()
    named = {f"{tower}.{layer}.{p}" for tower in ("policy", "critic")
             for layer in ("dense", "norm_dense") for p in ("weight", "bias")}
    changed = {k for k in trained if not torch.equal(trained[k], tuned[k])}
    assert changed == named
    for tower in ("policy", "critic"):
        assert (tuned[f"{tower}.norm_dense.weight"] == 1).all()
        assert (tuned[f"{tower}.norm_dense.bias"] == 0).all()
        assert (tuned[f"{tower}.dense.bias"] == 0).all()


def test_count_bonus_falls_as_a_state_repeats_and_ignores_box_order():
    env = tr.TaskEnv("explore", 1, seed=0, bonus=tr.CountBonus(0.1, 0.5))
    env.reset()
    bonus = tr.CountBonus(0.1, 0.5)
    state = tr.box_histogram(env, 0.5)
    assert [bonus(state)[0] for _ in range(4)] == pytest.approx([0.1 / math.sqrt(n)
                                                                 for n in (1, 2, 3, 4)])
    env.world.pos[0, env.boxes] = env.world.pos[0, env.boxes][::-1]  # the boxes swap places
    assert bonus(tr.box_histogram(env, 0.5))[0] == pytest.approx(0.1 / math.sqrt(5))
    env.world.pos[0, tr.FIRST_BOX] += 1.0  # one box moves a cell or two: a new state
    assert bonus(tr.box_histogram(env, 0.5))[0] == pytest.approx(0.1)


def test_the_exploration_world_starts_everything_in_a_quarter_of_the_arena():
    env = tr.TaskEnv("explore", 16, seed=0, bonus=tr.CountBonus(0.1, 0.5))
    env.reset()
    real = env.world.kind != EMPTY  # [W, B]
    assert (env.world.pos[real] < tr.ARENA / 2).all() and (env.world.pos[real] > 0).all()


def test_rnd_bonus_is_lower_on_a_state_it_has_seen_than_on_a_new_one():
    bonus = tr.RNDBonus(0.1, 0.5, 32, 1e-2, seed=0)
    seen, new = np.zeros((1, 144), np.int64), np.zeros((1, 144), np.int64)
    seen[0, [3, 40, 77, 100]], new[0, [10, 20, 120, 140]] = 1, 1
    for _ in range(100):
        bonus(seen)
    both = bonus(np.concatenate([seen, new]))
    assert both[0] < 0.2 * both[1]


@pytest.mark.parametrize("task", ["lock-return", "sequential-lock", "blueprint", "shelter"])
def test_every_ppo_task_runs_a_few_updates(task):
    config = tr.TransferConfig(task=task, source=CHECKPOINT, n_worlds=4, rollout_steps=10,
                               total_steps=80)
    trainer, rows = tr.finetune(config)
    assert len(rows) == 2 and trainer.steps == 80
    assert all(math.isfinite(rows[-1][k]) for k in ("reward", "policy_loss", "value_loss"))


@pytest.mark.parametrize("kind", ["count", "rnd"])
def test_pretraining_with_a_bonus_then_fine_tuning_runs(kind, tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSFER_RUNS", str(tmp_path))
    config = tr.TransferConfig(task="lock-return", source=kind, n_worlds=4, rollout_steps=10,
                               total_steps=40, pretrain_steps=80)
    trainer, rows = tr.finetune(config)
    assert (tmp_path / "pretrain" / f"{kind}-seed0" / "checkpoint.pt").exists()
    pretrain_rows = open(tmp_path / "pretrain" / f"{kind}-seed0" / "metrics.csv").read()
    assert pretrain_rows.count("\n") == 3  # header and two updates
    assert len(rows) == 1


def test_a_cached_pretraining_with_other_settings_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSFER_RUNS", str(tmp_path))
    config = tr.TransferConfig(source="count", n_worlds=4, rollout_steps=10, pretrain_steps=40)
    path = tr.pretrain(config, "count")
    assert tr.pretrain(config, "count") == path  # the same settings: the cache is used
    with pytest.raises(ValueError, match="pretrain_steps 40, now 80.*delete"):
        tr.pretrain(replace(config, pretrain_steps=80), "count")


def test_counting_freezes_the_policy_as_trained_and_trains_only_the_head(monkeypatch):
    import selfplay

    config = tr.TransferConfig(task="counting", source=CHECKPOINT, n_worlds=4,
                               total_steps=2 * 80 * 4)
    frozen = []
    monkeypatch.setattr(tr, "load_source", lambda *a, **k: frozen.append(k) or (
        selfplay.load_checkpoint(CHECKPOINT).ppo.model, None))
    head, rows = tr.train_counting(config)
    assert frozen == [{"reinitialise": False}]  # no layer re-initialised for counting
    assert len(rows) == 2 and 0.0 <= rows[-1]["success"] <= 1.0
    assert head.weight.shape == (tr.N_CLASSES, 64)


def test_memory_is_standardised_per_step_over_the_episodes():
    drift = torch.arange(5.0)[:, None, None]  # the same for every episode
    memory = torch.randn(5, 16, 3) * torch.tensor([1e-3, 1.0, 50.0]) + drift  # [T, W, H]
    scale = torch.nn.BatchNorm1d(5 * 3, affine=False, momentum=None)
    out = tr.standardise(scale, memory)
    # by hand: over the 16 episodes, at each step and feature (BatchNorm's unbiased running var)
    expected = (memory - memory.mean(1, keepdim=True)) / torch.sqrt(
        memory.var(1, keepdim=True) + scale.eps)
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-4)


def test_the_counting_head_reads_a_count_held_in_a_faint_memory(monkeypatch):
    """A memory that holds the label at a thousandth of a unit, on top of a drift through the
    episode that every episode shares: standardised, the head reads it."""
    rng = torch.Generator().manual_seed(0)
    model = ActorCritic(tr.OBS_SIZES, tr.TransferConfig().network)

    def faint(env, *args):
        labels = torch.randint(0, tr.N_CLASSES, (env.n_worlds,), generator=rng)
        memory = 0.5 * torch.arange(80.0)[:, None, None].expand(80, env.n_worlds, 64).clone()
        memory[:, :, :tr.N_CLASSES] += 1e-3 * nn.functional.one_hot(labels, tr.N_CLASSES)
        return memory, labels

    monkeypatch.setattr(tr, "load_source", lambda *a, **k: (model, None))
    monkeypatch.setattr(tr, "watch_counting", faint)
    config = tr.TransferConfig(task="counting", n_worlds=32, total_steps=80 * 32 * 300)
    _, rows = tr.train_counting(config)
    assert np.mean([row["success"] for row in rows[-20:]]) > 0.95


def test_the_counting_head_on_a_memory_that_holds_nothing_learns_the_prior(monkeypatch):
    """Memory independent of the labels, labels as the task draws them (6 fair coins): the
    head's loss on fresh episodes comes down to the labels' entropy, which no head can beat,
    and does not wander above it."""
    rng = torch.Generator().manual_seed(1)
    model = ActorCritic(tr.OBS_SIZES, tr.TransferConfig().network)

    def empty(env, *args):
        labels = torch.distributions.Binomial(6, torch.full((env.n_worlds,), 0.5)).sample().long()
        noise = torch.randn(1, env.n_worlds, 64, generator=rng).expand(80, -1, -1)
        return noise + 0.1 * torch.randn(80, env.n_worlds, 64, generator=rng), labels

    monkeypatch.setattr(tr, "load_source", lambda *a, **k: (model, None))
    monkeypatch.setattr(tr, "watch_counting", empty)
    torch.manual_seed(1)
    config = tr.TransferConfig(task="counting", n_worlds=32, total_steps=80 * 32 * 300)
    _, rows = tr.train_counting(config)
    p = torch.tensor([math.comb(6, k) for k in range(7)]) / 64
    entropy = -(p * p.log()).sum().item()  # 1.61 nats
    assert abs(np.mean([row["loss"] for row in rows[-100:]]) - entropy) < 0.06


def test_watching_counting_gives_memory_per_step_and_labels():
    model = ActorCritic(tr.OBS_SIZES, tr.TransferConfig().network)
    env = tr.TaskEnv("counting", 2, seed=0)
    memory, labels = tr.watch_counting(env, model, tr.ObsNormaliser(tr.OBS_SIZES), True)
    assert memory.shape == (80, 2, 64)  # [T, W, H]
    assert labels.shape == (2,) and ((0 <= labels) & (labels <= 6)).all()


# --- run folders: checkpointed, and continued where they stopped ------------------------------


def interrupt_on_call(monkeypatch, owner, name, n):
    """Make owner.name raise KeyboardInterrupt on its n-th call: a run killed part-way."""
    original, calls = getattr(owner, name), []

    def wrapped(*args, **kwargs):
        calls.append(1)
        if len(calls) == n:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, wrapped)


def saved(folder):
    state = torch.load(folder / "checkpoint.pt", weights_only=False)
    return torch.cat([p.flatten() for p in state["model"].values() if p.is_floating_point()])


def metric_rows(folder):
    """metrics.csv without its wall-clock column."""
    lines = [line.split(",") for line in open(folder / "metrics.csv").read().splitlines()]
    seconds = lines[0].index("seconds")
    return [line[:seconds] + line[seconds + 1:] for line in lines]


SMALL = dict(n_worlds=4, rollout_steps=10, checkpoint_minutes=0.0)  # a checkpoint every update


def test_a_killed_fine_tuning_goes_on_exactly_as_an_unbroken_one(tmp_path, monkeypatch):
    from ppo import PPO

    config = tr.TransferConfig(task="lock-return", source=CHECKPOINT, total_steps=160, **SMALL)
    monkeypatch.setenv("TRANSFER_RUNS", str(tmp_path / "straight"))
    tr.run_task(config)
    monkeypatch.setenv("TRANSFER_RUNS", str(tmp_path / "broken"))
    with monkeypatch.context() as m:
        interrupt_on_call(m, PPO, "update", 3)  # killed in the third update
        with pytest.raises(KeyboardInterrupt):
            tr.run_task(config)
    tr.run_task(config)  # the same command again
    straight, broken = (tmp_path / name / "lock-return" / "hide-and-seek-seed0"
                        for name in ("straight", "broken"))
    assert torch.equal(saved(straight), saved(broken))
    assert metric_rows(straight) == metric_rows(broken) and len(metric_rows(broken)) == 5


def test_a_killed_rnd_pretraining_goes_on_exactly_as_an_unbroken_one(tmp_path, monkeypatch):
    """The worlds come back with the bonus in them: RND's predictor and its optimiser."""
    config = tr.TransferConfig(source="rnd", pretrain_steps=120, **SMALL)
    monkeypatch.setenv("TRANSFER_RUNS", str(tmp_path / "straight"))
    tr.pretrain(config, "rnd")
    monkeypatch.setenv("TRANSFER_RUNS", str(tmp_path / "broken"))
    with monkeypatch.context() as m:
        interrupt_on_call(m, tr.RNDBonus, "forward", 25)  # in the third update's rollout
        with pytest.raises(KeyboardInterrupt):
            tr.pretrain(config, "rnd")
    assert len(metric_rows(tmp_path / "broken" / "pretrain" / "rnd-seed0")) == 3
    tr.pretrain(config, "rnd")
    straight, broken = (tmp_path / name / "pretrain" / "rnd-seed0"
                        for name in ("straight", "broken"))
    assert torch.equal(saved(straight), saved(broken))


def test_a_killed_counting_run_goes_on_exactly_as_an_unbroken_one(tmp_path, monkeypatch):
    config = tr.TransferConfig(task="counting", total_steps=4 * 80 * 4, **SMALL)
    monkeypatch.setenv("TRANSFER_RUNS", str(tmp_path / "straight"))
    head, _ = tr.run_task(config)
    monkeypatch.setenv("TRANSFER_RUNS", str(tmp_path / "broken"))
    with monkeypatch.context() as m:
        interrupt_on_call(m, tr, "watch_counting", 3)
        with pytest.raises(KeyboardInterrupt):
            tr.run_task(config)
    again, _ = tr.run_task(config)
    assert torch.equal(head.weight, again.weight)
    straight, broken = (tmp_path / name / "counting" / "scratch-seed0"
                        for name in ("straight", "broken"))
    assert metric_rows(straight) == metric_rows(broken) and len(metric_rows(broken)) == 5


def test_ctrl_c_finishes_the_update_saves_and_stops(tmp_path, monkeypatch):
    import signal

    from ppo import PPO

    monkeypatch.setenv("TRANSFER_RUNS", str(tmp_path))
    config = tr.TransferConfig(task="lock-return", source=CHECKPOINT, total_steps=160,
                               **SMALL | {"checkpoint_minutes": 60.0})
    original = PPO.update
    monkeypatch.setattr(PPO, "update", lambda self, rollout: (
        signal.raise_signal(signal.SIGINT), original(self, rollout))[1])
    with pytest.raises(KeyboardInterrupt, match="stopped at step 40"):
        tr.run_task(config)
    state = torch.load(tmp_path / "lock-return" / "hide-and-seek-seed0" / "checkpoint.pt",
                       weights_only=False)
    assert state["progress"]["steps"] == 40 and state["progress"]["updates"] == 1


def test_a_finished_run_is_left_as_it_is(tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSFER_RUNS", str(tmp_path))
    config = tr.TransferConfig(task="lock-return", source=CHECKPOINT, total_steps=40, **SMALL)
    tr.run_task(config)
    folder = tmp_path / "lock-return" / "hide-and-seek-seed0"
    before = (saved(folder), open(folder / "metrics.csv").read())
    _, rows = tr.run_task(config)
    assert rows == [] and torch.equal(before[0], saved(folder))
    assert open(folder / "metrics.csv").read() == before[1]


def test_a_run_continued_with_other_settings_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSFER_RUNS", str(tmp_path))
    config = tr.TransferConfig(task="counting", total_steps=80 * 4, **SMALL)
    tr.run_task(config)
    tr.run_task(replace(config, total_steps=2 * 80 * 4))  # a longer run: allowed
    with pytest.raises(ValueError, match="head_lr 0.1, now 0.5.*delete"):
        tr.run_task(replace(config, head_lr=0.5))


def test_a_folder_with_metrics_but_no_checkpoint_is_kept(tmp_path, monkeypatch):
    """What an older transfer.py left: a finished run that cannot be continued."""
    monkeypatch.setenv("TRANSFER_RUNS", str(tmp_path))
    folder = tmp_path / "counting" / "scratch-seed0"
    folder.mkdir(parents=True)
    (folder / "metrics.csv").write_text("update,steps\n1,320\n")
    with pytest.raises(FileExistsError, match="no checkpoint.pt"):
        tr.run_task(tr.TransferConfig(task="counting", total_steps=80 * 4, **SMALL))
    assert (folder / "metrics.csv").read_text() == "update,steps\n1,320\n"


# --- errors, rendering, the figure -----------------------------------------------------------


def test_an_unknown_task_is_refused_with_the_names():
    with pytest.raises(ValueError, match="unknown task 'hide'.*blueprint"):
        tr.get_task("hide")
    with pytest.raises(SystemExit):
        tr.main(["hide", "--from", "scratch"])


def test_the_command_line_explains_itself(capsys):
    with pytest.raises(SystemExit) as stop:
        tr.main(["--help"])
    assert stop.value.code == 0 and "plot" in capsys.readouterr().out


def test_a_missing_checkpoint_is_refused_before_any_work():
    with pytest.raises(FileNotFoundError, match="no-such.pt"):
        tr.main(["blueprint", "--from", "no-such.pt"])


def test_a_network_for_other_observations_is_refused():
    model = ActorCritic({**tr.OBS_SIZES, "boxes": 9}, tr.TransferConfig().network)
    with pytest.raises(ValueError, match="'boxes': 9"):
        tr.check_compatible(model, "other.pt")


def test_a_checkpoint_per_team_gives_the_network_that_reads_its_hiders():
    import selfplay

    path = "checkpoints/ramp-room-per-team-ramp-use.pt"
    model, _ = tr.load_source(tr.TransferConfig(source=path), reinitialise=False)
    both = selfplay.load_checkpoint(path).ppo.model
    assert isinstance(both, TeamActorCritic) and isinstance(model, ActorCritic)
    assert not model.sizes.per_team
    obs = tr.TaskEnv("lock-return", 3, seed=0).reset()  # the task's agent is a hider
    x = {k: torch.as_tensor(v).flatten(0, 1)[None] for k, v in obs.items()}  # [1, 3, ...]
    state, starts = model.initial_state(3), torch.ones(1, 3, dtype=torch.bool)
    with torch.no_grad():
        mine, whole = model(x, state, starts), both(x, state, starts)
    for own, team in zip(mine[0].log_probs, whole[0].log_probs):  # the team network's answer
        torch.testing.assert_close(own, team)
    torch.testing.assert_close(mine[1], whole[1])


@pytest.mark.parametrize("task", tr.FIVE_TASKS)
def test_every_task_renders_like_the_game(task):
    env = tr.TaskEnv(task, 1, seed=0)
    env.reset()
    frame = env.render(0, size=160)
    assert frame.shape == (160 + game.HEADER, 160, 3) and frame.dtype == np.uint8
    assert (frame == (235, 190, 60)).all(-1).any()  # boxes in the game's colour


def test_plot_draws_mean_and_spread_over_seeds(tmp_path):
    import csv

    for seed, level in enumerate((0.2, 0.4)):
        folder = tmp_path / "blueprint" / f"scratch-seed{seed}"
        folder.mkdir(parents=True)
        with open(folder / "metrics.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, ["steps", "success"])
            writer.writeheader()
            writer.writerows({"steps": 100 * (k + 1), "success": level} for k in range(20))
    out, table = tr.plot(str(tmp_path), str(tmp_path / "fig.png"))
    assert (tmp_path / "fig.png").stat().st_size > 0
    assert "| blueprint | - | 0.30 ± 0.10 | - | - |" in table
