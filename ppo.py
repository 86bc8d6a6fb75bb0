"""ppo.py: Proximal Policy Optimisation with GAE, recurrent chunks and running normalisers.

What it teaches. PPO improves a stochastic policy from batches of its own experience: it scores each
action by how much better it went than the critic expected (the advantage, estimated with GAE) and
raises that action's probability, but clips the objective so that one batch cannot move the policy
far from the one that collected it. Hide-and-seek (Baker et al. 2019, section 4 and appendix B) was
trained with exactly this learner at a far larger scale; the numbers it used are the defaults of
`PPOConfig` (shared/reference/paper_facts.md, sections 5.4 and 6).

Key equations (V in reward units here; the critic itself outputs normalised values):

    delta_t = r_t + gamma * V(o_t+1) * (1 - done_t) - V(o_t)           one-step TD error
    A_t     = delta_t + gamma * lambda * (1 - done_t) * A_t+1          GAE, summed backwards in time
    R_t     = A_t + V(o_t)                                             the critic's target
    ratio_t = pi(a_t | o_t) / pi_old(a_t | o_t)
    L       = -mean(min(ratio_t A_t, clip(ratio_t, 1 - eps, 1 + eps) A_t))     clipped surrogate
            + c_v * 1/2 mean((V(o_t) - R_t)^2) - c_e * mean(entropy)

Reading order: `PPOConfig` (every knob) -> `RunningMeanStd` and `ObsNormaliser` -> `Rollout` and
`compute_gae` -> `split_into_chunks` -> the losses -> `PPO.update` (the table of contents of one
update) -> the demo: `RecurrentActorCritic`, `CartPole`, `collect_rollout`, `train`.

Axes: T time steps in a rollout, N agent rows (worlds x agents), L chunk length, C chunks, B chunks
in a minibatch, S recurrent state size, D features, E entities of one type.

Demo:  python ppo.py                    CartPole, then CartPole with velocities hidden, with and
                                        without the LSTM (about 70 s on 2 cores)
       python ppo.py --env Acrobot-v1   any Gymnasium environment with discrete actions
                                        (`pip install gymnasium`; CartPole is built in)

Implementation details, each marked "Detail N" where it is implemented:
  1. GAE stops at episode ends and bootstraps truncated episodes from their last observation.
  2. Advantages are standardised over the whole batch.
  3. The clipped surrogate objective.
  4. Value loss on normalised targets, optionally clipped around the old prediction.
  5. Entropy bonus.
  6. Global gradient-norm clipping.
  7. Adam with epsilon 1e-5.
  8. Running observation normalisation (per key, shared over entities, masks untouched), clipped.
  9. Running value-target normalisation; the critic predicts normalised values.
 10. Truncated backpropagation through time over chunks of L steps, replayed from the stored state.
 11. Minibatches are whole chunks, shuffled, so the time order inside a chunk survives.
 12. Several epochs over each batch, optionally stopped early at a KL target.
 13. A non-finite loss or gradient stops the update before the optimiser step.
 14. (demo model) Small action-head initialisation and LSTM forget-gate bias +1, as in the paper.
 15. (demo env) An episode is reset in the step it ends, handing back its final observation.
 16. Rows marked invalid (padding agent slots of games with variable team sizes) are left out of
     the losses, the advantage statistics and both normalisers.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import time
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import torch
from torch import nn


# ----------------------------------------------------------------------------------------------
# 1. Hyperparameters
# ----------------------------------------------------------------------------------------------


@dataclass
class PPOConfig:
    """Everything PPO can be told. Defaults are the paper's where it gives them (facts 5.4, 6)."""

    lr: float = 3e-4  # Adam learning rate, constant (paper 3e-4)
    adam_eps: float = 1e-5  # Detail 7: Adam's epsilon (PyTorch default 1e-8)
    weight_decay: float = 0.0  # L2 weight decay (paper possibly 1e-6, unverified)
    gamma: float = 0.998  # discount per step (paper 0.998: a horizon of about 500 steps)
    gae_lambda: float = 0.95  # GAE lambda: 0 = one-step TD, 1 = Monte Carlo (paper 0.95)
    clip: float = 0.2  # PPO clip range epsilon on the probability ratio (paper 0.2)
    value_clip: float | None = 0.2  # Detail 4: clip value moves to +-this (normalised); None: plain
    value_coef: float = 0.5  # weight c_v of the value loss (paper: not stated)
    entropy_coef: float = 0.01  # weight c_e of the entropy bonus (paper 0.01)
    max_grad_norm: float | None = 5.0  # Detail 6: global gradient-norm clip (paper 5); None: off
    chunk_len: int = 10  # Detail 10: BPTT truncation length L in steps (paper 10)
    epochs: int = 4  # Detail 12: passes over each batch (paper: reused at most 4 times)
    minibatches: int = 4  # minibatches per epoch; each holds C / minibatches whole chunks
    target_kl: float | None = None  # Detail 12: stop epochs once approx. KL passes this; None: off
    normalise_advantages: bool = True  # Detail 2: standardise advantages over the batch
    normalise_observations: bool = True  # Detail 8: running mean/std per observation key
    normalise_values: bool = True  # Detail 9: running mean/std of value targets
    normaliser: str = "exact"  # "exact" (Chan's merge of all data) or "ema" (the paper's)
    ema_decay: float = 0.99999  # "ema" only: decay per sample (paper: 0.99999 per update)
    obs_clip: float = 5.0  # normalised observations are clipped to +-this (paper 5)
    var_floor: float = 0.01  # variances below this are raised to it before dividing (paper 0.01)
    bf16: bool = False  # bf16 autocast for the model, losses in fp32 (pays off for wide models)
    seed: int = 0  # seeds the minibatch shuffling (the caller seeds the model and the env)


# ----------------------------------------------------------------------------------------------
# 2. Running normalisers
# ----------------------------------------------------------------------------------------------


