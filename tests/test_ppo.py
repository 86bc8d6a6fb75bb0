"""Specifications for ppo.py: GAE, the clipped objective, the running normalisers, recurrent
chunks, saving and resuming, learning a small task, and the guard against nan and inf."""

import io
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ppo import (  # noqa: E402
    Rollout,
    CartPole, Collector, DemoConfig, NonFiniteError, ObsNormaliser, PPO, PPOConfig,
    RecurrentActorCritic, RunningMeanStd, clipped_surrogate_loss, collect_rollout, compute_gae,
    split_into_chunks, steps_to_reach, train)


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def cartpole_rollout(use_lstm=True, T=40, N=4, seed=0, config=None):
    """A PPO learner, its collector on the built-in CartPole, and one rollout from it."""
    torch.manual_seed(seed)
    env = CartPole(N, seed)
    model = RecurrentActorCritic(env.obs_size, env.n_actions, hidden=16, use_lstm=use_lstm)
    ppo = PPO(model, {"self": env.obs_size}, config or PPOConfig(seed=seed))
    collector = Collector(env, env.reset(), model.initial_state(N),
                          torch.ones(N, dtype=torch.bool), np.zeros(N))
    rollout, _ = collect_rollout(ppo, collector, T)
    return ppo, collector, rollout


def parameters(module):
    return [p.detach().clone() for p in module.parameters()]


# --- GAE ------------------------------------------------------------------------------------


def test_gae_matches_hand_computed_example_with_episode_end_and_truncation():
    # One row, five steps; gamma = lambda = 0.5 so gamma * lambda = 0.25.
    # t=1 ends in a terminal state (next value 0); t=3 is cut by a time limit, bootstrapped
    # from V(final obs) = 10; t=4 runs on into V(o_5) = 4.
    #   deltas: t0 = 1 + .5*1.0 - .5 = 1.0   t1 = 2 + 0 - 1.0 = 1.0   t2 = 3 + .5*2.0 - 1.5 = 2.5
    #           t3 = 4 + .5*10 - 2.0 = 7.0   t4 = 5 + .5*4 - 2.5 = 4.5
    #   advantages (backwards, reset at ends): A4 = 4.5, A3 = 7.0, A2 = 2.5 + .25*7 = 4.25,
    #                                          A1 = 1.0, A0 = 1.0 + .25*1.0 = 1.25
    column = lambda xs, dtype=torch.float32: torch.tensor(xs, dtype=dtype)[:, None]  # noqa: E731
    advantages, returns = compute_gae(
        rewards=column([1.0, 2.0, 3.0, 4.0, 5.0]),
        values=column([0.5, 1.0, 1.5, 2.0, 2.5]),
        last_values=torch.tensor([4.0]),
        terminated=column([False, True, False, False, False], torch.bool),
        truncated=column([False, False, False, True, False], torch.bool),
        final_values=column([0.0, 0.0, 0.0, 10.0, 0.0]),
        gamma=0.5, lam=0.5)
    assert advantages[:, 0].tolist() == [1.25, 1.0, 4.25, 7.0, 4.5]
    assert returns[:, 0].tolist() == [1.75, 2.0, 5.75, 9.0, 7.0]


def reference_gae_by_episode(rewards, values, last_values, terminated, truncated, final_values,
                             gamma, lam):
    """A_t = sum_k (gamma lam)^k delta_t+k over the rest of t's episode, summed forwards."""
    T, N = rewards.shape
    advantages = np.zeros((T, N))
    for n in range(N):
        for t in range(T):
            total, weight = 0.0, 1.0
            for u in range(t, T):
                if terminated[u, n]:
                    next_value = 0.0
                elif truncated[u, n]:
                    next_value = final_values[u, n]
                else:
                    next_value = values[u + 1, n] if u + 1 < T else last_values[n]
                total += weight * (rewards[u, n] + gamma * next_value - values[u, n])
                if terminated[u, n] or truncated[u, n]:
                    break
                weight *= gamma * lam
            advantages[t, n] = total
    return advantages


