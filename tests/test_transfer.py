"""Specifications of transfer.py: the hide-and-seek network on the task worlds, fine-tuning's
re-initialisation, pretraining and the counting probe, a few PPO updates of every task on CPU,
run folders that go on where they stopped, and the figure. Worlds are small (1 to 32) to stay
fast; the worlds themselves are tests/test_tasks.py's."""

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn as nn

import tasks
import transfer as tr
from attention import ActorCritic, TeamActorCritic

CHECKPOINT = "checkpoints/tiny-chasing.pt"
pytestmark = pytest.mark.usefixtures("one_thread")


# --- the network on the task worlds ----------------------------------------------------------


def test_the_hide_and_seek_network_reads_task_observations_unchanged():
    model = tr.load_source(tr.TransferConfig(source=CHECKPOINT))[0]
    obs = tasks.TaskEnv("blueprint", 2, seed=0).reset()
    x = {k: torch.from_numpy(v)[None, :, 0] for k, v in obs.items()}  # [T=1, N=2, ...]
    dist, value, _ = model(x, model.initial_state(2), torch.ones(1, 2, dtype=torch.bool))
    assert value.shape == (1, 2) and dist.sample().shape == (1, 2, 5)


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
    assert head.weight.shape == (tasks.N_CLASSES, 64)


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
    model = ActorCritic(tasks.OBS_SIZES, tr.TransferConfig().network)

    def faint(env, *args):
        labels = torch.randint(0, tasks.N_CLASSES, (env.n_worlds,), generator=rng)
        memory = 0.5 * torch.arange(80.0)[:, None, None].expand(80, env.n_worlds, 64).clone()
        memory[:, :, :tasks.N_CLASSES] += 1e-3 * nn.functional.one_hot(labels, tasks.N_CLASSES)
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
    model = ActorCritic(tasks.OBS_SIZES, tr.TransferConfig().network)

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
    model = ActorCritic(tasks.OBS_SIZES, tr.TransferConfig().network)
    env = tasks.TaskEnv("counting", 2, seed=0)
    memory, labels = tr.watch_counting(env, model, tr.ObsNormaliser(tasks.OBS_SIZES), True)
    assert memory.shape == (80, 2, 64)  # [T, W, H]
    assert labels.shape == (2,) and ((0 <= labels) & (labels <= 6)).all()


# --- run folders: checkpointed, and continued where they stopped -----------------------------


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
        interrupt_on_call(m, tasks.RNDBonus, "forward", 25)  # in the third update's rollout
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


def test_an_unknown_task_on_the_command_line_is_refused():
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
    model = ActorCritic({**tasks.OBS_SIZES, "boxes": 9}, tr.TransferConfig().network)
    with pytest.raises(ValueError, match="'boxes': 9"):
        tr.check_compatible(model, "other.pt")


def test_a_checkpoint_per_team_gives_the_network_that_reads_its_hiders():
    import selfplay

    path = "checkpoints/ramp-room-per-team-ramp-use.pt"
    model, _ = tr.load_source(tr.TransferConfig(source=path), reinitialise=False)
    both = selfplay.load_checkpoint(path).ppo.model
    assert isinstance(both, TeamActorCritic) and isinstance(model, ActorCritic)
    assert not model.sizes.per_team
    obs = tasks.TaskEnv("lock-return", 3, seed=0).reset()  # the task's agent is a hider
    x = {k: torch.as_tensor(v).flatten(0, 1)[None] for k, v in obs.items()}  # [1, 3, ...]
    state, starts = model.initial_state(3), torch.ones(1, 3, dtype=torch.bool)
    with torch.no_grad():
        mine, whole = model(x, state, starts), both(x, state, starts)
    for own, team in zip(mine[0].log_probs, whole[0].log_probs):  # the team network's answer
        torch.testing.assert_close(own, team)
    torch.testing.assert_close(mine[1], whole[1])


def test_plot_draws_mean_and_spread_over_seeds(tmp_path):
    import csv

    for seed, level in enumerate((0.2, 0.4)):
        folder = tmp_path / "blueprint" / f"scratch-seed{seed}"
        folder.mkdir(parents=True)
        with open(folder / "metrics.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, ["steps", "episodes", "success"])
            writer.writeheader()
            writer.writerows({"steps": 100 * (k + 1), "episodes": 5 * (k + 1), "success": level}
                             for k in range(20))
    out, table = tr.plot(str(tmp_path), str(tmp_path / "fig.png"))
    assert (tmp_path / "fig.png").stat().st_size > 0
    assert "| blueprint | - | 0.30 ± 0.10 | - | - |" in table


def test_success_counts_each_episode_once():
    """Updates that ended 1, 0 and 9 episodes, with rates 1.0, none and 0.0: success is the
    successes over the episodes (one in ten: 0.1), not the mean of the updates' rates (0.5)."""
    def rows(ended_and_rates):
        total, out = 0, []
        for k, (ended, rate) in enumerate(ended_and_rates):
            total += ended
            out.append({"steps": 40 * (k + 1), "episodes": total, "success": rate})
        return out

    three = [(1, 1.0), (0, float("nan")), (9, 0.0)]
    curve = tr.success_curve(rows(three))             # a window of 10 updates holds all three
    assert curve.success[1] == pytest.approx(1.0)     # the update that ended none adds nothing
    assert curve.success[2] == pytest.approx(0.1)
    twenty = [(5, 0.4)] * 18 + [(1, 1.0), (9, 0.0)]   # the last tenth: the last two updates
    assert tr.success_curve(rows(twenty)).final == pytest.approx(0.1)