class RunningMeanStd(nn.Module):
    """Running mean and variance of a stream of samples of shape `shape`; normalises with them.

    Statistics live in float64 buffers, so they travel in `state_dict()`. Both modes merge a batch
    (mean_b, var_b, n samples) into the stored (mean, var) as a mixture with weight f on the batch:

        delta = mean_b - mean
        mean <- mean + f delta
        var  <- (1 - f) var + f var_b + f (1 - f) delta^2

    "exact":  f = n / (count + n): Chan et al.'s parallel update, equal to numpy over all data.
    "ema":    the paper's exponential moving average with decay per sample, debiased like Adam's
              moments: f = (1 - decay^n) / (weight of everything so far).
    """

    def __init__(self, shape=(), mode="exact", decay=0.99999, clip=None, var_floor=0.01):
        super().__init__()
        if mode not in ("exact", "ema"):
            raise ValueError(f"normaliser mode {mode!r} is unknown; expected 'exact' or 'ema'")
        self.mode, self.decay, self.clip, self.var_floor = mode, decay, clip, var_floor
        self.register_buffer("mean", torch.zeros(shape, dtype=torch.float64))
        self.register_buffer("var", torch.ones(shape, dtype=torch.float64))
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))  # samples seen
        self.register_buffer("ema_weight", torch.zeros((), dtype=torch.float64))  # EMA debias term

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        """Merge samples x [..., *shape] (every leading axis is a sample axis) into the stats."""
        x = x.detach().to(torch.float64).reshape(-1, *self.mean.shape)  # [n, *shape]
        n = x.shape[0]
        if n == 0:  # e.g. a preset with no ramps: nothing to learn from
            return
        batch_mean, batch_var = x.mean(0), x.var(0, unbiased=False)
        if self.mode == "exact":
            f = n / (self.count + n)
        elif self.mode == "ema":
            kept = self.decay**n  # weight left on the old statistics after n samples
            self.ema_weight.copy_(kept * self.ema_weight + (1 - kept))
            f = (1 - kept) / self.ema_weight  # the debiasing: the first batch gets f = 1
        else:
            raise ValueError(f"normaliser mode {self.mode!r} is unknown; expected 'exact' or 'ema'")
        delta = batch_mean - self.mean
        self.mean.add_(f * delta)
        self.var.copy_((1 - f) * self.var + f * batch_var + f * (1 - f) * delta**2)
        self.count.add_(n)

    def std(self) -> torch.Tensor:
        return self.var.clamp(min=self.var_floor).sqrt()  # the floor keeps constant features finite

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        y = ((x - self.mean) / self.std()).to(x.dtype)
        return y if self.clip is None else y.clamp(-self.clip, self.clip)

    def denormalise(self, y: torch.Tensor) -> torch.Tensor:
        return (y * self.std() + self.mean).to(y.dtype)


class ObsNormaliser(nn.Module):
    """One `RunningMeanStd` per float observation key; bool keys (masks) pass through untouched.

    A key of shape [..., E, D] (an entity type) keeps one set of D statistics shared by all its E
    entities, so the order and number of entities do not matter. Padding slots carry no information,
    so where the observation has `exists_<key>` ([..., E] bool) only real entities update the stats.
    """

    def __init__(self, sizes: dict[str, int], mode="exact", decay=0.99999, clip=5.0,
                 var_floor=0.01):
        super().__init__()
        self.stats = nn.ModuleDict(
            {key: RunningMeanStd((d,), mode, decay, clip, var_floor) for key, d in sizes.items()})

    def _float_keys(self, obs: dict) -> list[str]:
        keys = [k for k, x in obs.items() if x.dtype != torch.bool]
        for k in keys:
            if k not in self.stats:
                raise KeyError(f"observation key {k!r} is float but has no normaliser; "
                               f"expected one of {sorted(self.stats)} (bool keys pass untouched)")
            if obs[k].shape[-1] != self.stats[k].mean.shape[0]:
                raise ValueError(f"observation {k!r} has feature size {obs[k].shape[-1]}; "
                                 f"expected {self.stats[k].mean.shape[0]}")
        return keys

    @torch.no_grad()
    def update(self, obs: dict) -> None:
        for k in self._float_keys(obs):
            x = obs[k]  # [..., D] or [..., E, D]
            exists = obs.get(f"exists_{k}")
            if exists is not None:
                x = x[exists]  # [n_real, D]: padding slots left out
            self.stats[k].update(x)

    @torch.no_grad()
    def forward(self, obs: dict) -> dict:
        out = dict(obs)
        for k in self._float_keys(obs):
            out[k] = self.stats[k].normalise(obs[k])
        return out


# ----------------------------------------------------------------------------------------------
# 3. The rollout and GAE
# ----------------------------------------------------------------------------------------------


@dataclass
class Rollout:
    """T steps of N agent rows, as collected; selfplay.py fills one per update.

    | field        | shape          | meaning                                                   |
    |--------------|----------------|-----------------------------------------------------------|
    | obs          | {k: [T, N, ..]}| observations as the model saw them (already normalised)   |
    | actions      | [T, N, ...]    | actions taken                                             |
    | logp         | [T, N]         | log pi_old(a_t | o_t) when collected                      |
    | values       | [T, N]         | critic output, normalised units                           |
    | rewards      | [T, N]         | reward received after acting at t                         |
    | starts       | [T, N] bool    | o_t is the first observation of an episode                |
    | terminated   | [T, N] bool    | the episode ended after step t in a terminal state        |
    | truncated    | [T, N] bool    | the episode was cut after step t by a time limit          |
    | final_values | [T, N]         | critic output for a truncated episode's last observation  |
    | last_values  | [N]            | critic output for the observation after step T-1          |
    | chunk_states | [T // L, N, S] | recurrent state entering steps 0, L, 2L, ... (pre-reset)  |
    | valid        | [T, N] bool    | optional: rows that count (False: a padding agent slot)   |

    Time runs down the rows; starts[t + 1] == terminated[t] | truncated[t]:

        t        0    1    2    3    4    5
        starts   .    .    x    .    .    x        x: a new episode begins at this observation
        ended    .    x    .    .    x    .        terminated or truncated after this step
    """

    obs: dict
    actions: torch.Tensor
    logp: torch.Tensor
    values: torch.Tensor
    rewards: torch.Tensor
    starts: torch.Tensor
    terminated: torch.Tensor
    truncated: torch.Tensor
    final_values: torch.Tensor
    last_values: torch.Tensor
    chunk_states: torch.Tensor
    valid: torch.Tensor | None = None  # None: every row counts


