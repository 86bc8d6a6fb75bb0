"""transfer.py: the intelligence tests. Does hide-and-seek teach anything that helps elsewhere?

What this file teaches
    How the paper measured what its agents had learnt (section 6, facts section 8), on the five
    task worlds of tasks.py (counting, lock-return, sequential-lock, blueprint, shelter), whose
    observations have the game's layout, so that a hide-and-seek network fits them unchanged.
    Four are trained with PPO after *fine-tuning*: the hide-and-seek weights are loaded, the last
    dense layer and its layer norm are re-initialised in the policy and in the critic, and
    everything trains on the task's reward. The fifth, object counting, is supervised: the policy
    is frozen and only a classifier head on its memory learns. Baselines: the same network
    trained from scratch, and the same network pretrained with intrinsic motivation (count-based
    exploration, and random-network distillation) on tasks.py's task-free "explore" world before
    the same fine-tuning.

Reading order
    1. `TransferConfig`: the training settings; `memory_network`, the baselines' network.
    2. Fine-tuning: `load_source`, `reinitialise_last_layers`, `TaskTrainer`, `pretrain`,
       `finetune`; counting's learner, `CountingProbe`.
    3. Run folders: `train_in` checkpoints every run and continues one that was stopped.
    4. `plot` (the paper's figure 6), `render`, the command line.

Run it
    python transfer.py lock-return --from checkpoints/ramp-room-fort-building.pt --seeds 3
    python transfer.py lock-return --from scratch --seeds 3 --steps 200000
    python transfer.py shelter --from count --seeds 3      # pretrains with counts, then fine-tunes
    python transfer.py plot                                 # runs/transfer -> figure 6 + table
    python transfer.py render blueprint --from runs/transfer/blueprint/scratch-seed0

Axes: W worlds, T time, N = W agent rows, H hidden.
"""

import argparse
import glob
import math
import os
import pickle
import time
from dataclasses import asdict, dataclass, field, replace
from typing import NamedTuple

import numba
import numpy as np
import torch
import torch.nn as nn

import env as game
import physics
import selfplay
from attention import ActorCritic, NetworkSizes, TeamActorCritic
from ppo import PPO, ObsNormaliser, PPOConfig
from tasks import (COUNT_PERIOD, FIVE_TASKS, N_CLASSES, OBS_SIZES, CountBonus, RNDBonus,
                   TaskEnv, counting_labels, get_task)

# ---------------------------------------------------------------------------------------------
# 1. Settings
# ---------------------------------------------------------------------------------------------

def memory_network():
    """The network of scratch and the intrinsic baselines: selfplay.py's small one with its
    LSTM, as the paper's policy and our hide-and-seek checkpoints since `ramp-room` have. The
    counting test reads that memory; without it, nothing is left to read once the boxes are
    gone, and the head can only learn the most common answer."""
    return replace(selfplay.small_network(), use_lstm=True)


@dataclass
class TransferConfig:
    """One fine-tuning run (one task, one source, one seed). PPO defaults to selfplay.py's CPU
    presets, the network to `memory_network`; a hide-and-seek checkpoint brings its own."""

    task: str = "lock-return"  # one of TASKS
    source: str = "scratch"  # scratch, count, rnd, or a selfplay.py checkpoint path
    n_worlds: int = 32  # W task worlds stepped together
    rollout_steps: int = 40  # T steps per PPO update (a multiple of ppo.chunk_len)
    total_steps: int = 2_000_000  # world-steps of task training (counting: of watched episodes)
    pretrain_steps: int = 2_000_000  # world-steps of count / RND pretraining on "explore"
    seed: int = 0
    checkpoint_minutes: float = 2.0  # how often a run's checkpoint.pt is rewritten
    threads: int = 1  # CPU threads for torch and for numba's physics (1 is safer, and faster,
    # when other jobs share the cores: spinning thread pools wait for descheduled partners)
    count_beta: float = 0.1  # bonus beta / sqrt(N(s)), and RND's scale (paper's: not known)
    count_cell: float = 0.5  # m, grid cell that discretises a box position for the counts
    rnd_features: int = 32  # output width of RND's target and predictor networks
    rnd_lr: float = 1e-3  # RND predictor's learning rate
    head_lr: float = 0.1  # counting: SGD's learning rate for the classifier head
    network: NetworkSizes = field(default_factory=memory_network)
    ppo: PPOConfig = field(default_factory=selfplay.cpu_ppo)