def test_gae_matches_reference_loop_on_random_rollout():
    rng = np.random.default_rng(0)
    T, N = 30, 5
    terminated = rng.random((T, N)) < 0.1
    truncated = rng.random((T, N)) < 0.1  # some steps are both: a terminal state wins
    arrays = dict(rewards=rng.normal(size=(T, N)), values=rng.normal(size=(T, N)),
                  last_values=rng.normal(size=N), terminated=terminated, truncated=truncated,
                  final_values=rng.normal(size=(T, N)))
    expected = reference_gae_by_episode(**arrays, gamma=0.99, lam=0.9)
    advantages, returns = compute_gae(**{k: torch.from_numpy(v) for k, v in arrays.items()},
                                      gamma=0.99, lam=0.9)
    np.testing.assert_allclose(advantages.numpy(), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(returns.numpy(), expected + arrays["values"], atol=1e-12)


# --- the clipped objective ----------------------------------------------------------------


def surrogate_gradient(ratio: float, advantage: float) -> float:
    logp = torch.tensor([np.log(ratio)], dtype=torch.float64, requires_grad=True)
    loss = clipped_surrogate_loss(logp, torch.zeros(1, dtype=torch.float64),
                                  torch.tensor([advantage], dtype=torch.float64), clip=0.2)
    loss.backward()
    return logp.grad.item()


@pytest.mark.parametrize("ratio, advantage", [(1.5, 1.0), (1.21, 2.0), (0.5, -1.0), (0.79, -3.0)])
def test_clipped_objective_has_zero_gradient_beyond_the_clip_in_the_advantage_direction(
        ratio, advantage):
    assert surrogate_gradient(ratio, advantage) == 0.0


@pytest.mark.parametrize("ratio, advantage", [(1.0, 1.0), (1.1, -2.0), (0.9, 1.0), (0.5, 1.0),
                                              (1.5, -1.0)])
def test_clipped_objective_keeps_gradient_inside_the_clip_range_or_against_the_advantage(
        ratio, advantage):
    # Unclipped: loss = -ratio * A, so d loss / d log ratio = -ratio * A.
    assert surrogate_gradient(ratio, advantage) == pytest.approx(-ratio * advantage)


# --- running normalisers ------------------------------------------------------------------


def test_exact_normaliser_matches_numpy_over_a_stream_of_batches():
    rng = np.random.default_rng(1)
    batches = [rng.normal(3.0, 2.0, size=(n, 3)) * [1.0, 10.0, 0.01] for n in (1, 7, 0, 50, 3)]
    normaliser = RunningMeanStd((3,), clip=5.0, var_floor=0.01)
    for batch in batches:
        normaliser.update(torch.from_numpy(batch))
    everything = np.concatenate(batches)
    np.testing.assert_allclose(normaliser.mean.numpy(), everything.mean(0), rtol=1e-12)
    np.testing.assert_allclose(normaliser.var.numpy(), everything.var(0), rtol=1e-12)
    assert normaliser.count.item() == len(everything)
    x = rng.normal(size=(4, 3)) * 30
    std = np.sqrt(np.maximum(everything.var(0), 0.01))  # the third feature hits the floor
    expected = np.clip((x - everything.mean(0)) / std, -5, 5)
    np.testing.assert_allclose(normaliser.normalise(torch.from_numpy(x)).numpy(), expected,
                               rtol=1e-12)


def test_ema_normaliser_matches_the_papers_debiased_moving_average():
    rng = np.random.default_rng(2)
    decay = 0.9
    normaliser = RunningMeanStd((2,), mode="ema", decay=decay)
    biased_mean, biased_square, debias = np.zeros(2), np.zeros(2), 0.0
    for n in (5, 1, 20, 3):
        batch = rng.normal(1.0, 3.0, size=(n, 2))
        normaliser.update(torch.from_numpy(batch))
        kept = decay**n  # the reference: first and second moments, divided by the debias term
        biased_mean = kept * biased_mean + (1 - kept) * batch.mean(0)
        biased_square = kept * biased_square + (1 - kept) * (batch**2).mean(0)
        debias = kept * debias + (1 - kept)
    mean = biased_mean / debias
    np.testing.assert_allclose(normaliser.mean.numpy(), mean, rtol=1e-12)
    np.testing.assert_allclose(normaliser.var.numpy(), biased_square / debias - mean**2, rtol=1e-9)


def test_observation_normaliser_shares_stats_across_entities_and_leaves_masks_untouched():
    rng = np.random.default_rng(3)
    T, N, E = 3, 2, 4
    exists = rng.random((T, N, E)) < 0.7
    obs = {"self": torch.from_numpy(rng.normal(size=(T, N, 5))),
           "boxes": torch.from_numpy(rng.normal(2.0, 4.0, size=(T, N, E, 6))),
           "ramps": torch.zeros(T, N, 0, 6, dtype=torch.float64),  # a preset with no ramps
           "visible_boxes": torch.from_numpy(rng.random((T, N, E)) < 0.5),
           "exists_boxes": torch.from_numpy(exists)}
    normaliser = ObsNormaliser({"self": 5, "boxes": 6, "ramps": 6})
    normaliser.update(obs)
    normalised = normaliser(obs)
    real_boxes = obs["boxes"].numpy()[exists]  # [n_real, 6]: padding slots do not count
    np.testing.assert_allclose(normaliser.stats["boxes"].mean.numpy(), real_boxes.mean(0))
    np.testing.assert_allclose(normaliser.stats["boxes"].var.numpy(), real_boxes.var(0))
    std = np.sqrt(np.maximum(real_boxes.var(0), 0.01))
    np.testing.assert_allclose(normalised["boxes"].numpy(),  # one set of stats for every slot
                               np.clip((obs["boxes"].numpy() - real_boxes.mean(0)) / std, -5, 5))
    assert normaliser.stats["ramps"].count.item() == 0
    for mask in ("visible_boxes", "exists_boxes"):
        assert normalised[mask] is obs[mask]


def test_observation_normaliser_rejects_a_float_key_it_has_no_stats_for():
    normaliser = ObsNormaliser({"self": 3})
    with pytest.raises(KeyError, match="'lidar'.*expected one of \\['self'\\]"):
        normaliser({"self": torch.zeros(1, 3), "lidar": torch.zeros(1, 30)})


def test_normaliser_state_round_trips_through_save_and_load():
    ppo, _, rollout = cartpole_rollout()
    ppo.update(rollout)
    buffer = io.BytesIO()
    torch.save(ppo.state_dict(), buffer)
    fresh, _, _ = cartpole_rollout(seed=1, config=ppo.config)
    buffer.seek(0)
    fresh.load_state_dict(torch.load(buffer))
    for a, b in [(ppo.obs_normaliser, fresh.obs_normaliser),
                 (ppo.value_normaliser, fresh.value_normaliser)]:
        for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
            assert torch.equal(x, y), name
    x = torch.randn(5, 4)
    assert torch.equal(ppo.normalise_obs({"self": x}, update_stats=False)["self"],
                       fresh.normalise_obs({"self": x}, update_stats=False)["self"])


# --- recurrent chunks ---------------------------------------------------------------------


def test_replaying_chunks_from_stored_states_reproduces_rollout_log_probs():
    ppo, _, rollout = cartpole_rollout(use_lstm=True, T=60, N=4)
    inside = rollout.starts.clone()
    inside[::10] = False  # starts that fall inside a chunk, not on its first step
    assert inside.any(), "the test needs episode starts inside chunks"
    chunk = lambda x: split_into_chunks(x, 10)  # noqa: E731  [L, C, ...]
    state = rollout.chunk_states.flatten(0, 1)  # [C, S]
    with torch.no_grad():
        dist, value, _ = ppo.model({"self": chunk(rollout.obs["self"])}, state,
                                   chunk(rollout.starts))
        replayed = dist.log_prob(chunk(rollout.actions))
        ignoring_starts, _, _ = ppo.model({"self": chunk(rollout.obs["self"])}, state,
                                          torch.zeros_like(chunk(rollout.starts)))
    torch.testing.assert_close(replayed, chunk(rollout.logp), rtol=0, atol=1e-6)
    torch.testing.assert_close(value, chunk(rollout.values), rtol=0, atol=1e-6)
    assert not torch.allclose(ignoring_starts.log_prob(chunk(rollout.actions)), replayed)


def test_rollout_length_must_be_a_multiple_of_the_chunk_length():
    ppo, _, rollout = cartpole_rollout(T=25, config=PPOConfig(chunk_len=5))
    ppo.config = replace(ppo.config, chunk_len=10)
    with pytest.raises(ValueError, match="T=25 is not a multiple of chunk_len=10"):
        ppo.update(rollout)


# --- learning -----------------------------------------------------------------------------


def test_ppo_solves_cartpole_within_30k_steps():
    config = DemoConfig(use_lstm=False, total_steps=30_000, stop_at=195.0, seed=0)
    result = train(config, log_every=1e9)
    assert steps_to_reach(result["curve"], 195.0) is not None, result["curve"][-5:]


def test_update_reports_every_diagnostic_as_a_finite_number():
    ppo, _, rollout = cartpole_rollout()
    diagnostics = ppo.update(rollout)
    for key in ("policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction",
                "explained_variance", "grad_norm"):
        assert np.isfinite(diagnostics[key]), key


def test_padding_rows_marked_invalid_do_not_change_the_update():
    """Games with variable team sizes have padding agent slots; rows with valid=False, whatever
    they hold, must leave the update exactly as it is without them."""
    import copy

    config = PPOConfig(epochs=1, minibatches=1, seed=0)
    ppo, _, rollout = cartpole_rollout(use_lstm=True, config=config)
    twin = copy.deepcopy(ppo)
    T, N = rollout.rewards.shape
    g = torch.Generator().manual_seed(5)
    junk = lambda x: torch.randn(x.shape[0], 2, *x.shape[2:], generator=g).to(x.dtype)
    pad = lambda x, make: torch.cat([x, make(x)], dim=1)
    padded = Rollout(
        obs={k: pad(v, junk) for k, v in rollout.obs.items()},
        actions=pad(rollout.actions, lambda x: x[:, :2]), logp=pad(rollout.logp, junk),
        values=pad(rollout.values, junk), rewards=pad(rollout.rewards, junk),
        starts=pad(rollout.starts, lambda x: x[:, :2]),
        terminated=pad(rollout.terminated, lambda x: x[:, :2]),
        truncated=pad(rollout.truncated, lambda x: x[:, :2]),
        final_values=pad(rollout.final_values, junk),
        last_values=torch.cat([rollout.last_values, torch.randn(2, generator=g)]),
        chunk_states=pad(rollout.chunk_states, junk),
        valid=torch.cat([torch.ones(T, N, dtype=torch.bool), torch.zeros(T, 2, dtype=torch.bool)], 1))
    ppo.update(rollout)
    twin.update(padded)
    for a, b in zip(parameters(ppo.model), parameters(twin.model)):
        assert torch.allclose(a, b, atol=1e-6)


def test_resuming_from_state_dict_continues_bit_for_bit():
    ppo, collector, first = cartpole_rollout(use_lstm=True)
    second, _ = collect_rollout(ppo, collector, 40)
    ppo.update(first)
    buffer = io.BytesIO()
    torch.save(ppo.state_dict(), buffer)
    ppo.update(second)
    resumed, _, _ = cartpole_rollout(use_lstm=True, seed=5, config=ppo.config)
    buffer.seek(0)
    resumed.load_state_dict(torch.load(buffer))
    resumed.update(second)
    for a, b in zip(parameters(ppo.model), parameters(resumed.model)):
        assert torch.equal(a, b)


# --- nan and inf --------------------------------------------------------------------------


class NanValue(torch.nn.Module):
    """Wraps a model so that its value output is nan."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, obs, state, starts):
        dist, value, state = self.model(obs, state, starts)
        return dist, value * float("nan"), state


class NanGradient(torch.autograd.Function):
    """Identity forwards; nan backwards."""

    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        return grad * float("nan")


class NanValueGradient(NanValue):
    def forward(self, obs, state, starts):
        dist, value, state = self.model(obs, state, starts)
        return dist, NanGradient.apply(value), state


def test_nan_in_a_loss_raises_naming_it_and_keeps_the_parameters():
    ppo, _, rollout = cartpole_rollout()
    ppo.model = NanValue(ppo.model)
    before = parameters(ppo.model)
    with pytest.raises(NonFiniteError, match="value loss"):
        ppo.update(rollout)
    assert all(torch.equal(a, b) for a, b in zip(before, parameters(ppo.model)))
    assert ppo.optimizer.state_dict()["state"] == {}  # no Adam step was taken


def test_nan_in_a_gradient_raises_naming_the_parameter_and_keeps_the_parameters():
    ppo, _, rollout = cartpole_rollout()
    ppo.model = NanValueGradient(ppo.model)
    before = parameters(ppo.model)
    with pytest.raises(NonFiniteError, match="gradient of model.critic"):
        ppo.update(rollout)
    assert all(torch.equal(a, b) for a, b in zip(before, parameters(ppo.model)))


# --- the built-in CartPole ----------------------------------------------------------------


def test_cartpole_truncates_at_500_steps_and_hands_back_the_final_observation():
    env = CartPole(2, seed=0)
    env.reset()
    env.state[:] = 0.0
    env.steps[:] = [499, 10]
    obs, reward, terminated, truncated, final_obs = env.step(np.array([1, 1]))
    assert truncated.tolist() == [True, False] and not terminated.any()
    assert final_obs[0, 1] == pytest.approx(0.195, abs=1e-3)  # the cart was pushed: x_dot > 0
    assert abs(obs[0, 1]) <= 0.05 and env.steps.tolist() == [0, 11]  # copy 0 was reset


def test_builtin_cartpole_follows_gymnasiums_dynamics():
    gym = pytest.importorskip("gymnasium")
    reference = gym.make("CartPole-v1").unwrapped
    reference.reset(seed=0)
    env = CartPole(1, seed=0)
    env.reset()
    env.state[0] = np.array(reference.state, dtype=np.float64)
    for action in [1, 1, 0, 1, 0, 0, 0, 1, 1, 1]:
        expected, reward, terminated, _, _ = reference.step(action)
        obs, ours, done, _, _ = env.step(np.array([action]))
        np.testing.assert_allclose(obs[0], expected, rtol=1e-5, atol=1e-6)
        assert (ours[0], done[0]) == (reward, terminated)