def stack_steps(steps: list) -> dict:
    """T per-step dicts of [N, ...] tensors (obs nested) -> one dict of [T, N, ...] tensors."""
    if isinstance(steps[0], dict):
        return {k: stack_steps([step[k] for step in steps]) for k in steps[0]}
    return torch.stack(steps)


def check_rollout(rollout: Rollout, chunk_len: int) -> None:
    """Raise, naming the field, if a rollout is malformed or holds non-finite numbers."""
    T, N = rollout.rewards.shape
    if T % chunk_len:
        raise ValueError(f"rollout length T={T} is not a multiple of chunk_len={chunk_len}")
    for name in ("logp", "values", "rewards", "starts", "terminated", "truncated", "final_values"):
        if getattr(rollout, name).shape != (T, N):
            raise ValueError(f"rollout.{name} has shape {tuple(getattr(rollout, name).shape)}; "
                             f"expected (T, N) = {(T, N)}")
    if rollout.chunk_states.shape[:2] != (T // chunk_len, N):
        raise ValueError(f"rollout.chunk_states has shape {tuple(rollout.chunk_states.shape)}; "
                         f"expected (T // chunk_len, N, S) = {(T // chunk_len, N)} + (S,)")
    if rollout.valid is not None and (rollout.valid.shape != (T, N)
                                      or rollout.valid.dtype != torch.bool):
        raise ValueError(f"rollout.valid must be bool (T, N) = {(T, N)}, got "
                         f"{rollout.valid.dtype} {tuple(rollout.valid.shape)}")
    ended = rollout.terminated | rollout.truncated
    if not torch.equal(rollout.starts[1:], ended[:-1]):
        raise ValueError("rollout.starts[t + 1] must equal terminated[t] | truncated[t]")
    for name in ("logp", "values", "rewards", "final_values", "last_values", "chunk_states"):
        check_finite(f"rollout.{name}", getattr(rollout, name))


class NonFiniteError(FloatingPointError):
    """A loss, gradient or input holds nan or inf; the update stopped before changing anything."""


def check_finite(name: str, x: torch.Tensor) -> None:
    bad = ~torch.isfinite(x)
    if bad.any():
        where = tuple(torch.nonzero(bad)[0].tolist())
        raise NonFiniteError(f"{name} is not finite: {x[where].item()} at index {where}")


def compute_gae(rewards, values, last_values, terminated, truncated, final_values, gamma, lam):
    """Generalised advantage estimates and value targets (Schulman et al. 2016), all [T, N].

    | symbol       | shape  | description                                                 |
    |--------------|--------|-------------------------------------------------------------|
    | rewards      | [T, N] | r_t                                                         |
    | values       | [T, N] | V(o_t), same units as the rewards                           |
    | last_values  | [N]    | V(o_T): bootstraps whatever is still running after step T-1 |
    | terminated   | [T, N] | bool: the episode ended at t, nothing follows (V = 0)       |
    | truncated    | [T, N] | bool: the episode was cut at t; its future is worth ...     |
    | final_values | [T, N] | ... V(last observation), read where truncated               |
    | returns      | [T, N] | A_t + V(o_t), the critic's target                           |
    """
    # Detail 1: at an episode end the next row of `values` belongs to a new episode, so it must
    # not leak into this one; a terminal state is worth 0, a time-limit cut is worth V(o_final).
    next_values = torch.cat([values[1:], last_values[None]])  # [T, N] V(o_t+1) if it continues
    ended = terminated | truncated
    bootstrap = torch.where(truncated & ~terminated, final_values, torch.zeros_like(final_values))
    next_values = torch.where(ended, bootstrap, next_values)
    deltas = rewards + gamma * next_values - values  # [T, N]
    advantages = torch.zeros_like(values)
    running = torch.zeros_like(last_values)  # [N] A_t+1
    for t in reversed(range(rewards.shape[0])):
        running = deltas[t] + gamma * lam * running * ~ended[t]  # GAE stops at episode ends
        advantages[t] = running
    return advantages, advantages + values


# ----------------------------------------------------------------------------------------------
# 4. Recurrent chunks
# ----------------------------------------------------------------------------------------------


def split_into_chunks(x: torch.Tensor, chunk_len: int) -> torch.Tensor:
    """[T, N, ...] -> [L, C, ...] with C = (T / L) * N; chunk c = k * N + n is steps kL..kL+L-1
    of row n, the same order as `chunk_states.reshape(C, S)`.

        row n:  | chunk k=0: t=0..L-1 | chunk k=1: t=L..2L-1 | ...
    """
    T, N, *rest = x.shape
    K = T // chunk_len
    x = x.reshape(K, chunk_len, N, *rest).transpose(0, 1)  # [L, K, N, ...]
    return x.reshape(chunk_len, K * N, *rest)  # [L, C, ...]


def tree_map(fn, tree):
    """Apply fn to every tensor in a (possibly nested) dict of tensors."""
    if isinstance(tree, dict):
        return {k: tree_map(fn, v) for k, v in tree.items()}
    return fn(tree)


# ----------------------------------------------------------------------------------------------
# 5. Losses
# ----------------------------------------------------------------------------------------------


def masked_mean(x, valid=None):
    """Detail 16: mean of x over the entries where `valid` is True (all of them when it is None):
    padding agent slots (games with variable team sizes) must not pull on the losses."""
    if valid is None:
        return x.mean()
    weight = valid.to(x.dtype)
    return (x * weight).sum() / weight.sum().clamp(min=1.0)


def clipped_surrogate_loss(logp, old_logp, advantages, clip, valid=None):
    """Detail 3: -mean(min(ratio A, clip(ratio) A)). Outside [1 - clip, 1 + clip], in the
    direction the advantage favours, the clipped term wins and its gradient is zero: going further
    earns nothing. In the other direction the unclipped term stays, so a mistake can be undone."""
    ratio = torch.exp(logp - old_logp)  # [L, B]
    unclipped = ratio * advantages
    clipped = ratio.clamp(1 - clip, 1 + clip) * advantages
    return -masked_mean(torch.min(unclipped, clipped), valid)


def value_loss(value, old_value, target, clip, valid=None):
    """Detail 4: 1/2 mean((V - R)^2) in normalised units; clipped: the worse of the new prediction
    and one kept within +-clip of the old, so the critic cannot jump on one batch either."""
    if clip is None:
        return 0.5 * masked_mean((value - target) ** 2, valid)
    clipped_value = old_value + (value - old_value).clamp(-clip, clip)
    return 0.5 * masked_mean(torch.max((value - target) ** 2, (clipped_value - target) ** 2), valid)


@torch.no_grad()
def policy_change(logp, old_logp, clip) -> tuple[float, float]:
    """Approximate KL(old || new) by the unbiased k3 estimator; the fraction of clipped ratios."""
    log_ratio = logp - old_logp
    approx_kl = ((log_ratio.exp() - 1) - log_ratio).mean().item()
    clip_fraction = ((log_ratio.exp() - 1).abs() > clip).float().mean().item()
    return approx_kl, clip_fraction


def explained_variance(values: torch.Tensor, returns: torch.Tensor) -> float:
    """1 - Var(R - V) / Var(R): 1 is a perfect critic, 0 no better than a constant, < 0 worse."""
    var_returns = returns.var()
    if var_returns == 0:
        return float("nan")
    return (1 - (returns - values).var() / var_returns).item()


# ----------------------------------------------------------------------------------------------
# 6. The learner
# ----------------------------------------------------------------------------------------------


class PPO:
    """Holds the model, its optimiser and the normalisers; `update(rollout)` is one PPO update.

    The model is any module with the recurrent actor-critic interface of attention.py:
    `dist, value, new_state = model(obs, state [N, S], starts [T, N])`, `value` normalised.
    """

    def __init__(self, model: nn.Module, obs_sizes: dict[str, int], config: PPOConfig = None):
        self.config = cfg = config or PPOConfig()
        self.model = model
        self.device = next(model.parameters()).device  # the normalisers live beside the model
        self.obs_normaliser = ObsNormaliser(
            obs_sizes, cfg.normaliser, cfg.ema_decay, cfg.obs_clip, cfg.var_floor).to(self.device)
        self.value_normaliser = RunningMeanStd(
            (), cfg.normaliser, cfg.ema_decay, clip=None, var_floor=cfg.var_floor).to(self.device)
        self.optimizer = torch.optim.Adam(
            model.parameters(), lr=cfg.lr, eps=cfg.adam_eps, weight_decay=cfg.weight_decay)
        self.generator = torch.Generator().manual_seed(cfg.seed)  # minibatch order, saved
        self.updates = 0

    def autocast(self):
        """bf16 autocast when `config.bf16`; use it around every model call, collection too, so
        the replayed log-probabilities match the collected ones."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.config.bf16)

    def normalise_obs(self, obs: dict, update_stats: bool = True, valid=None) -> dict:
        """Detail 8: the collector calls this on every raw observation [N, ...] and stores the
        result. Rows where `valid` [N] is False (padding agent slots) do not update the stats."""
        if not self.config.normalise_observations:
            return obs  # plain form: raw features straight into the network
        if update_stats:
            self.obs_normaliser.update(obs if valid is None else {k: v[valid] for k, v in obs.items()})
        return self.obs_normaliser(obs)

    def update(self, rollout: Rollout) -> dict[str, float]:
        """One PPO update: targets, chunks, epochs of minibatch steps. Returns diagnostics."""
        cfg = self.config
        check_rollout(rollout, cfg.chunk_len)
        advantages, returns, old_values = self._advantages_and_targets(rollout)  # [T, N] each
        self.advantages = advantages  # kept: a start-state curriculum scores states by them
        batch = self._chunked_batch(rollout, advantages, returns, old_values)  # [L, C, ...]
        records = []
        for epoch in range(cfg.epochs):
            for i, chunk_ids in enumerate(self._minibatch_ids(batch["state"].shape[0])):
                records.append(self._minibatch_step(select_chunks(batch, chunk_ids), epoch, i))
            if cfg.target_kl is not None and records[-1]["approx_kl"] > cfg.target_kl:
                break  # Detail 12: the policy moved far enough on this batch
        self.updates += 1
        diagnostics = {k: float(np.mean([r[k] for r in records])) for k in records[0]}
        diagnostics["explained_variance"] = explained_variance(old_values, returns)
        diagnostics["return_mean"] = returns.mean().item()
        diagnostics["epochs"] = epoch + 1
        return diagnostics

    def _advantages_and_targets(self, rollout: Rollout):
        """GAE in reward units, then the value normaliser learns this batch's returns."""
        cfg, values_norm = self.config, self.value_normaliser
        # Detail 9: the critic speaks normalised units; the statistics it was collected under
        # turn its outputs back into rewards' units before GAE.
        values = values_norm.denormalise(rollout.values)  # [T, N]
        advantages, returns = compute_gae(
            rollout.rewards, values, values_norm.denormalise(rollout.last_values),
            rollout.terminated, rollout.truncated, values_norm.denormalise(rollout.final_values),
            cfg.gamma, cfg.gae_lambda)
        if cfg.normalise_values:
            values_norm.update(returns if rollout.valid is None else returns[rollout.valid])
        # else: the statistics stay at mean 0, std 1, and "normalised" means "in reward units"
        return advantages, returns, values

    def _chunked_batch(self, rollout, advantages, returns, old_values) -> dict:
        """Everything one minibatch step needs, cut into chunks of L steps: [L, C, ...]."""
        cfg = self.config
        valid = rollout.valid if rollout.valid is not None else torch.ones_like(rollout.starts)
        if cfg.normalise_advantages:  # Detail 2: one scale for the policy gradient whatever the
            real = advantages[valid]  # rewards (statistics of real agents only)
            advantages = (advantages - real.mean()) / (real.std() + 1e-8)
        per_step = {
            "obs": rollout.obs, "actions": rollout.actions, "starts": rollout.starts,
            "logp": rollout.logp, "advantages": advantages, "valid": valid,
            "targets": self.value_normaliser.normalise(returns),  # normalised with the new stats
            "old_values": self.value_normaliser.normalise(old_values),
        }
        batch = tree_map(lambda x: split_into_chunks(x, cfg.chunk_len), per_step)  # [L, C, ...]
        batch["state"] = rollout.chunk_states.flatten(0, 1)  # [K, N, S] -> [C, S]
        return batch

    def _minibatch_ids(self, n_chunks: int) -> list[torch.Tensor]:
        """Detail 11: shuffle whole chunks, never single steps, then deal them into minibatches."""
        if n_chunks < self.config.minibatches:
            raise ValueError(f"the batch has {n_chunks} chunks; expected at least "
                             f"minibatches={self.config.minibatches}")
        order = torch.randperm(n_chunks, generator=self.generator)
        return list(order.chunk(self.config.minibatches))

    def _minibatch_step(self, mb: dict, epoch: int, index: int) -> dict[str, float]:
        """Replay the chunks from their stored states, compute the losses, take one Adam step."""
        cfg = self.config
        # Detail 10: gradients flow back at most L steps, into the state stored at the chunk's
        # start (computed by the older policy that collected it: cheap, and good enough).
        with self.autocast():
            dist, value, _ = self.model(mb["obs"], mb["state"], mb["starts"])
        logp = dist.log_prob(mb["actions"]).float()  # [L, B], losses stay in fp32
        valid = mb["valid"]  # [L, B] bool: padding agent slots do not count
        entropy = masked_mean(dist.entropy().float(), valid)  # Detail 5: keeps it exploring
        policy = clipped_surrogate_loss(logp, mb["logp"], mb["advantages"], cfg.clip, valid)
        critic = value_loss(value.float(), mb["old_values"], mb["targets"], cfg.value_clip, valid)
        where = f"(epoch {epoch}, minibatch {index})"
        for name, x in (("policy loss", policy), ("value loss", critic), ("entropy", entropy)):
            check_finite(f"{name} {where}", x)  # Detail 13
        loss = policy + cfg.value_coef * critic - cfg.entropy_coef * entropy
        grad_norm = self._apply_gradients(loss, where)
        approx_kl, clip_fraction = policy_change(logp, mb["logp"], cfg.clip)
        return {"policy_loss": policy.item(), "value_loss": critic.item(),
                "entropy": entropy.item(), "approx_kl": approx_kl,
                "clip_fraction": clip_fraction, "grad_norm": grad_norm}

    def _apply_gradients(self, loss: torch.Tensor, where: str) -> float:
        """Backward, check every gradient is finite (Detail 13), clip (Detail 6), step."""
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        for name, p in self.model.named_parameters():
            if p.grad is not None:
                check_finite(f"gradient of {name} {where}", p.grad)
        max_norm = math.inf if self.config.max_grad_norm is None else self.config.max_grad_norm
        grad_norm = nn.utils.clip_grad_norm_(self.model.parameters(), max_norm)  # inf: measure only
        self.optimizer.step()
        return grad_norm.item()

    def state_dict(self) -> dict:
        """Everything needed to resume bit for bit: model, optimiser, normalisers, shuffling."""
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "obs_normaliser": self.obs_normaliser.state_dict(),
                "value_normaliser": self.value_normaliser.state_dict(),
                "generator": self.generator.get_state(), "updates": self.updates,
                "config": asdict(self.config)}

    def load_state_dict(self, state: dict, strict_config: bool = True) -> None:
        saved = state["config"]
        changed = {k: (saved.get(k), v)
                   for k, v in asdict(self.config).items() if saved.get(k) != v}
        if strict_config and changed:
            raise ValueError(f"checkpoint was saved with a different PPOConfig, (saved, now): "
                             f"{changed}; pass strict_config=False to load it anyway")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.obs_normaliser.load_state_dict(state["obs_normaliser"])
        self.value_normaliser.load_state_dict(state["value_normaliser"])
        self.generator.set_state(state["generator"])
        self.updates = state["updates"]