# ---------------------------------------------------------------------------------------------
# 2. Fine-tuning, baselines, and the learners
# ---------------------------------------------------------------------------------------------


def reinitialise_last_layers(model):
    """The paper's fine-tuning: "the final dense layer and layer norm of both the policy and
    value networks" are re-initialised. Here: each tower's dense layer after pooling (the paper's
    dense 256) and the layer norm that follows it. Everything else keeps its trained weights."""
    for tower in (model.policy, model.critic):
        nn.init.xavier_uniform_(tower.dense.weight)  # as attention.py initialises it
        nn.init.zeros_(tower.dense.bias)
        tower.norm_dense.reset_parameters()


def check_compatible(model, path):
    if dict(model.obs_sizes) != OBS_SIZES:
        raise ValueError(f"{path!r} holds a network built for observations {model.obs_sizes}; "
                         f"the tasks give the hide-and-seek layout {OBS_SIZES}")


def load_source(config, device="cpu", reinitialise=True):
    """(model, obs normaliser state or None) for config.source: a fresh network ("scratch"),
    one pretrained with counts or RND on "explore" (trained now if not on disk), or a
    selfplay.py checkpoint. Pretrained networks get their last layers re-initialised, unless
    `reinitialise` is False (counting freezes the policy as it is)."""
    source = config.source
    if source == "scratch":
        torch.manual_seed(config.seed)
        return ActorCritic(OBS_SIZES, config.network).to(device), None
    path = pretrain(config, source) if source in ("count", "rnd") else source
    if os.path.isdir(path):
        path = os.path.join(path, "checkpoint.pt")
    if not os.path.exists(path):
        raise FileNotFoundError(f"no checkpoint at {path!r}: expected a selfplay.py checkpoint "
                                "(or run folder), or one of scratch, count, rnd")
    state = torch.load(path, map_location="cpu", weights_only=False)
    if state.get("kind") in ("pretrain", "transfer"):  # this file's own checkpoints
        model = ActorCritic(OBS_SIZES, NetworkSizes(**state["network"]))
        model.load_state_dict(state["model"])
        normaliser = state["obs_normaliser"]
    else:
        trainer = selfplay.load_checkpoint(path)
        model, normaliser = trainer.ppo.model, trainer.ppo.obs_normaliser.state_dict()
        if isinstance(model, TeamActorCritic):  # one network per team: the task's agent is a
            model = model.hiders  # hider, so the hiders' network is the one that would read it
            model.sizes = replace(model.sizes, per_team=False)
    check_compatible(model, path)
    if reinitialise and state.get("kind") != "transfer":
        torch.manual_seed(config.seed)
        reinitialise_last_layers(model)
    return model.to(device), normaliser