def select_chunks(batch: dict, chunk_ids: torch.Tensor) -> dict:
    """The minibatch holding chunks `chunk_ids`: [L, B, ...] tensors and state [B, S]."""
    chunk_ids = chunk_ids.to(batch["state"].device)
    state = batch["state"][chunk_ids]  # [B, S]
    rest = {k: v for k, v in batch.items() if k != "state"}
    return {**tree_map(lambda x: x[:, chunk_ids], rest), "state": state}


# ----------------------------------------------------------------------------------------------
# 7. Demo: a small recurrent actor-critic with the contract interface
# ----------------------------------------------------------------------------------------------


class Categorical(torch.distributions.Categorical):
    """torch's categorical with `mode()`, the greedy action, as the contract asks."""

    def mode(self) -> torch.Tensor:
        return self.logits.argmax(-1)


class Tower(nn.Module):
    """dense -> memory: an LSTM (with state), or in its plain form a second dense layer."""

    def __init__(self, obs_size: int, hidden: int, use_lstm: bool):
        super().__init__()
        self.hidden = hidden
        self.dense = nn.Linear(obs_size, hidden)
        if use_lstm:
            self.lstm = nn.LSTMCell(hidden, hidden)
            with torch.no_grad():  # Detail 14: forget-gate bias +1, as TF's BasicLSTMCell:
                self.lstm.bias_ih[hidden:2 * hidden] += 1.0  # remember by default at the start
        else:
            self.lstm = None
            self.dense2 = nn.Linear(hidden, hidden)

    def forward(self, x, state, starts):
        z = torch.tanh(self.dense(x))  # [T, N, H]
        if self.lstm is None:
            return torch.tanh(self.dense2(z)), state  # no memory: state stays [N, 0]
        h, c = state.split(self.hidden, dim=-1)  # [N, H] each
        outputs = []
        for t in range(x.shape[0]):
            keep = (~starts[t]).unsqueeze(-1).to(h.dtype)  # [N, 1]: 0 where an episode starts
            h, c = self.lstm(z[t], (h * keep, c * keep))  # the state never crosses episodes
            outputs.append(h)
        return torch.stack(outputs), torch.cat([h, c], dim=-1)  # [T, N, H], [N, 2H]