class TaskTrainer:
    """What selfplay.collect_rollout reads: config (n_worlds, rollout_steps, ppo.chunk_len),
    the worlds as one group, the learner, the actors' carry, and the step counter."""

    def __init__(self, config, env, model, normaliser, device="cpu"):
        self.config, self.envs, self.device = config, [env], device
        self.ppo = PPO(model, OBS_SIZES, replace(config.ppo, seed=config.seed))
        if normaliser is not None:  # the hide-and-seek observation statistics, as a start
            self.ppo.obs_normaliser.load_state_dict(normaliser)
        self.rows = [slice(0, env.n_worlds)]
        self.obs = [env.reset(seed=config.seed)]
        self.state = model.initial_state(env.n_worlds)  # [N, S]
        self.starts = torch.ones(env.n_worlds, dtype=torch.bool, device=device)  # [N]
        self.steps = self.episodes = self.updates = 0
        self.curriculum = None  # the tasks start every episode fresh (selfplay.py's option)

    def state_dict(self):
        """Everything to go on bit for bit, as selfplay.save_checkpoint: the learner, the worlds
        in play (with a bonus's counts or networks), the actors' carry, the RNG, the counters."""
        return {"ppo": self.ppo.state_dict(), "env": pickle.dumps(self.envs[0]),
                "obs": self.obs[0], "state": self.state.cpu(), "starts": self.starts.cpu(),
                "torch_rng": torch.get_rng_state(), "steps": self.steps,
                "episodes": self.episodes, "updates": self.updates}

    def load_state_dict(self, state):
        self.ppo.load_state_dict(state["ppo"])
        self.envs, self.obs = [pickle.loads(state["env"])], [state["obs"]]
        self.state = state["state"].to(self.device)
        self.starts = state["starts"].to(self.device)
        torch.set_rng_state(state["torch_rng"])
        self.steps, self.episodes, self.updates = (state["steps"], state["episodes"],
                                                   state["updates"])

    def network_state(self):
        """What load_source reads back from this file's checkpoints: the network and its
        observation statistics (a pretraining is fine-tuned from them; render plays them)."""
        return {"network": asdict(self.ppo.model.sizes), "model": self.ppo.model.state_dict(),
                "obs_normaliser": self.ppo.obs_normaliser.state_dict()}

    def update(self):
        """One PPO update: collect, learn. Returns the metric row."""
        rollout, ended, _ = selfplay.collect_rollout(self)  # 1. act (selfplay.py's collector)
        diagnostics = self.ppo.update(rollout)  # 2. learn
        self.updates += 1
        n = len(ended["world"]) if ended else 0
        self.episodes += n
        row = {"update": self.updates, "steps": self.steps, "episodes": self.episodes,
               "reward": rollout.rewards.mean().item(),
               "success": float(np.mean(ended["success"])) if n else math.nan,
               "return": float(np.mean(ended["return"])) if n else math.nan}
        return row | {k: round(v, 6) for k, v in diagnostics.items()}


def pretrain(config, kind):
    """Count-based or RND pretraining on "explore" (no reward but the bonus), cached per seed:
    runs/transfer/pretrain/KIND-seedS/checkpoint.pt, then fine-tuned like any other source.
    A cache made with other settings is refused; one stopped part-way is continued."""
    config = pretraining_config(config, kind)
    run = selfplay.RunFolder(os.path.join(config_root(), "pretrain", f"{kind}-seed{config.seed}"))
    if os.path.exists(run.checkpoint_path):  # before any work: the settings
        saved = torch.load(run.checkpoint_path, map_location="cpu", weights_only=False)
        check_settings(saved["config"], config, run.checkpoint_path)
        if saved["progress"]["steps"] >= config.total_steps:
            return run.checkpoint_path
    bonus = (CountBonus(config.count_beta, config.count_cell) if kind == "count" else
             RNDBonus(config.count_beta, config.count_cell, config.rnd_features, config.rnd_lr,
                      config.seed))
    torch.manual_seed(config.seed)
    model = ActorCritic(OBS_SIZES, config.network)
    trainer = TaskTrainer(config, TaskEnv("explore", config.n_worlds, config.seed, bonus),
                          model, None)
    train_in(run, trainer, "pretrain", f"pretrain {kind}")
    return run.checkpoint_path


def pretraining_config(config, kind):
    """The settings a pretraining depends on, and nothing else: one cache serves every task.
    Its total_steps is config.pretrain_steps."""
    kept = ["pretrain_steps", "n_worlds", "rollout_steps", "seed", "threads",
            "checkpoint_minutes", "count_beta", "count_cell", "network", "ppo"]
    kept += ["rnd_features", "rnd_lr"] if kind == "rnd" else []
    return replace(TransferConfig(), task="explore", source=kind,
                   total_steps=config.pretrain_steps, **{n: getattr(config, n) for n in kept})


def config_root():
    return os.environ.get("TRANSFER_RUNS", os.path.join("runs", "transfer"))


def set_threads(n):
    torch.set_num_threads(n)
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))