class RecurrentActorCritic(nn.Module):
    """Separate actor and critic towers, as in the paper; obs {"self": [T, N, D]}.

    state [N, S] = [actor h, actor c, critic h, critic c], S = 4H (S = 0 without the LSTM).
    """

    def __init__(self, obs_size: int, n_actions: int, hidden: int = 64, use_lstm: bool = True):
        super().__init__()
        self.state_size = 4 * hidden if use_lstm else 0
        self.actor = Tower(obs_size, hidden, use_lstm)
        self.critic = Tower(obs_size, hidden, use_lstm)
        self.policy_head = nn.Linear(hidden, n_actions)
        self.value_head = nn.Linear(hidden, 1)
        with torch.no_grad():  # Detail 14: near-uniform first policy (paper: head scale 0.01)
            self.policy_head.weight.mul_(0.01 / self.policy_head.weight.norm(dim=1, keepdim=True))
            self.policy_head.bias.zero_()

    def initial_state(self, n: int) -> torch.Tensor:
        return torch.zeros(n, self.state_size)

    def forward(self, obs: dict, state: torch.Tensor, starts: torch.Tensor):
        x = obs["self"]  # [T, N, D]
        actor_state, critic_state = torch.tensor_split(state, 2, dim=-1)  # [N, S/2] each
        actor_out, actor_state = self.actor(x, actor_state, starts)  # [T, N, H]
        critic_out, critic_state = self.critic(x, critic_state, starts)
        dist = Categorical(logits=self.policy_head(actor_out).float())  # [T, N, n_actions]
        value = self.value_head(critic_out).squeeze(-1)  # [T, N]
        return dist, value, torch.cat([actor_state, critic_state], dim=-1)  # [N, S]