def finetune(config, run=None, device="cpu"):
    """One run of a PPO task: the source network, fine-tuned on the task's reward (in `run`, a
    RunFolder, continued where it stopped)."""
    set_threads(config.threads)
    model, normaliser = load_source(config, device)
    config = replace(config, network=model.sizes)
    trainer = TaskTrainer(config, TaskEnv(config.task, config.n_worlds, config.seed), model,
                          normaliser, device)
    rows = train_in(run, trainer, "transfer", f"{config.task} from {source_label(config)}")
    return trainer, rows


@torch.no_grad()
def watch_counting(env, model, normaliser, fit_normaliser):
    """One counting episode in every world, watched by the frozen policy. Returns the policy
    tower's output at every step [T, W, H] (its memory: the LSTM's output, or without an LSTM
    the layer in its place) and the labels [W]. The agent is pinned, so its actions change
    nothing and are not needed. A source without observation statistics (scratch) fits them to
    what it watches (`fit_normaliser`), as its rollouts would."""
    steps, obs = [], env.reset()
    labels = torch.as_tensor(counting_labels(env))
    for _ in range(env.task.horizon):
        steps.append(obs)
        obs, _, _, _ = env.step(np.tile(game.IDLE, (env.n_worlds, 1, 1)))
    x = {k: torch.from_numpy(np.stack([o[k][:, 0] for o in steps])) for k in steps[0]}  # [T, W, ..]
    x = {k: v.flatten(0, 1) for k, v in x.items()}  # [T * W, ...]
    if fit_normaliser:
        normaliser.update(x)
    x = normaliser(x)
    T, W = env.task.horizon, env.n_worlds
    h = torch.zeros(W, model.sizes.lstm)
    starts = torch.zeros(T, W, dtype=torch.bool)
    starts[0] = True
    memory, _, _ = model.policy(x, T, h, h.clone(), starts)  # [T, W, H]
    return memory, labels