# ----------------------------------------------------------------------------------------------
# 8. Demo: CartPole as numpy arrays, and any Gymnasium environment
# ----------------------------------------------------------------------------------------------


class CartPole:
    """N copies of Gymnasium's CartPole-v1 (same constants, Euler integration, 500-step limit).

    State per copy: x (m), x_dot (m/s), theta (rad, 0 = upright), theta_dot (rad/s). Reward 1 per
    step, the failing step included. `hide_velocity` observes only [x, theta]: a partially
    observable task that needs memory to recover the velocities.
    """

    gravity, mass_cart, mass_pole, half_length, force_mag, tau = 9.8, 1.0, 0.1, 0.5, 10.0, 0.02
    theta_limit, x_limit, max_steps = 12 * 2 * math.pi / 360, 2.4, 500

    def __init__(self, n: int, seed: int, hide_velocity: bool = False):
        self.n, self.rng = n, np.random.default_rng(seed)
        self.columns = [0, 2] if hide_velocity else [0, 1, 2, 3]
        self.obs_size, self.n_actions = len(self.columns), 2
        self.state = np.zeros((n, 4))  # [N, 4]
        self.steps = np.zeros(n, dtype=np.int64)  # [N] steps into the episode

    def reset(self) -> np.ndarray:
        self.state = self.rng.uniform(-0.05, 0.05, (self.n, 4))
        self.steps[:] = 0
        return self._observe()

    def _observe(self) -> np.ndarray:
        return self.state[:, self.columns].astype(np.float32)  # [N, D]

    def step(self, action: np.ndarray):
        """action [N] in {0, 1} -> obs, reward, terminated, truncated, final_obs (all [N, ...])."""
        x, x_dot, theta, theta_dot = self.state.T
        force = np.where(action == 1, self.force_mag, -self.force_mag)
        cos, sin = np.cos(theta), np.sin(theta)
        total_mass, pole_moment = self.mass_cart + self.mass_pole, self.mass_pole * self.half_length
        temp = (force + pole_moment * theta_dot**2 * sin) / total_mass
        theta_acc = (self.gravity * sin - cos * temp) / (
            self.half_length * (4.0 / 3.0 - self.mass_pole * cos**2 / total_mass))
        x_acc = temp - pole_moment * theta_acc * cos / total_mass
        self.state = np.stack([x + self.tau * x_dot, x_dot + self.tau * x_acc,
                               theta + self.tau * theta_dot, theta_dot + self.tau * theta_acc], 1)
        self.steps += 1
        x, theta = self.state[:, 0], self.state[:, 2]
        terminated = (np.abs(x) > self.x_limit) | (np.abs(theta) > self.theta_limit)
        truncated = (self.steps >= self.max_steps) & ~terminated
        final_obs = self._observe()
        ended = terminated | truncated  # Detail 15: reset now, hand back the final observation
        self.state[ended] = self.rng.uniform(-0.05, 0.05, (int(ended.sum()), 4))
        self.steps[ended] = 0
        return self._observe(), np.ones(self.n, np.float32), terminated, truncated, final_obs