class CountingProbe:
    """The supervised test's learner: the source network frozen, a linear head on its memory
    learns to say how many boxes went left, at every step after the last box vanished. Success
    is the accuracy at the last step on each fresh batch, measured before the head learns from
    it. One update = one batch of episodes watched; the interface is TaskTrainer's."""

    def __init__(self, config, model, normaliser_state):
        self.config, self.model = config, model
        self.normaliser = ObsNormaliser(OBS_SIZES)
        self.fit_normaliser = normaliser_state is None  # scratch: fit to what it watches
        if normaliser_state is not None:
            self.normaliser.load_state_dict(normaliser_state)
        self.env = TaskEnv("counting", config.n_worlds, config.seed)
        # The head is a linear probe. It reads each memory feature standardised per step over
        # the episodes watched so far (BatchNorm without a learnt scale, cumulative averages):
        # a trained LSTM's outputs can differ by a thousandth between episodes, and a weight's
        # gradient shrinks with its input, so on the raw memory SGD would barely move. It
        # starts from zero weights (a uniform first answer) and learns by plain SGD, whose steps
        # shrink with the gradient: with Adam (steps of about the learning rate whatever the
        # gradient) or random first weights, a head on a memory that holds nothing about the
        # boxes wandered off the prior and scored below always answering 3 (measured: 0.24
        # against 0.31).
        self.after = self.env.task.boxes * COUNT_PERIOD  # the last box has vanished by now
        self.scale = nn.BatchNorm1d((self.env.task.horizon - self.after) * model.sizes.lstm,
                                    affine=False, momentum=None)
        self.head = nn.Linear(model.sizes.lstm, N_CLASSES)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        self.optimizer = torch.optim.SGD(self.head.parameters(), lr=config.head_lr)
        self.steps = self.updates = 0

    def update(self):
        with torch.no_grad():  # the policy is frozen: only the head learns
            memory, labels = watch_counting(self.env, self.model, self.normaliser,
                                            self.fit_normaliser)
            memory = standardise(self.scale, memory[self.after:])  # [T', W, H]
        logits = self.head(memory)  # [T', W, 7]
        accuracy = (logits[-1].argmax(-1) == labels).float().mean().item()
        loss = nn.functional.cross_entropy(logits.flatten(0, 1), labels.repeat(len(logits)))
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.steps += self.env.task.horizon * self.env.n_worlds
        self.updates += 1
        return {"update": self.updates, "steps": self.steps,
                "episodes": self.updates * self.env.n_worlds, "reward": 0.0,
                "success": accuracy, "return": math.nan, "loss": loss.item()}

    def state_dict(self):
        return {"head": self.head.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scale": self.scale.state_dict(), "normaliser": self.normaliser.state_dict(),
                "env": pickle.dumps(self.env), "steps": self.steps, "updates": self.updates}

    def load_state_dict(self, state):
        self.head.load_state_dict(state["head"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scale.load_state_dict(state["scale"])
        self.normaliser.load_state_dict(state["normaliser"])
        self.env = pickle.loads(state["env"])
        self.steps, self.updates = state["steps"], state["updates"]


def train_counting(config, run=None, device="cpu"):
    """The counting test from config.source (in `run`, continued where it stopped). Returns
    the head and the metric rows."""
    set_threads(config.threads)
    model, normaliser_state = load_source(config, reinitialise=False)
    probe = CountingProbe(config, model, normaliser_state)
    rows = train_in(run, probe, "counting", f"counting from {source_label(config)}")
    return probe.head, rows


def standardise(scale, memory):
    """memory [T, W, H] -> the same, each feature at each step standardised with `scale`'s
    running mean and variance over the episodes (a BatchNorm1d over T x H features), which
    first take in these episodes: no labels are read. Per step, because a memory drifts
    through the episode more than it differs between episodes."""
    T, W, H = memory.shape
    rows = memory.transpose(0, 1).reshape(W, T * H)  # one row per episode
    scale.train()
    scale(rows)  # in training mode it takes these rows into its mean and variance
    scale.eval()
    return scale(rows).view(W, T, H).transpose(0, 1)


def source_label(config):
    """How runs are grouped in the figure: scratch, count, rnd, or hide-and-seek."""
    return config.source if config.source in ("scratch", "count", "rnd") else "hide-and-seek"


# ---------------------------------------------------------------------------------------------
# 3. Run folders: every run checkpointed, and resumed where it stopped
# ---------------------------------------------------------------------------------------------

# What may change when a run is continued: its length, its threads, how often it saves. Any
# other setting changed would make the rest of the run another experiment.
RESUME_SETTINGS = ("total_steps", "threads", "checkpoint_minutes")


def train_in(run, trainer, kind, label):
    """Train `trainer` (a TaskTrainer or a CountingProbe) to config.total_steps in `run`, a
    selfplay.RunFolder, or without one (nothing saved). A folder holding a checkpoint is
    continued from it. checkpoint.pt is rewritten every config.checkpoint_minutes and at the
    end: `kind`, the config, the trainer's state and, for a network, what load_source reads.
    Ctrl-C finishes the update, saves and stops (KeyboardInterrupt); the same command goes on.
    Returns the metric rows written now."""
    if run is not None:
        start_or_resume(run, trainer, kind)
    total, stop = trainer.config.total_steps, selfplay.StopFlag()
    rows, start, last_save, first = [], time.time(), time.time(), trainer.steps
    try:
        while trainer.steps < total and not stop.requested:
            row = trainer.update()
            row["seconds"] = round(time.time() - start, 2)
            rows.append(row)
            if run is not None:
                run.append_metrics(row)
                if time.time() - last_save > 60 * trainer.config.checkpoint_minutes:
                    save_progress(run, trainer, kind)
                    last_save = time.time()
            show_progress(label, row, total, start, first)
    finally:
        stop.restore()
    if run is not None and rows:
        save_progress(run, trainer, kind)
    if rows:
        print()
    if stop.requested:
        raise KeyboardInterrupt(f"stopped at step {trainer.steps:,}"
                                + ("" if run is None else f"; saved in {run.path}"))
    return rows


def start_or_resume(run, trainer, kind):
    """A folder with a checkpoint: the trainer takes its state (the settings must be the same
    but RESUME_SETTINGS) and metrics.csv loses the rows written after it. Otherwise the run
    starts: config.json, and a checkpoint at step 0 before any metrics, so metrics without a
    checkpoint can only be a finished run of an older transfer.py, which is kept. Either way
    config.json is written with the settings now (a longer run records its new length)."""
    path = run.checkpoint_path
    if not os.path.exists(path):
        if os.path.exists(run.metrics_path):
            raise FileExistsError(f"{run.path!r} holds metrics but no checkpoint.pt (a run of an "
                                  "older transfer.py, or one committed without its checkpoint, "
                                  "as runs/transfer-counting's pretrainings); delete it or use "
                                  "another seed or TRANSFER_RUNS")
        run.write_config(trainer.config)
        save_progress(run, trainer, kind)
        return
    state = torch.load(path, map_location="cpu", weights_only=False)
    if state.get("kind") != kind or "progress" not in state:
        raise ValueError(f"{path!r} is not a {kind} checkpoint that can be continued (kind "
                         f"{state.get('kind')!r}); delete {run.path!r} to start it again")
    check_settings(state["config"], trainer.config, path)
    run.write_config(trainer.config)
    trainer.load_state_dict(state["progress"])
    run.keep_metrics_until(trainer.updates)
    done = trainer.steps >= trainer.config.total_steps
    print(f"{run.path}: " + (f"finished ({trainer.steps:,} steps)" if done
                             else f"going on from step {trainer.steps:,}"))


def check_settings(saved, config, path):
    """A run is continued (or a pretraining reused) only with the settings it was made with,
    RESUME_SETTINGS aside; otherwise a clear error naming each difference."""
    differ = [f"{name} {saved.get(name)!r}, now {value!r}"
              for name, value in asdict(config).items()
              if name not in RESUME_SETTINGS and saved.get(name) != value]
    if differ:
        raise ValueError(f"{path!r} was made with other settings ({'; '.join(differ)}); delete "
                         f"{os.path.dirname(path)!r} to start it again, or ask for those")


def save_progress(run, trainer, kind):
    state = {"kind": kind, "config": asdict(trainer.config), "progress": trainer.state_dict()}
    if isinstance(trainer, TaskTrainer):
        state |= trainer.network_state()
    selfplay.atomic_save(state, run.checkpoint_path)


def show_progress(label, row, total, start, first=0):
    """One line, rewritten in place; the rate over the steps made since `start` (this
    session's: a resumed run began at step `first`)."""
    rate = (row["steps"] - first) / max(time.time() - start, 1e-9)
    left = selfplay.format_time((total - row["steps"]) / max(rate, 1e-9))
    print(f"\r{label} step {row['steps']:>10,}/{total:,} | {rate:6,.0f} steps/s | success "
          f"{row['success']:.2f} | reward/step {row['reward']:+.4f} | left {left}", end="",
          flush=True)


def run_task(config, device="cpu"):
    """Train one (task, source, seed) into runs/transfer/TASK/SOURCE-seedS/, or go on with
    the run already there (a finished one is left as it is)."""
    if config.task not in FIVE_TASKS:
        raise ValueError(f"unknown task {config.task!r}; expected one of {list(FIVE_TASKS)}")
    folder = os.path.join(config_root(), config.task, f"{source_label(config)}-seed{config.seed}")
    run = selfplay.RunFolder(folder)
    if config.task == "counting":
        return train_counting(config, run, device)
    return finetune(config, run, device)


# ---------------------------------------------------------------------------------------------
# 4. Figure 6, rendering, and the command line
# ---------------------------------------------------------------------------------------------

SOURCE_COLOURS = {"hide-and-seek": "C0", "scratch": "C1", "count": "C2", "rnd": "C3"}
MEASURE = {"counting": "accuracy (last step)", "lock-return": "success rate",
           "sequential-lock": "success rate", "blueprint": "success rate",
           "shelter": "fraction of rays blocked"}


def collect_curves(root):
    """{task: {source: [Curve, ...] one per seed}} from the run folders."""
    curves = {}
    for path in sorted(glob.glob(os.path.join(root, "*", "*-seed*", "metrics.csv"))):
        task, run = path.split(os.sep)[-3:-1]
        if task not in FIVE_TASKS:
            continue
        source = run.rsplit("-seed", 1)[0]
        curves.setdefault(task, {}).setdefault(source, []).append(
            success_curve(selfplay.read_metrics(path)))
    return curves


class Curve(NamedTuple):
    """One run's success against its world-steps, each episode counting once."""
    steps: np.ndarray    # [U] world-steps at the end of each update
    success: np.ndarray  # [U] over the episodes ended in a moving window of updates; NaN
    #                      before the first ended
    final: float         # over the episodes ended in the last tenth of the updates


def success_curve(rows, share=0.05):
    """A run's metric rows -> Curve. A row's `success` is over the episodes that ended in its
    update (NaN where none did; about 10 per update in lock-return), so a plain average of
    rows would weigh an update that ended one episode as one that ended twenty. Here each window
    sums the successes and divides by the episodes: `share` of the run wide (at least 10
    updates), and the last tenth for the final number."""
    ended = np.diff([0.0] + [float(r["episodes"]) for r in rows])   # [U] episodes per update
    rate = np.array([float(r["success"]) for r in rows])             # [U]
    won = np.where(ended > 0, np.nan_to_num(rate) * ended, 0.0)      # [U] successes
    width = max(10, int(share * len(rows)))
    in_window = window_sums(ended, width)
    with np.errstate(invalid="ignore", divide="ignore"):
        success = np.where(in_window > 0, window_sums(won, width) / in_window, np.nan)
    tenth = max(1, len(rows) // 10)
    last_won, last_ended = won[-tenth:].sum(), ended[-tenth:].sum()
    final = last_won / last_ended if last_ended else np.nan
    return Curve(np.array([float(r["steps"]) for r in rows]), success, final)


def window_sums(x, width):
    """[U] -> [U]: each entry's sum with the width - 1 before it (fewer at the start)."""
    return np.cumsum(x) - np.cumsum(np.r_[np.zeros(width), x])[:len(x)]


def mean_and_spread(seeds, points=100):
    """Seeds' curves on one grid of steps, from the first step at which every seed has a value
    (its first episode ended) to the end of the shortest run: mean and standard deviation."""
    start = max(c.steps[np.isfinite(c.success)][0] for c in seeds)
    grid = np.linspace(start, min(c.steps[-1] for c in seeds), points)
    ys = np.stack([np.interp(grid, c.steps[np.isfinite(c.success)],
                             c.success[np.isfinite(c.success)]) for c in seeds])
    return grid, ys.mean(0), ys.std(0)


def final_success(seeds):
    """'mean ± sd' over the seeds of each one's success over its last tenth of updates."""
    finals = [c.final for c in seeds]
    return f"{np.mean(finals):.2f} ± {np.std(finals):.2f}"


def plot(root=None, out=None):
    """The paper's figure 6: one panel per task, a curve per source (mean over seeds, shaded
    one standard deviation), and a table of final success rates (mean of the last tenth)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    root = root or config_root()
    curves = collect_curves(root)
    if not curves:
        raise FileNotFoundError(f"no runs under {root!r}: train some first, e.g. "
                                "python transfer.py lock-return --from scratch")
    fig, axes = plt.subplots(1, 5, figsize=(20, 3.8))
    table = ["| task | " + " | ".join(SOURCE_COLOURS) + " |",
             "|---" * (1 + len(SOURCE_COLOURS)) + "|"]
    for ax, task in zip(axes, FIVE_TASKS):
        cells = []
        for source, colour in SOURCE_COLOURS.items():
            seeds = [c for c in curves.get(task, {}).get(source, [])
                     if np.isfinite(c.success).any()]
            if not seeds:  # no run, or no episode ended yet
                cells.append("-")
                continue
            grid, mean, std = mean_and_spread(seeds)
            ax.plot(grid, mean, color=colour, label=f"{source} ({len(seeds)} seeds)")
            ax.fill_between(grid, mean - std, mean + std, color=colour, alpha=0.2)
            cells.append(final_success(seeds))
        table.append(f"| {task} | " + " | ".join(cells) + " |")
        ax.set_title(task)
        ax.set_xlabel("world-steps")
        ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 0))
        ax.set_ylabel(MEASURE[task])
        if ax.lines:
            ax.legend(fontsize=7)
    fig.tight_layout()
    out = out or os.path.join(root, "figure6.png")
    fig.savefig(out, dpi=90)
    plt.close(fig)
    print("\n".join(table))
    return out, table


@torch.no_grad()
def render(task, source="scratch", out="transfer.gif", n_worlds=4, seed=0, size=320):
    """One episode of `task` in n_worlds worlds, tiled into a GIF, acted greedily by the network
    of `source` (a transfer run folder, a checkpoint, or scratch: an untrained network)."""
    config = TransferConfig(task=task, source=source, seed=seed)
    set_threads(config.threads)
    model, normaliser_state = load_source(config, reinitialise=False)  # as it was trained
    ppo = PPO(model, OBS_SIZES, config.ppo)
    if normaliser_state is not None:
        ppo.obs_normaliser.load_state_dict(normaliser_state)
    env = TaskEnv(task, n_worlds, seed)
    obs, state = env.reset(), model.initial_state(n_worlds)
    starts = torch.ones(1, n_worlds, dtype=torch.bool)
    frames = [selfplay.tile([env.render(w, size) for w in range(n_worlds)])]
    for _ in range(env.task.horizon - 1):
        x = ppo.normalise_obs(selfplay.to_torch(obs, "cpu"), update_stats=False)
        dist, _, state = model({k: v[None] for k, v in x.items()}, state, starts)
        obs, _, dones, _ = env.step(dist.mode()[0].numpy().reshape(n_worlds, 1, 5))
        starts = torch.as_tensor(dones)[None]
        frames.append(selfplay.tile([env.render(w, size) for w in range(n_worlds)]))
    physics.write_gif(out, frames)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=list(FIVE_TASKS) + ["plot", "render"],
                        help="a task to train, plot (figure 6 from the runs), or render")
    parser.add_argument("task", nargs="?", help="(render) the task to play")
    parser.add_argument("--from", dest="source", default="scratch",
                        help="a selfplay.py checkpoint or run folder, scratch, count or rnd "
                             "(render: also a transfer run folder)")
    parser.add_argument("--seeds", type=int, default=1, help="seeds 0 .. N-1, one run each")
    parser.add_argument("--steps", type=int, default=None, help="world-steps per run")
    parser.add_argument("--pretrain-steps", type=int, default=None, help="count / rnd pretraining")
    parser.add_argument("--worlds", type=int, default=None, help="worlds stepped together")
    parser.add_argument("--out", default=None, help="figure (plot) or GIF (render) path")
    parser.add_argument("--size", type=int, default=320, help="(render) pixels per world")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    args = parser.parse_args(argv)
    if args.command == "plot":
        print(f"wrote {plot(out=args.out)[0]}")
        return None
    if args.command == "render":
        get_task(args.task or "")
        out = render(args.task, args.source, args.out or f"{args.task}.gif", args.worlds or 4,
                     size=args.size)
        print(f"wrote {out}")
        return out
    config = TransferConfig(task=args.command, source=args.source)
    changes = {"total_steps": args.steps, "pretrain_steps": args.pretrain_steps,
               "n_worlds": args.worlds}
    config = replace(config, **{k: v for k, v in changes.items() if v is not None})
    if config.source not in ("scratch", "count", "rnd") and not os.path.exists(config.source):
        raise FileNotFoundError(f"--from {config.source!r}: no such checkpoint; expected a "
                                "selfplay.py checkpoint or run folder, scratch, count or rnd")
    try:
        for seed in range(args.seeds):
            run_task(replace(config, seed=seed), args.device)
    except KeyboardInterrupt as stopped:  # the run saved; the same command goes on from there
        said = str(stopped) or "stopped at once; the last checkpoint on disk is intact"
        raise SystemExit(f"\n{said}. The same command goes on from there.") from None
    return None


if __name__ == "__main__":
    main()