class GymnasiumEnvs:
    """N Gymnasium environments stepped in a loop with the same interface as `CartPole` above."""

    def __init__(self, env_id: str, n: int, seed: int, columns: list[int] | None = None):
        import gymnasium as gym  # optional: only this class needs it

        self.envs, self.seed = [gym.make(env_id) for _ in range(n)], seed
        space, obs_space = self.envs[0].action_space, self.envs[0].observation_space
        if not isinstance(space, gym.spaces.Discrete) or len(obs_space.shape) != 1:
            raise ValueError(f"{env_id} has actions {space} and observations {obs_space}; "
                             "expected Discrete actions and a 1-D Box of observations")
        self.columns = columns if columns is not None else list(range(obs_space.shape[0]))
        self.n, self.obs_size, self.n_actions = n, len(self.columns), int(space.n)

    def reset(self) -> np.ndarray:
        obs = [env.reset(seed=self.seed + i)[0] for i, env in enumerate(self.envs)]
        return np.stack(obs)[:, self.columns].astype(np.float32)

    def step(self, action: np.ndarray):
        obs, final_obs = [], []
        reward, terminated, truncated = (np.zeros(self.n, np.float32), np.zeros(self.n, bool),
                                         np.zeros(self.n, bool))
        for i, env in enumerate(self.envs):
            o, reward[i], terminated[i], truncated[i], _ = env.step(int(action[i]))
            final_obs.append(o)
            if terminated[i] or truncated[i]:  # Detail 15
                o, _ = env.reset()
            obs.append(o)
        obs, final_obs = (np.stack(a)[:, self.columns].astype(np.float32) for a in (obs, final_obs))
        return obs, reward, terminated, truncated & ~terminated, final_obs


def gymnasium_available() -> bool:
    return importlib.util.find_spec("gymnasium") is not None


def make_envs(env_id: str | None, n: int, seed: int, hide_velocity: bool):
    """The built-in CartPole when no id is given (or gymnasium is absent), else Gymnasium's env."""
    if env_id is None or (env_id == "CartPole-v1" and not gymnasium_available()):
        if env_id is not None:
            print("gymnasium is not installed: using the built-in CartPole-v1")
        return CartPole(n, seed, hide_velocity)
    if not gymnasium_available():
        raise ImportError(f"--env {env_id} needs Gymnasium (pip install gymnasium); "
                          "without it only the built-in CartPole-v1 runs")
    if hide_velocity and not env_id.startswith("CartPole"):
        raise ValueError(f"--hide-velocity is defined for CartPole only; got --env {env_id}")
    return GymnasiumEnvs(env_id, n, seed, [0, 2] if hide_velocity else None)


# ----------------------------------------------------------------------------------------------
# 9. Demo: collecting rollouts and training
# ----------------------------------------------------------------------------------------------


@dataclass
class DemoConfig:
    """One demo run. The PPO settings differ from the paper's where CartPole wants it."""

    label: str = "CartPole"  # name in the printout
    env_id: str | None = None  # Gymnasium id; None: the built-in numpy CartPole-v1
    hide_velocity: bool = False  # observe only cart position and pole angle
    use_lstm: bool = True  # memory in both towers; False: two dense layers
    hidden: int = 64  # width of every layer (the paper's policy: 128-256)
    total_steps: int = 100_000  # environment steps over all copies
    n_envs: int = 8  # environment copies stepped together (N)
    rollout_len: int = 100  # T steps per copy per update; a multiple of chunk_len
    seed: int = 0
    stop_at: float | None = None  # stop early once the mean return reaches this; None: never
    ppo: PPOConfig = field(default_factory=lambda: PPOConfig(
        lr=1e-3, gamma=0.99, entropy_coef=0.0))  # CartPole's episodes are short, rewards dense


@dataclass
class Collector:
    """What the actor side carries from one rollout to the next."""

    env: object
    raw_obs: np.ndarray  # [N, D] next observation, before normalisation
    state: torch.Tensor  # [N, S] recurrent state entering the next step
    starts: torch.Tensor  # [N] bool, the next observation begins an episode
    episode_return: np.ndarray  # [N] reward summed so far in each running episode


def policy_step(ppo: PPO, raw_obs: np.ndarray, state, starts, update_stats=False):
    """Normalise one step of raw observations [N, D] and run the model on it as T = 1."""
    obs = ppo.normalise_obs({"self": torch.from_numpy(raw_obs)}, update_stats)  # [N, D]
    with ppo.autocast():
        dist, value, new_state = ppo.model({"self": obs["self"][None]}, state, starts[None])
    return obs, dist, value[0].float(), new_state  # value [N], new_state [N, S]


@torch.no_grad()
def collect_rollout(ppo: PPO, c: Collector, T: int) -> tuple[Rollout, list[float]]:
    """Run the policy T steps in every env copy; returns the rollout and the finished returns."""
    steps, chunk_states, finished = [], [], []
    for t in range(T):
        if t % ppo.config.chunk_len == 0:
            chunk_states.append(c.state)  # Detail 10: the state each chunk will be replayed from
        obs, dist, value, new_state = policy_step(ppo, c.raw_obs, c.state, c.starts, True)
        action = dist.sample()  # [1, N]
        raw_obs, reward, terminated, truncated, final_obs = c.env.step(action[0].numpy())
        final_values = torch.zeros(c.env.n)
        if truncated.any():  # Detail 1: the value of each cut episode's last observation
            _, _, v, _ = policy_step(ppo, final_obs, new_state, torch.zeros_like(c.starts))
            final_values = torch.where(torch.from_numpy(truncated), v, 0.0)
        steps.append(dict(obs=obs, actions=action[0], logp=dist.log_prob(action)[0], values=value,
                          rewards=torch.from_numpy(reward), starts=c.starts,
                          terminated=torch.from_numpy(terminated),
                          truncated=torch.from_numpy(truncated), final_values=final_values))
        ended = terminated | truncated
        c.episode_return += reward
        finished += c.episode_return[ended].tolist()
        c.episode_return[ended] = 0.0
        c.raw_obs, c.state, c.starts = raw_obs, new_state, torch.from_numpy(ended)
    _, _, last_values, _ = policy_step(ppo, c.raw_obs, c.state, c.starts)
    rollout = Rollout(**stack_steps(steps), last_values=last_values,  # [T, N, ...] each
                      chunk_states=torch.stack(chunk_states))  # [T // L, N, S]
    return rollout, finished


def train(cfg: DemoConfig, log_every: float = 5.0) -> dict:
    """Train one demo run; prints progress with a time estimate, returns its learning curve."""
    torch.manual_seed(cfg.seed)
    env = make_envs(cfg.env_id, cfg.n_envs, cfg.seed, cfg.hide_velocity)
    model = RecurrentActorCritic(env.obs_size, env.n_actions, cfg.hidden, cfg.use_lstm)
    ppo = PPO(model, {"self": env.obs_size}, replace(cfg.ppo, seed=cfg.seed))
    c = Collector(env, env.reset(), model.initial_state(cfg.n_envs),
                  torch.ones(cfg.n_envs, dtype=torch.bool), np.zeros(cfg.n_envs))
    per_update = cfg.rollout_len * cfg.n_envs
    total = math.ceil(cfg.total_steps / per_update) * per_update  # whole updates
    curve, recent, start, last_log = [], [], time.time(), 0.0
    for steps in range(per_update, total + 1, per_update):
        rollout, finished = collect_rollout(ppo, c, cfg.rollout_len)
        diagnostics = ppo.update(rollout)
        recent = (recent + finished)[-20:]  # the last 20 finished episodes
        if recent:
            curve.append((steps, float(np.mean(recent))))
        elapsed = time.time() - start
        solved = cfg.stop_at is not None and bool(curve) and curve[-1][1] >= cfg.stop_at
        if elapsed - last_log > log_every or steps == total or solved:
            last_log = elapsed
            print(progress_line(cfg.label, steps, total, curve, diagnostics, elapsed), flush=True)
        if solved:
            break
    return {"label": cfg.label, "curve": curve, "seconds": time.time() - start, "ppo": ppo}


def progress_line(label: str, steps: int, total: int, curve, d: dict, elapsed: float) -> str:
    left = elapsed / steps * (total - steps)  # time left at the speed so far
    mean_return = curve[-1][1] if curve else float("nan")
    return (f"[{label}] step {steps:>7,}/{total:,}  return {mean_return:6.1f}  "
            f"entropy {d['entropy']:.2f}  kl {d['approx_kl']:.4f}  clip {d['clip_fraction']:.2f}  "
            f"ev {d['explained_variance']:5.2f}  |  {steps / elapsed:,.0f} steps/s  "
            f"left {left:4.0f} s")


def steps_to_reach(curve, threshold: float):
    """First step count at which the mean of the last 20 episode returns reached threshold."""
    return next((steps for steps, mean_return in curve if mean_return >= threshold), None)


def print_summary(results: list[dict], thresholds=(195, 475)) -> None:
    """A table: steps until the mean return first reached each threshold, final return, time."""
    print(f"\n{'run':<36}" + "".join(f"{f'steps to {x}':>14}" for x in thresholds)
          + f"{'final return':>14}{'wall':>8}")
    for r in results:
        reached = [steps_to_reach(r["curve"], x) for x in thresholds]
        cells = "".join(f"{f'{s:,}' if s is not None else 'not reached':>14}" for s in reached)
        final = r["curve"][-1][1] if r["curve"] else float("nan")
        print(f"{r['label']:<36}{cells}{final:>14.1f}{r['seconds']:>7.0f}s")
    print("return: mean of the last 20 episodes\n\nlearning curves, "
          "mean return at each tenth of the run:")
    for r in results:
        print(f"{r['label']:<36}" + " ".join(f"{x:5.0f}" for x in sample_curve(r["curve"])))


def sample_curve(curve, points: int = 10) -> list[float]:
    """The mean return at `points` evenly spaced step counts (the last value logged before each)."""
    if not curve:
        return [float("nan")] * points
    marks = [curve[-1][0] * (i + 1) / points for i in range(points)]
    return [next((r for s, r in reversed(curve) if s <= m), float("nan")) for m in marks]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default=None, help="a Gymnasium id (default: the built-in "
                        "CartPole, then CartPole with velocities hidden, with and without LSTM)")
    parser.add_argument("--steps", type=int, default=None, help="environment steps per run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-lstm", action="store_true", help="one run, memoryless model")
    parser.add_argument("--hide-velocity", action="store_true", help="one run, CartPole only")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast for the model")
    args = parser.parse_args()
    if args.env not in (None, "CartPole-v1") and not gymnasium_available():
        parser.error(f"--env {args.env} needs Gymnasium (pip install gymnasium); "
                     "without it only the built-in CartPole-v1 runs")
    torch.set_num_threads(1)  # tiny matrices: a second thread costs more than it gives
    ppo_cfg = replace(DemoConfig().ppo, bf16=args.bf16)
    if args.env is None and not (args.no_lstm or args.hide_velocity):
        masked = DemoConfig(hide_velocity=True, total_steps=args.steps or 200_000)
        runs = [DemoConfig(label="CartPole, LSTM", total_steps=args.steps or 100_000),
                replace(masked, label="CartPole, velocity hidden, LSTM"),
                replace(masked, label="CartPole, velocity hidden, no LSTM", use_lstm=False)]
    else:
        label = (f"{args.env or 'CartPole'}{', velocity hidden' * args.hide_velocity}"
                 f"{', no LSTM' if args.no_lstm else ', LSTM'}")
        runs = [DemoConfig(label=label, env_id=args.env, hide_velocity=args.hide_velocity,
                           use_lstm=not args.no_lstm, total_steps=args.steps or 200_000)]
    results = [train(replace(run, seed=args.seed, ppo=ppo_cfg)) for run in runs]
    print_summary(results, (195, 475) if args.env in (None, "CartPole-v1") else ())


if __name__ == "__main__":
    main()
