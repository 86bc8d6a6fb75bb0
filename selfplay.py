"""selfplay.py: the autocurriculum. One shared policy plays both teams, and each team's progress
is the other's new problem.

What this file teaches
    How hide-and-seek is trained (paper section 4, facts sections 6-7): every agent of both teams
    is driven by one network (the team flag in its observation says which side it is on), the
    opponent is always the current policy, and nothing but winning is rewarded (with
    `network.per_team` each team has its own network instead, the paper's ablation). Rollouts of W
    worlds are collected in one batch (numba physics on the CPU cores, the network on the GPU when
    there is one), PPO updates the policy, and the behaviour statistics of finished episodes
    (how far boxes and ramps moved, how many were locked, during preparation and after) show
    which strategy the agents have reached: the paper's "stages". A run folder keeps the config,
    a metrics CSV, the stages found, and one checkpoint that lets the run continue exactly.

Reading order
    1. `TrainConfig` and `PRESETS`: a game from env.py, a network from attention.py and PPO
       settings from ppo.py, joined; any field can be overridden from the command line.
    2. `train`: the loop, in numbered phases (collect, learn, record, track stages, save).
    3. `collect_rollout`: T steps of W worlds with the policy, into a ppo.Rollout.
    4. `StageTracker`: how the stages are read from the statistics.
    5. Run folders and checkpoints (`RunFolder`, `save_checkpoint`, `load_checkpoint`, and
       `ship`, the sub-command that makes a checkpoint small enough to commit).
    6. The sub-commands: `render` (GIFs), `eval` (a policy's statistics), `plot` (the paper's
       figure 3 for a run), `results` (the table of stages reached), `stages` (read them
       again), `--bench`.

Run it
    python selfplay.py train --preset tiny                 # a short run; ends by writing a GIF
    python selfplay.py train --resume runs/tiny-0          # continue exactly where it stopped
    python selfplay.py train --preset fort --init runs/tiny-0/checkpoint.pt   # climb the ladder
    python selfplay.py train --preset fort --init runs/A --init-seekers runs/B \
        --set network.per_team=true                        # A's hiders, B's seekers
    python selfplay.py train --preset fort --init runs/A --set network.per_team=true \
        frozen_team=hiders                                 # A's seekers learn, its hiders stay
    python selfplay.py train --preset tiny --set n_worlds=32 ppo.lr=1e-3     # override fields
    python selfplay.py train --preset ramp --set curriculum.share=0.7   # ZACL's start states
    python selfplay.py render runs/tiny-0 --out tiny.gif    # episodes of the trained policy
    python selfplay.py eval runs/tiny-0                     # its statistics over 512 episodes
    python selfplay.py eval runs/tiny-0 --game fort         # ... played in another game
    python selfplay.py plot runs/tiny-0                     # rewards and statistics over training
    python selfplay.py plot runs/tiny-0 runs/tiny-1         # two runs compared (compare.png)
    python selfplay.py plot runs/tiny-0 runs/fort-0 --lineage   # ... a rung and the one it began
    python selfplay.py results runs/tiny-0 runs/fort-0      # the README's table of stages reached
    python selfplay.py stages runs/tiny-0                   # stages read again from metrics.csv
    python selfplay.py ship runs/tiny-0 --out checkpoints/tiny.pt   # a small file to commit
    python selfplay.py --bench --preset quadrant            # end-to-end training speed
    python selfplay.py train --preset quadrant --paper-network   # the paper's network (a GPU's)

Axes: W worlds, A agents per world, N = W * A agent rows, T steps per rollout.
"""

import argparse
import contextlib
import csv
import io
import json
import math
import os
import pickle
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace

import numpy as np
import torch

import env as game
import handmade
from attention import NetworkSizes, build_model
from curriculum import (CubeReach, CurriculumConfig, RampReach, StartStates, WalkReach,
                        check_curriculum, check_starts, first_cube_gaps)
from physics import HIDERS, SEEKERS, write_gif
from ppo import PPO, PPOConfig, Rollout, stack_steps

# ---------------------------------------------------------------------------------------------
# 1. Settings: a game, a network and PPO, joined
# ---------------------------------------------------------------------------------------------


@dataclass
class TrainConfig:
    """One training run. `python selfplay.py train --set FIELD=VALUE` overrides any field, nested
    ones with a dot (`network.embed=64`, `ppo.lr=1e-3`)."""

    game: str = "tiny"  # the env.py preset (the game layout)
    observe_doors: bool = False  # not the paper's: the agents observe where the room's doors
    # are (env.py's door_table), which the paper's find with their lidar alone
    n_worlds: int = 64  # W worlds stepped together (paper: thousands over a cluster)
    rollout_steps: int = 40  # T steps of every world per update; a multiple of ppo.chunk_len
    total_steps: int = 1_000_000  # world-steps to train for (one world advancing one step)
    seed: int = 0  # seeds the worlds, the network's initial weights and action sampling
    torch_threads: int = 2  # torch threads on the CPU (1 is safer when other jobs share the cores)
    checkpoint_minutes: float = 5.0  # how often the resume checkpoint is rewritten
    stage_window: int = 10  # updates over which the stage tracker averages the statistics
    overlap: bool = False  # two halves of the worlds: one steps while the network runs on the
    # other (pays where the network runs on a GPU; on 2 CPU cores they compete for the cores)
    frozen_team: str = ""  # "hiders" or "seekers": that team's network is not trained (it
    # still plays), so the other team learns against a fixed opponent; needs network.per_team.
    # Not the paper's (both teams always learn): a way to let one team catch up
    network: NetworkSizes = field(default_factory=NetworkSizes)
    ppo: PPOConfig = field(default_factory=PPOConfig)
    # the start-state curriculum: off unless it restarts some episodes (restarts())
    curriculum: CurriculumConfig = field(default_factory=CurriculumConfig)


def small_network():
    """The narrow network the CPU presets use: the paper's shape at a quarter of the width and
    without the LSTM (ZACL trained its small game the same way; see the README's differences).
    3 lidar filters instead of 9: the convolved lidar is most of the "main" vector that every
    entity embedding reads (11 + 3 x 30 = 101 wide instead of 281), and most of the update's
    arithmetic with it."""
    return NetworkSizes(lidar_filters=3, embed=32, heads=2, dense=64, use_lstm=False, lstm=64)


def cpu_ppo(**changes):
    """PPO for small batches: the paper's clip and entropy bonus; a shorter horizon (gamma 0.99)
    for the short episodes of the small games; four epochs of four minibatches per batch."""
    return replace(PPOConfig(lr=1e-3, gamma=0.99, epochs=4, minibatches=4), **changes)


def cpu_rung(game, total_steps, rollout_steps=80):
    """A rung of the ladder above `tiny`: 128 worlds, the small network, CPU PPO."""
    return TrainConfig(game=game, n_worlds=128, rollout_steps=rollout_steps,
                       total_steps=total_steps, network=small_network(), ppo=cpu_ppo())


PRESETS = {
    "tiny": TrainConfig(game="tiny", n_worlds=64, rollout_steps=40, total_steps=2_000_000,
                        network=small_network(), ppo=cpu_ppo()),
    # 128 worlds amortise the network's per-call cost over more agents. Every preset takes 16
    # Adam steps per update (4 epochs x 4 minibatches): with 8 minibatches, 32 steps on one
    # batch drove `fort`'s policy change per update up and up (approx. KL 0.014 -> 0.049, clip
    # fraction 0.23, runs/fort-1; 0.012-0.019 and 0.13 with 16 steps, runs/fort-0), so larger
    # batches get larger minibatches, not more of them.
    "fort": cpu_rung("fort", 200_000_000),
    **{game: cpu_rung(game, 2_000_000_000)
       for game in ("fort-ramp-wall", "fort-ramp", "ramp-room-wall", "ramp-room-nudge",
                    "ramp-room-near", "ramp-room-turn", "ramp-room", "ramp-room-lock",
                    "ramp")},
    # The paper's two games keep the small network too, so that every rung's checkpoint can
    # start the next (`--init`); `--paper-network` gives the paper's network and PPO (a GPU's).
    "quadrant": cpu_rung("quadrant", 1_000_000_000),
    "full": cpu_rung("full", 5_000_000_000, rollout_steps=160),
}


def with_paper_network(config):
    """The paper's network (9 lidar filters, 128-wide embeddings, 4 heads, dense 256, LSTM 256:
    1.7M parameters) and PPO (lr 3e-4, gamma 0.998), keeping the preset's game and batch."""
    return replace(config, network=NetworkSizes(),
                   ppo=PPOConfig(epochs=config.ppo.epochs, minibatches=config.ppo.minibatches))


def preset_config(name):
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; expected one of {sorted(PRESETS)}")
    return PRESETS[name]


def apply_overrides(config, assignments):
    """`["n_worlds=32", "ppo.lr=1e-3"]` -> a new config; unknown fields and bad values raise."""
    for assignment in assignments:
        if "=" not in assignment:
            raise ValueError(f"override {assignment!r} is not FIELD=VALUE")
        path, text = assignment.split("=", 1)
        config = set_field(config, path.split("."), text, path)
    check_config(config)
    return config


def set_field(obj, names, text, path):
    known = {f.name: f for f in fields(obj)}
    if names[0] not in known:
        raise ValueError(f"unknown setting {path!r}: {type(obj).__name__} has no field "
                         f"{names[0]!r}; expected one of {sorted(known)}")
    current = getattr(obj, names[0])
    if len(names) > 1:
        if not is_dataclass(current):
            raise ValueError(f"unknown setting {path!r}: {names[0]!r} has no sub-fields")
        return replace(obj, **{names[0]: set_field(current, names[1:], text, path)})
    return replace(obj, **{names[0]: parse_value(text, current, path)})


def parse_value(text, current, path):
    """Read `text` as the type of the field's current value (bools as true/false, None as none)."""
    try:
        if text.lower() == "none":
            return None
        if isinstance(current, bool):
            if text.lower() not in ("true", "false"):
                raise ValueError
            return text.lower() == "true"
        if isinstance(current, int):
            return int(float(text)) if float(text).is_integer() else int(text)
        if isinstance(current, float) or current is None:
            return float(text)
        return type(current)(text)
    except ValueError:
        raise ValueError(f"setting {path}={text!r}: expected a {type(current).__name__}") from None


def check_config(config):
    if config.game not in game.PRESETS:
        raise ValueError(f"unknown game {config.game!r}; expected one of {sorted(game.PRESETS)}")
    if config.rollout_steps % config.ppo.chunk_len:
        raise ValueError(f"rollout_steps={config.rollout_steps} must be a multiple of "
                         f"ppo.chunk_len={config.ppo.chunk_len}")
    for name in ("n_worlds", "rollout_steps", "total_steps", "torch_threads", "stage_window"):
        if getattr(config, name) < 1:
            raise ValueError(f"{name} must be >= 1, got {getattr(config, name)}")
    if config.frozen_team not in FROZEN_TEAMS:
        raise ValueError(f"frozen_team={config.frozen_team!r}: expected one of {FROZEN_TEAMS} "
                         f"('' trains both teams)")
    if config.frozen_team and not config.network.per_team:
        raise ValueError(f"frozen_team={config.frozen_team!r} keeps one team's network as it is: "
                         f"it needs one network per team (network.per_team=true)")
    check_curriculum(config.curriculum)


FROZEN_TEAMS = ("", "hiders", "seekers")
RENAMED = {"door_ramp_walk": "ramp_walk"}  # curriculum settings saved under an older name


def config_from_dict(d):
    """A TrainConfig from its asdict() form (a checkpoint's, config.json's); configs saved before
    the curriculum existed had none, which is the curriculum switched off, and settings saved
    under an older name (RENAMED) load under the new one."""
    curriculum = {RENAMED.get(key, key): value for key, value in d.get("curriculum", {}).items()}
    return TrainConfig(**{**d, "network": NetworkSizes(**d["network"]),
                          "ppo": PPOConfig(**d["ppo"]),
                          "curriculum": CurriculumConfig(**curriculum)})


# ---------------------------------------------------------------------------------------------
# 2. The training loop
# ---------------------------------------------------------------------------------------------


class Trainer:
    """Everything a run carries from one update to the next, all of it saved in a checkpoint:
    the worlds, the learner (ppo: network, optimiser, normalisers), what the actors carry between
    rollouts (the next observation, recurrent state, episode starts) and the counters.

    The worlds are one HideAndSeek of W worlds, or two of W/2 with `overlap`. Agent rows are
    numbered group by group: group g owns rows `self.rows[g]` of every [N, ...] tensor."""

    def __init__(self, config, device):
        torch.manual_seed(config.seed)
        self.config, self.device = config, device
        sizes = [config.n_worlds // 2, config.n_worlds - config.n_worlds // 2]
        sizes = sizes if config.overlap and config.n_worlds > 1 else [config.n_worlds]
        self.envs = [game.HideAndSeek(config.game, w, config.seed + g,
                                      observe_doors=config.observe_doors)
                     for g, w in enumerate(sizes)]
        A = self.envs[0].n_agents
        bounds = np.cumsum([0] + [w * A for w in sizes])
        self.rows = [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]
        obs_sizes = self.envs[0].obs_sizes
        model = build_model(obs_sizes, config.network).to(device)
        if config.frozen_team:  # no gradient reaches that team's weights, so Adam skips them
            getattr(model, config.frozen_team).requires_grad_(False)
        self.ppo = PPO(model, obs_sizes, replace(config.ppo, seed=config.seed))
        self.ppo.obs_normaliser.to(device)
        self.ppo.value_normaliser.to(device)
        n = config.n_worlds * A
        self.obs = [env.reset() for env in self.envs]  # per group: numpy {key: [W_g, A, ...]}
        self.state = model.initial_state(n)  # [N, S]
        self.starts = torch.ones(n, dtype=torch.bool, device=device)  # [N]
        self.steps = self.episodes = self.updates = 0
        self.seconds = 0.0  # wall-clock spent training, over every session of the run
        self.origin = None  # for a run started with --init: what came before it (`init_from`)
        prep_fraction = game.get_preset(config.game).prep_fraction
        self.stages = StageTracker(config.stage_window, prep_fraction, config.game)
        starts = config.curriculum
        check_starts(starts, game.get_preset(config.game))  # an error now, not mid-run
        self.curriculum = (StartStates(starts, self.rows, A, config.seed)
                           if starts.restarts() else None)  # curriculum.py
        if starts.door_cubes > 0:  # where the forts left to finish begin (CubeReach moves them)
            for env in self.envs:
                handmade.set_cube_gaps(env, *first_cube_gaps(starts))
        if starts.fort_ramps > 0:  # where the forts' wall ramps begin (RampReach moves them)
            for env in self.envs:
                handmade.set_fort_ramp_gaps(env, 0, starts.fort_ramp_gap)
                handmade.set_fort_ramp_turn(env, starts.fort_ramp_turn)
        if starts.door_ramp_beside or starts.ramp_hiders > 0:  # how far out from a ramp the
            for env in self.envs:  # hider placed beside it begins (WalkReach moves them)
                handmade.set_ramp_walks(env, 0, starts.ramp_walk)  # and on which side
                handmade.set_walk_door_share(env, starts.walk_door_side)
        self.reach = RampReach(starts) if starts.ramp_reach > 0 else None
        self.cube_reach = CubeReach(starts) if starts.cube_reach > 0 else None
        self.walk_reach = WalkReach(starts) if starts.walk_reach > 0 else None


def train(trainer, run, minutes=None, write_gif=True, quiet=False):
    """Train until config.total_steps (or `minutes` of wall-clock), checkpointing as it goes.
    Ctrl-C finishes the current update, saves, and stops; a second Ctrl-C stops at once (the
    last checkpoint on disk stays intact: every write is atomic)."""
    cfg, stop = trainer.config, StopFlag()
    started, last_save, session_start = time.time(), time.time(), trainer.seconds
    progress = Progress(cfg.total_steps, trainer.steps, quiet)
    while trainer.steps < cfg.total_steps and not stop.requested:
        update_start = time.time()
        rollout, ended, replayed = collect_rollout(trainer)  # 1. act: T steps of W worlds
        diagnostics = trainer.ppo.update(rollout)  # 2. learn: one PPO update
        if trainer.curriculum is not None:  # the states this rollout offered, scored by GAE
            trainer.curriculum.score(trainer.ppo.advantages.float().cpu().numpy())
        trainer.updates += 1
        trainer.seconds = session_start + time.time() - started
        record = make_record(trainer, rollout, ended, diagnostics, update_start,
                             replayed)  # 3. record
        new_stages = trainer.stages.update(record)  # 4. track the stages
        run.append_metrics(record)
        progress.show(record, trainer.stages.current())
        for what, reach, hits in (("ramp gaps", trainer.reach, climbed_in),  # 4b. move the
                                  ("cube gaps", trainer.cube_reach,  # gaps (curriculum.py)
                                   lambda episodes: episodes["hiders_sealed_prep"]),
                                  ("hider's walks to the ramp", trainer.walk_reach,
                                   ramp_locked)):
            moved = (reach.update(trainer.envs, ended, hits(ended)) if reach is not None and ended
                     else None)
            if moved:
                progress.note(f"{what} now {moved[0] * game.CELL:.1f}-"
                              f"{moved[1] * game.CELL:.1f} m, at step {trainer.steps:,}")
        for stage in new_stages:  # a stage's checkpoint is kept: the policy that showed it
            progress.note(f"stage reached: {stage['name']} at step {stage['steps']:,}")
            run.write_stages(trainer.stages.reached)
            save_checkpoint(trainer, run.stage_checkpoint_path(stage["name"]))
        if time.time() - last_save > 60 * cfg.checkpoint_minutes:  # 5. save
            save_checkpoint(trainer, run.checkpoint_path)
            last_save = time.time()
        if minutes is not None and time.time() - started > 60 * minutes:
            break
    stop.restore()
    save_checkpoint(trainer, run.checkpoint_path)
    run.write_stages(trainer.stages.reached)
    progress.close()
    if write_gif:
        path = os.path.join(run.path, "episode.gif")
        render_episodes(trainer.ppo.model, trainer.config, path, n_worlds=4, seed=cfg.seed + 1,
                        ppo=trainer.ppo)
        print(f"wrote {path}")
    return trainer


class StopFlag:
    """The first Ctrl-C asks the loop to stop after the current update; the second one stops."""

    def __init__(self):
        self.requested = False
        self.previous = signal.signal(signal.SIGINT, self.handle)

    def handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\nstopping after this update (Ctrl-C again to stop now)", file=sys.stderr)

    def restore(self):
        signal.signal(signal.SIGINT, self.previous)


# ---------------------------------------------------------------------------------------------
# 3. Collecting a rollout
# ---------------------------------------------------------------------------------------------


def to_torch(obs, device):
    """numpy {key: [W, A, ...]} -> torch {key: [N, ...]} with N = W * A. For a GPU the arrays
    go through pinned (page-locked) memory, which the copy engine reads without a staging copy."""
    out = {}
    for k, v in obs.items():
        x = torch.from_numpy(v.reshape(v.shape[0] * v.shape[1], *v.shape[2:]))
        out[k] = x.pin_memory().to(device, non_blocking=True) if device == "cuda" else x
    return out


def act(trainer, g, update_stats):
    """Normalise group g's observations and run the network on its rows as T = 1."""
    ppo, rows = trainer.ppo, trainer.rows[g]
    valid = torch.from_numpy(trainer.envs[g].agent_exists.reshape(-1)).to(trainer.device)
    obs = to_torch(trainer.obs[g], trainer.device)  # {k: [N_g, ...]}
    obs = ppo.normalise_obs(obs, update_stats, valid)  # padding agents do not move the stats
    with ppo.autocast():
        dist, value, new_state = ppo.model({k: v[None] for k, v in obs.items()},
                                           trainer.state[rows], trainer.starts[rows][None])
    return obs, dist, value[0].float(), new_state, valid


def set_rows(tensor, rows, values):
    """A copy of `tensor` with `rows` replaced (copies keep the states stored for the chunks)."""
    tensor = tensor.clone()
    tensor[rows] = values
    return tensor


@torch.no_grad()
def collect_rollout(trainer):
    """T steps of W worlds. Every agent of both teams acts from the same network. An episode's
    end (the game's horizon) is terminal: nothing is bootstrapped past it. Padding agent slots
    (games whose team sizes vary) are marked invalid, so PPO and the normalisers ignore them.
    Returns the rollout, the statistics of the episodes that ended in it, and which agent rows
    played an episode begun by the start-state curriculum at each step (bool [T, N]).

    The worlds are stepped by one background thread (numba releases the GIL), so the network
    can work meanwhile. With one group that buys nothing: each step waits for the last. With
    two (`overlap`), group 0's worlds step while the network acts for group 1, and the reverse:

        network:  act g0 | act g1 | act g0 | act g1 | ...
        physics:         | step g0| step g1| step g0| ...      (a step's result is collected
                                                                 just before that group acts)
    """
    cfg, G, curriculum = trainer.config, len(trainer.envs), trainer.curriculum
    steps, chunk_states, ended, replayed = [], [], [], []
    pending = [None] * G  # each group's step in flight
    if curriculum is not None:
        curriculum.plan(cfg.rollout_steps, [env.n_worlds for env in trainer.envs])
    with ThreadPoolExecutor(max_workers=1) as physics:
        for t in range(cfg.rollout_steps):
            if t % cfg.ppo.chunk_len == 0:
                chunk_states.append(trainer.state)  # the state each 10-step chunk replays from
            steps.append([])
            replayed.append([])
            for g in range(G):
                if pending[g] is not None:  # this group's previous step: rewards, next obs
                    receive(trainer, g, pending[g].result(), steps[-2][g], ended)
                env = trainer.envs[g]
                if curriculum is not None:  # the worlds it copies as they are now
                    curriculum.offer(g, t, env)
                replayed[-1].append(np.repeat(env.replayed, env.n_agents))  # [N_g]
                obs, dist, value, new_state, valid = act(trainer, g, update_stats=True)
                actions = dist.sample()[0]  # [N_g, 5]
                pending[g] = physics.submit(step_worlds, trainer, g,
                                            actions.cpu().numpy().reshape(-1, env.n_agents, 5))
                steps[-1].append(dict(obs=obs, actions=actions, values=value, valid=valid,
                                      logp=dist.log_prob(actions[None])[0],
                                      starts=trainer.starts[trainer.rows[g]]))
                trainer.state = set_rows(trainer.state, trainer.rows[g], new_state)
        for g in range(G):
            receive(trainer, g, pending[g].result(), steps[-1][g], ended)
    last_values = torch.cat([act(trainer, g, update_stats=False)[2] for g in range(G)])  # [N]
    trainer.steps += cfg.rollout_steps * cfg.n_worlds
    joined = [join_groups(groups) for groups in steps]  # T dicts of [N, ...]
    rollout = Rollout(**stack_steps(joined), last_values=last_values,
                      chunk_states=torch.stack(chunk_states))  # [T, N, ...], [T / L, N, S]
    replayed = torch.from_numpy(np.stack([np.concatenate(r) for r in replayed]))  # [T, N]
    return rollout, merge_episodes(ended), replayed.to(trainer.device)


def step_worlds(trainer, g, actions):
    """The physics thread's job: one step of group g's worlds; with the start-state curriculum,
    some of the worlds whose episode ended begin again from its buffer (curriculum.py), and the
    observation returned is theirs. (Here, not in the main thread: numba's parallel kernels are
    then never launched from two threads at once.)"""
    env = trainer.envs[g]
    obs, rewards, dones, info = env.step(actions)
    if trainer.curriculum is not None and dones.any():
        if trainer.curriculum.restart(env, np.flatnonzero(dones), g):
            obs = env.observe()
    return obs, rewards, dones, info


def receive(trainer, g, result, record, ended):
    """File group g's step result: rewards and episode ends into its step record, the next
    observation and episode starts into the trainer, finished episodes into `ended`."""
    trainer.obs[g], rewards, dones, info = result
    A = trainer.envs[g].n_agents
    terminated = torch.from_numpy(np.repeat(dones, A)).to(trainer.device)  # [N_g]
    record.update(rewards=torch.from_numpy(rewards.reshape(-1)).to(trainer.device),
                  terminated=terminated, truncated=torch.zeros_like(terminated),
                  final_values=torch.zeros_like(record["values"]))
    trainer.starts = set_rows(trainer.starts, trainer.rows[g], terminated)
    if len(info["episodes"]["world"]):  # the worlds whose episode ended on this step
        ended.append(info["episodes"])


def join_groups(records):
    """One step's records of the groups -> one record of [N, ...] tensors, rows in group order."""
    if len(records) == 1:
        return records[0]
    return {k: ({o: torch.cat([r[k][o] for r in records]) for o in records[0][k]}
                if isinstance(records[0][k], dict) else torch.cat([r[k] for r in records]))
            for k in records[0]}


def merge_episodes(batches):
    """Join the per-step dicts of 1-D arrays from env.step's info into one dict."""
    if not batches:
        return {}
    return {k: np.concatenate([np.atleast_1d(b[k]) for b in batches]) for k in batches[0]}


# ---------------------------------------------------------------------------------------------
# 4. What is recorded, and the stages
# ---------------------------------------------------------------------------------------------

STAT_KEYS = game.STAT_KEYS  # the behaviour statistics of env.py's episodes


def make_record(trainer, rollout, ended, diagnostics, update_start, replayed=None):
    """One row of metrics.csv: counters, rewards per team, episode statistics, PPO diagnostics.
    Episodes that the start-state curriculum began (`replayed`, bool [T, N] per agent row and
    step, and the episodes' own flag) count in `episodes` and `episodes_replayed`, but not in the
    rewards and statistics: those say what the policy does from the game's own starts."""
    team = np.concatenate([env.team.reshape(-1) for env in trainer.envs])
    team = torch.from_numpy(team).to(rollout.rewards.device)  # [N]
    rewards = rollout.rewards  # [T, N]
    own_rows = torch.ones_like(rewards, dtype=torch.bool) if replayed is None else ~replayed
    n_ended = len(ended["world"]) if ended else 0
    own = ~ended["replayed"] if n_ended and "replayed" in ended else np.ones(n_ended, bool)
    trainer.episodes += n_ended
    record = {"update": trainer.updates, "steps": trainer.steps, "episodes": trainer.episodes,
              "seconds": round(trainer.seconds, 2),
              "steps_per_second": round(trainer.config.rollout_steps * trainer.config.n_worlds
                                        / max(time.time() - update_start, 1e-9), 1),
              "hider_reward": rewards[own_rows & (team == HIDERS)].mean().item(),
              "seeker_reward": rewards[own_rows & (team == SEEKERS)].mean().item(),
              "episodes_ended": n_ended, "episodes_replayed": int(n_ended - own.sum())}
    for key in STAT_KEYS + ("max_seeker_height",):
        record[key] = (float(np.mean(ended[key][own])) if own.any() and key in ended
                       else math.nan)
    record["seekers_climbed_in"] = (float(np.mean(climbed_in(ended)[own]))  # NaN: no room
                                    if own.any() and "seeker_in_room" in ended else math.nan)
    if trainer.config.curriculum.door_forts > 0:  # how the forts built for them ended
        forts = begun_so(record, ended, n_ended, "door_fort",
                         ("hiders_sealed", "max_seeker_height", "hider_return"))
        record["door_fort_seekers_climbed_in"] = (float(np.mean(climbed_in(ended)[forts]))
                                                  if forts.any() else math.nan)
        record["door_fort_seekers_climbed_in_far"] = mean_where_defined(
            climbed_in_far(ended)[forts])
    if trainer.reach is not None:  # the ramp's gaps as this update's rollout drew them
        record["ramp_gap_farthest"] = round(trainer.reach.gaps(trainer.envs[0])[1] * game.CELL,
                                            3)
        record["ramp_reach_share"] = trainer.reach.share()  # climbs from there, before this update
    if trainer.config.curriculum.door_cubes > 0:  # how the forts left to finish ended
        begun_so(record, ended, n_ended, "door_cube",
                 ("hiders_sealed_prep", "hiders_sealed", "hider_return"))
        record["cube_gap_farthest"] = round(trainer.envs[0].cube_gaps[1] * game.CELL, 3)
        if trainer.cube_reach is not None:  # forts closed from there, before this update
            record["cube_reach_share"] = trainer.cube_reach.share()
    if max(trainer.config.curriculum.ramp_walk, trainer.config.curriculum.walk_reach) > 0:
        # how far out from a ramp the hider placed beside it began
        record["ramp_walk_farthest"] = round(trainer.envs[0].ramp_walks[1] * game.CELL, 3)
        if trainer.walk_reach is not None:  # ramps locked from there, before this update
            record["walk_reach_share"] = trainer.walk_reach.share()
    for flag, part in (("door_ramp", trainer.config.curriculum.door_ramps),  # the ramp set
                       ("ramp_hider", trainer.config.curriculum.ramp_hiders)):  # at the door,
        if part > 0:  # a hider beside the ramp: how those ramp-defense starts ended
            begun_so(record, ended, n_ended, flag,
                     ("num_ramp_lock_prep", "max_ramp_move_prep", "hiders_sealed_prep",
                      "hiders_sealed", "hider_return"))
    record.update({k: round(v, 6) for k, v in diagnostics.items()})
    return record


def begun_so(record, ended, n_ended, flag, keys):
    """Into `record`: how many of the ended episodes began as `flag` says (env.py's door_fort or
    door_cube), as episodes_FLAG, and the mean of each statistic in `keys` over them, as
    FLAG_key (NaN where none ended). Returns those episodes' mask."""
    group = ended[flag] if n_ended else np.zeros(0, bool)
    record[f"episodes_{flag}"] = int(group.sum())
    for key in keys:
        record[f"{flag}_{key}"] = float(np.mean(ended[key][group])) if group.any() else math.nan
    return group


# The paper recognised its stages from these statistics and from watching episodes (facts 6.4).
# Each stage here is a test on the statistics averaged over the last `stage_window` updates
# (`s`), some against the average of the run's first window (`first`, the untrained policy); a
# stage is recorded the first time its test passes, after the stages before it. The thresholds
# are ours: an object moved 1 m is an object used, half of the episodes is a habit, and
# seekers that see a hider on 15% more of the steps after preparation than at the start have
# learnt to chase. A seeker earns +1 or -1 on each of those steps and 0 in preparation, so that
# is a rise of 2 x 0.15 x `paid` in its reward per step, `paid` being the share of steps after
# preparation (0.6). (The first version asked +0.3 whatever the share: in `fort`, where the
# untrained seeker already scores -0.56, GIFs showed seekers finding the hider through the door
# while their reward had risen by 0.25, and the tracker said no.) Fort building asks env.py's
# `hiders_sealed_prep` (no seeker can walk to a hider when preparation ends) in half of the
# episodes, with hiders winning: the first version asked for a box moved 1 m and locked in
# preparation, which a cube that spawned beside the door need not do, and which a cube
# dragged and locked anywhere does. Ramp use is also read from the forts built for the hiders
# (curriculum.door_forts), where a seeker that climbed and stood in the room came over the
# fort's wall: a run in which every episode starts so has almost no statistics of its own
# starts (only each world's first episode and worlds where no fort fitted), and
# in `ramp-room-wall` the ramp already stands against the wall, so need not move.
# A run started from another (--init) inherits the stages its lineage found, and the ladder
# goes on from there; but a stage found in another game (fort building with one hider in
# `fort`) says nothing of this one (two hiders and a ramp in `ramp-room`), so it is tested again
# here and, once it passes, recorded again with this game's name. Chasing is not: its test
# needs the untrained policy's first window, and a policy that already chases has none.
CLIMB = 0.3  # m a seeker's feet stand up: on a ramp or a box, not a step over an edge


def climbed_in(episodes):
    """float [n]: 1 where a seeker stood CLIMB up and stood in the quadrant room (in either
    order: from outside a closed fort, over its wall), 0 where not, NaN without that room."""
    return (episodes["max_seeker_height"] >= CLIMB) * episodes["seeker_in_room"]


def ramp_locked(episodes):
    """float [n]: 1 where a ramp was locked when preparation ended (ramp defense), 0 where not."""
    return (episodes["num_ramp_lock_prep"] > 0).astype(np.float64)


FAR = 1.0  # m: a ramp that started this far short of the wall was brought there to be climbed


def climbed_in_far(episodes):
    """float [n]: climbed_in (above) where the ramp started FAR or more short of the room's
    wall it faces (env.py's `ramp_gap`: `ramp-room-near` draws 0-2 m), so that the seeker
    brought it there before it climbed; NaN in other episodes."""
    far = episodes["ramp_gap"] >= FAR  # NaN, a ramp not facing a wall, compares False
    return np.where(far, climbed_in(episodes), np.nan)


def mean_where_defined(values):
    """Mean of the values that are not NaN (an array), NaN where every one is."""
    defined = values[~np.isnan(values)]
    return float(defined.mean()) if len(defined) else math.nan


STAGES = (
    ("running and chasing", "seekers see hiders on 15% more of the steps after preparation",
     lambda s, first, paid: s["seeker_reward"] >= first["seeker_reward"] + 2 * 0.15 * paid),
    ("fort building", "hiders seal themselves off from the seekers in preparation, and win",
     lambda s, first, paid: s["hiders_sealed_prep"] >= 0.5 and s["hider_reward"] > 0.0),
    ("ramp use", "seekers move a ramp after preparation and climb, or climb into half of the "
     "forts built for the hiders",
     lambda s, first, paid: (s["max_ramp_move"] - s["max_ramp_move_prep"] >= 1.0
                             and s["max_seeker_height"] >= CLIMB)
     or s["door_fort_seekers_climbed_in"] >= 0.5),
    ("ramp defense", "hiders move or lock the ramps in preparation",
     lambda s, first, paid: s["num_ramp_lock_prep"] >= 0.5 or s["max_ramp_move_prep"] >= 1.0),
)


def mean_of_finite(values):
    """Mean of the finite values (an update in which no episode ended records NaN; rows written
    before a statistic existed leave it empty), or NaN when they are fewer than half."""
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite and 2 * len(finite) >= len(values) else math.nan


class StageTracker:
    """Reads the stages from a moving average of the records, in the paper's order.
    `prep_fraction` is the game's: the share of steps in which nobody is paid; `game` is the
    run's, which every stage found here records (`reached`: the lineage's, then this run's)."""

    def __init__(self, window, prep_fraction=0.0, game=None):
        self.window, self.recent, self.reached, self.first = window, [], [], None
        self.paid, self.game = 1.0 - prep_fraction, game

    def found_here(self, stage):
        """Whether `stage` (an entry of `reached`) was found in this run's game. Entries written
        before stages named their game: this run's own were, inherited ones may not have been."""
        return stage.get("game", None if "inherited" in stage else self.game) == self.game

    def to_test(self):
        """The stages to test now: up to the first that no run of the lineage has found (the
        ladder), skipping those found in this game, and chasing once found anywhere."""
        names = {stage["name"] for stage in self.reached}
        here = {stage["name"] for stage in self.reached if self.found_here(stage)}
        stages = []
        for k, stage in enumerate(STAGES):
            name = stage[0]
            if name not in here and not (k == 0 and name in names):
                stages.append(stage)
            if name not in names:
                break
        return stages

    def update(self, record):
        self.recent = (self.recent + [record])[-self.window:]
        stages = self.to_test()
        if len(self.recent) < self.window or not stages:
            return []
        averages = {k: mean_of_finite([r.get(k, math.nan) for r in self.recent])
                    for k in ("hider_reward", "seeker_reward", "max_seeker_height",
                              "door_fort_seekers_climbed_in") + STAT_KEYS}
        if self.first is None:
            self.first = averages  # the untrained policy: the baseline for "learnt to chase"
            return []
        found = []
        for name, meaning, test in stages:
            with np.errstate(invalid="ignore"):
                if not bool(test(averages, self.first, self.paid)):
                    continue
            found.append({"name": name, "meaning": meaning, "update": record["update"],
                          "steps": record["steps"], "episodes": record["episodes"],
                          "seconds": record["seconds"], "game": self.game})
        self.reached += found
        return found

    def current(self):
        """The farthest stage of the ladder the lineage has found."""
        names = {stage["name"] for stage in self.reached}
        found = [name for name, _, _ in STAGES if name in names]
        return found[-1] if found else "none yet"

    def state_dict(self):
        return {"recent": self.recent, "reached": self.reached, "first": self.first}

    def load_state_dict(self, state):
        self.recent, self.reached, self.first = state["recent"], state["reached"], state["first"]


# ---------------------------------------------------------------------------------------------
# 5. Run folders, checkpoints and progress
# ---------------------------------------------------------------------------------------------


class RunFolder:
    """runs/NAME/: config.json, metrics.csv (one row per update), stages.json, checkpoint.pt,
    stage-NAME.pt for every stage found, and TensorBoard event files when the tensorboard
    package is installed."""

    def __init__(self, path):
        self.path = path
        self.checkpoint_path = os.path.join(path, "checkpoint.pt")
        self.metrics_path = os.path.join(path, "metrics.csv")
        self.fields = None  # metrics.csv's header, once read or written
        os.makedirs(path, exist_ok=True)
        self.tensorboard = None
        try:  # optional: `pip install tensorboard`, then `tensorboard --logdir runs`
            from torch.utils.tensorboard import SummaryWriter

            self.tensorboard = SummaryWriter(path)
        except ImportError:
            pass

    def stage_checkpoint_path(self, stage_name):
        """runs/NAME/stage-fort-building.pt: the checkpoint written when that stage was found."""
        return os.path.join(self.path, "stage-" + stage_name.replace(" ", "-") + ".pt")

    def write_config(self, config):
        atomic_write(os.path.join(self.path, "config.json"),
                     json.dumps(asdict(config), indent=2).encode())

    def append_metrics(self, record):
        fields = self.metric_fields(list(record))
        new = not os.path.exists(self.metrics_path)
        with open(self.metrics_path, "a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fields, restval="")
            if new:
                writer.writeheader()
            writer.writerow(record)
        if self.tensorboard is not None:
            for key, value in record.items():
                if key not in ("update", "steps") and math.isfinite(value):
                    self.tensorboard.add_scalar(key, value, record["steps"])
            self.tensorboard.flush()

    def metric_fields(self, keys):
        """The columns to write a record under: the file's header, widened first when a run
        resumed by a newer selfplay.py records a statistic the file lacks (its old rows leave
        the new column empty)."""
        if not os.path.exists(self.metrics_path):
            return keys
        if self.fields is None:  # read once: this run folder is the file's only writer
            self.fields = metrics_header(self.metrics_path)
        wider = self.fields + [k for k in keys if k not in self.fields]
        if wider != self.fields:
            self.rewrite_metrics(wider, read_metrics(self.metrics_path))
        return wider

    def keep_metrics_until(self, update):
        """On resume: drop rows written after the checkpoint (they will be written again)."""
        if os.path.exists(self.metrics_path):
            rows = read_metrics(self.metrics_path)
            self.rewrite_metrics(metrics_header(self.metrics_path),
                                 [r for r in rows if int(r["update"]) <= update])

    def rewrite_metrics(self, fields, rows):
        text = io.StringIO(newline="")
        writer = csv.DictWriter(text, fieldnames=fields, restval="")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write(self.metrics_path, text.getvalue().encode())
        self.fields = list(fields)

    def write_stages(self, stages):
        atomic_write(os.path.join(self.path, "stages.json"), json.dumps(stages, indent=2).encode())

    def write_origin(self, origin):
        """origin.json, for a run started with --init: see `init_from`."""
        atomic_write(os.path.join(self.path, "origin.json"), json.dumps(origin, indent=2).encode())


def read_origin(run_path):
    """A run's origin.json (what came before a run started with --init), or None."""
    path = os.path.join(run_path, "origin.json")
    return json.load(open(path)) if os.path.exists(path) else None


def metrics_header(path):
    with open(path, newline="") as f:
        return next(csv.reader(f), [])


def read_metrics(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def atomic_write(path, data):
    """Write to a temporary file, then rename: a crash leaves the old file or the new, never
    half of one."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def save_checkpoint(trainer, path):
    """Everything to continue bit for bit: config, learner, worlds, actors' carry, RNG, counters."""
    state = {"config": asdict(trainer.config), "ppo": trainer.ppo.state_dict(),
             "envs": pickle.dumps(trainer.envs), "obs": trainer.obs,
             "state": trainer.state.cpu(), "starts": trainer.starts.cpu(),
             "torch_rng": torch.get_rng_state(), "steps": trainer.steps,
             "episodes": trainer.episodes, "updates": trainer.updates, "seconds": trainer.seconds,
             "stages": trainer.stages.state_dict(), "origin": trainer.origin,
             "curriculum": None if trainer.curriculum is None else trainer.curriculum.state_dict(),
             "reach": None if trainer.reach is None else trainer.reach.state_dict(),
             "cube_reach": (None if trainer.cube_reach is None
                            else trainer.cube_reach.state_dict()),
             "walk_reach": (None if trainer.walk_reach is None
                            else trainer.walk_reach.state_dict())}
    atomic_save(state, path)


def atomic_save(state, path):
    """torch.save through a temporary file and a rename, as atomic_write."""
    tmp = f"{path}.tmp{os.getpid()}"
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path, device="cpu"):
    """A Trainer restored from `path` (a checkpoint.pt or a run folder holding one)."""
    if os.path.isdir(path):
        path = os.path.join(path, "checkpoint.pt")
    if not os.path.exists(path):
        raise FileNotFoundError(f"no checkpoint at {path!r}: expected a run folder or a .pt file")
    state = torch.load(path, map_location="cpu", weights_only=False)
    if "ppo" not in state or "config" not in state:
        raise ValueError(f"{path!r} is not a selfplay.py checkpoint (no 'ppo' or 'config')")
    trainer = Trainer(config_from_dict(state["config"]), device)
    trainer.ppo.load_state_dict(state["ppo"])
    if "envs" in state:
        trainer.envs, trainer.obs = pickle.loads(state["envs"]), state["obs"]
    elif "env" in state:  # checkpoints written before the worlds could be split into two groups
        trainer.envs, trainer.obs = [pickle.loads(state["env"])], [state["obs"]]
    if "state" in state:  # a `ship`ped checkpoint has no worlds in play: the Trainer's fresh ones
        trainer.state, trainer.starts = state["state"].to(device), state["starts"].to(device)
    torch.set_rng_state(state["torch_rng"])
    for name in ("steps", "episodes", "updates", "seconds"):
        setattr(trainer, name, state[name])
    trainer.stages.load_state_dict(state["stages"])
    trainer.origin = state.get("origin")
    if trainer.curriculum is not None and state.get("curriculum") is not None:
        trainer.curriculum.load_state_dict(state["curriculum"])
    if trainer.reach is not None and state.get("reach") is not None:
        trainer.reach.load_state_dict(state["reach"])
    if trainer.cube_reach is not None and state.get("cube_reach") is not None:
        trainer.cube_reach.load_state_dict(state["cube_reach"])
    if trainer.walk_reach is not None and state.get("walk_reach") is not None:
        trainer.walk_reach.load_state_dict(state["walk_reach"])
    return trainer


# What `ship` leaves out of a checkpoint: the worlds in play, the actors' carry and the start-state
# buffer, most of the file at 512 worlds (about 4 MB of ramp-room-wall-3's 5.6 MB; 1.6 MB left).
IN_PLAY = ("envs", "env", "obs", "state", "starts", "curriculum", "reach", "cube_reach",
           "walk_reach")


def ship(source, out):
    """`ship RUN_OR_CHECKPOINT --out checkpoints/NAME.pt`: the checkpoint without what is in play
    (IN_PLAY): the network, optimiser, normalisers, counters, stages and origin. It renders,
    evaluates and starts runs with --init as the source does (loaded, it has the fresh worlds
    of its config); only the run folder itself can be resumed exactly."""
    path = os.path.join(source, "checkpoint.pt") if os.path.isdir(source) else source
    load_checkpoint(path)  # a clear error now for what is not a checkpoint
    state = torch.load(path, map_location="cpu", weights_only=False)
    atomic_save({key: value for key, value in state.items() if key not in IN_PLAY}, out)
    return out


def init_from(trainer, path):
    """Start from another run's network and normalisers: the preset ladder, or one run
    continued with another recipe. The network reads entity lists, so its shapes do not depend
    on how many boxes or agents a game has (but with `observe_doors` its door layer's width
    does on the game's most doors: 1 in `ramp-room`, 2 in `quadrant`).

    What the source had learnt counts: the new run inherits the stages its source found (the
    tracker goes on to test the next one, which an already-chasing policy needs: its untrained
    baseline would be the chasing itself) and records the world-steps, episodes and seconds
    spent before it (`trainer.origin`, also origin.json), which `results` adds to its own."""
    source = load_checkpoint(path)
    load_network(trainer, source, path)
    normaliser = source.ppo.obs_normaliser.state_dict()
    if adds_doors(trainer, source):  # the doors' statistics start fresh
        normaliser |= {name: value for name, value
                       in trainer.ppo.obs_normaliser.state_dict().items() if ".doors." in name}
    trainer.ppo.obs_normaliser.load_state_dict(normaliser)
    trainer.ppo.value_normaliser.load_state_dict(source.ppo.value_normaliser.state_dict())
    trainer.origin = origin_of(source, path)
    trainer.stages.reached = [dict(stage) for stage in trainer.origin["stages"]]


def load_network(trainer, source, path):
    """Copy the source's weights into the trainer's network, which must have the same shapes,
    with one exception: a network that adds the LSTM (`network.use_lstm=true`) to a source
    without one takes every other layer from the source, and its policy's and critic's LSTM
    are set to compute what the source's memory layer did (`EntityTower.lstm_from_dense`).
    That gives a reactive policy memory, e.g. to remember where it saw the door, without
    losing what it learnt: in `ramp-room`, a freshly initialised LSTM in its place changed the
    shipped fort-building policy's action distribution by a KL of 16-30 nats per agent, this
    one by under 0.1 (tests/test_selfplay.py). And a run with `observe_doors` may start from a
    source without: the door layers (attention.py's `door_embed`) start at zero, so the policy
    acts exactly as its source did until it learns to use them. A network with one set of
    weights per team (`network.per_team`) may start from a source with one for both: each
    team's network gets a copy of it."""
    mine, theirs = trainer.config.network, source.config.network
    if theirs.per_team and not mine.per_team:
        raise ValueError(f"{path!r} holds one network per team (network.per_team=true); this "
                         f"run has one for both teams and cannot hold two")
    model, weights = trainer.ppo.model, source.ppo.model.state_dict()
    targets = ([model.hiders, model.seekers] if mine.per_team and not theirs.per_team
               else [model])  # each loads the whole of the source
    adds_lstm = mine.use_lstm and not theirs.use_lstm
    if adds_doors(trainer, source):  # zero weights: the doors change nothing until learnt
        weights.update({name: torch.zeros_like(value) for name, value
                        in targets[0].state_dict().items() if ".door_embed." in name})
        print(f"--init {path}: the doors are new to this network, their weights start at zero")
    if adds_lstm:  # every other shape is checked by the strict load below
        dense = {name: weights.pop(name) for name in list(weights) if ".memory." in name}
        weights.update({name: value for name, value in targets[0].state_dict().items()
                        if ".memory." in name})
    try:
        for target in targets:
            target.load_state_dict(weights)
    except RuntimeError as error:
        raise ValueError(f"{path!r} holds a network of another shape ({theirs}); this run's is "
                         f"{mine} (only adding the LSTM or the doors to a network without "
                         f"them, or a network per team, is allowed)") from error
    if adds_lstm:
        for target in targets:
            for name in ("policy", "critic"):
                getattr(target, name).lstm_from_dense(dense[f"{name}.memory.weight"],
                                                      dense[f"{name}.memory.bias"])
        print(f"--init {path}: the LSTM is new, set to compute what the source's memory layer did")


def init_seekers(trainer, path):
    """`--init-seekers CHECKPOINT`, after --init: the seekers' network of a run with one network
    per team (`network.per_team`) from another checkpoint, e.g. a seeker that learnt ramp use
    against hiders of one lineage, set against hiders that learnt forts in another. Only the
    network: the normalisers and the stages stay --init's (the observation statistics of one
    game differ little between checkpoints; origin.json records this source as "seekers")."""
    if not trainer.config.network.per_team:
        raise ValueError(f"--init-seekers {path}: the run has one network for both teams; set "
                         f"network.per_team=true to give the seekers their own")
    source = load_checkpoint(path)
    weights = source.ppo.model.state_dict()
    if source.config.network.per_team:  # its seekers' half
        weights = {name[len("seekers."):]: value for name, value in weights.items()
                   if name.startswith("seekers.")}
    try:
        trainer.ppo.model.seekers.load_state_dict(weights)
    except RuntimeError as error:
        raise ValueError(f"--init-seekers {path}: its network ({source.config.network}) has "
                         f"another shape than this run's ({trainer.config.network})") from error
    trainer.origin = dict(trainer.origin or {}, seekers={
        "checkpoint": path, "steps": (source.origin or {}).get("steps", 0) + source.steps})


def adds_doors(trainer, source):
    """Does the trainer observe the doors (`observe_doors`) and its --init source not?"""
    return trainer.config.observe_doors and not source.config.observe_doors


def origin_of(source, path):
    """What a run started from `source` (loaded from `path`) inherits: the stages its whole
    lineage found, each marked with the checkpoint it came through and, where known, the game
    it was found in (the source's own, for those it found itself), and the cumulative counts."""
    before = source.origin or {"steps": 0, "episodes": 0, "seconds": 0.0}
    stages = []
    for stage in with_games(source.stages.reached):
        if "game" not in stage and "inherited" not in stage:  # recorded before stages named it
            stage = dict(stage, game=source.config.game)
        stages.append(dict(stage, inherited=stage.get("inherited", path)))
    return {"checkpoint": path, "game": source.config.game,
            "steps": before["steps"] + source.steps,
            "episodes": before["episodes"] + source.episodes,
            "seconds": before["seconds"] + source.seconds, "stages": stages}


def with_games(stages):
    """The stages, each inherited one recorded before stages named their game given the game
    of the run or checkpoint it was found in ("inherited"), where that file is here to read;
    otherwise as they are (the tracker then tests them again)."""
    named = []
    for stage in stages:
        source = stage.get("inherited", "").split(" at ")[0]  # "runs/fort-2 at 16,599,040 ..."
        if "game" not in stage and source:
            game_name = game_trained_in(source)
            stage = dict(stage) if game_name is None else dict(stage, game=game_name)
        named.append(stage)
    return named


def game_trained_in(path):
    """The game of a run folder (its config.json) or checkpoint file, or None if not here."""
    if os.path.isdir(path) and os.path.exists(os.path.join(path, "config.json")):
        return json.load(open(os.path.join(path, "config.json")))["game"]
    if os.path.isfile(path):
        return torch.load(path, map_location="cpu", weights_only=False)["config"]["game"]
    return None


class Progress:
    """One line, rewritten: steps, speed, episodes, team rewards, stage, time left."""

    def __init__(self, total, done, quiet):
        self.total, self.first, self.start, self.quiet = total, done, time.time(), quiet

    def show(self, r, stage):
        if self.quiet:
            return
        rate = (r["steps"] - self.first) / max(time.time() - self.start, 1e-9)
        left = (self.total - r["steps"]) / max(rate, 1e-9)
        if math.isnan(r["hider_reward"]):  # every episode began from the curriculum's states
            rewards = "no episode from the game's own starts"
        else:
            rewards = f"hider {r['hider_reward']:+.2f} seeker {r['seeker_reward']:+.2f}"
        line = (f"\rstep {r['steps']:>11,}/{self.total:,} | {rate:7,.0f} steps/s | "
                f"episodes {r['episodes']:>8,} | {rewards} | stage: {stage} | "
                f"left {format_time(left)}")
        print(line, end="", flush=True)

    def note(self, text):
        if not self.quiet:
            print(f"\n{text}", flush=True)

    def close(self):
        if not self.quiet:
            print(flush=True)


def format_time(seconds):
    """Hours, minutes, seconds; from 100 hours on, days and hours (the ramp presets' 2 billion
    world-steps at 900 a second are 25d17h)."""
    seconds = int(max(seconds, 0))  # past the end (the last update overshoots): 0
    if seconds >= 100 * 3600:
        return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m{seconds % 60:02d}s"


# ---------------------------------------------------------------------------------------------
# 6. Sub-commands: render, eval, plot, stages, results, bench
# ---------------------------------------------------------------------------------------------


def play_episodes(model, config, n_worlds, seed=0, sample=False, ppo=None, on_frame=None,
                  door_forts=False, ramp_gaps=None, cube_gaps=None, hiders_behind=False,
                  cube_arc=False, door_ramps=None, door_ramp_hider=False, door_ramp_beside=False,
                  ramp_walks=None, ramp_hiders=False, ramps_locked=False, ramp_turn=0.0,
                  walk_door_side=0.0):
    """One episode in each of n_worlds worlds of config.game, started together: greedy actions
    by default, sampled with `sample` (as in training; `seed` seeds the sampling too); with
    `door_forts`, from forts already built (handmade.close_doors; a world whose layout kept a
    body in the cube's way 8 times over plays its own start: `door_fort` says which); with
    `ramp_gaps` (low, high), the wall ramp that many cells short of the wall (env.set_ramp_gaps,
    as curriculum.ramp_reach moves it in training) instead of the game's own gaps, or, in a game
    whose ramps stand anywhere, with `door_forts`, the forts' ramp moved so
    (handmade.close_doors' wall_ramp, as curriculum.fort_ramps), with `ramp_turn` that share of
    those ramps turned from facing the wall (handmade.set_fort_ramp_turn, as
    curriculum.fort_ramp_turn); with `cube_gaps` (low, high), from forts left to finish, the
    cube that many cells back from the doorway and unlocked (handmade.close_doors with set_back,
    as curriculum.door_cubes), with `hiders_behind` the hiders just behind it
    (curriculum.hiders_behind), with `cube_arc` the cube that far from home in any direction
    into the room (curriculum.cube_arc); with `door_ramps` (low, high), from the game's own
    layout with the ramp that many cells out from the room's door (handmade.ramps_to_doors, as
    curriculum.door_ramps), with `door_ramp_hider` a hider in the doorway
    (curriculum.door_ramp_hider) or with `door_ramp_beside` one beside the ramp
    (curriculum.door_ramp_beside); with `ramp_hiders`, from the game's own layout with a hider
    beside the ramp where the game put it (handmade.hiders_to_ramps, as curriculum.ramp_hiders);
    with `ramp_walks` (low, high), the hider of either of those two that many cells farther out
    from the ramp's face (handmade.set_ramp_walks, as curriculum.ramp_walk, which
    curriculum.walk_reach moves), and `walk_door_side` of them between the ramp and the room's
    door (handmade.set_walk_door_share, as curriculum.walk_door_side). With
    `ramps_locked`, whatever the start, every ramp begins locked by the hiders, as if they
    had locked it before the first step (a hider in reach that does not press lock unlocks
    it, as in play): what ramp defense would be worth. These keywords are the start
    arrangements; render_episodes and evaluate pass theirs on here. `ppo`
    supplies the observation normaliser the network was trained with, and its autocast.
    on_frame(env) is called at the start and after every step but the last (the worlds have
    reset by then). Returns env.py's statistics of the n_worlds episodes (info["episodes"] of
    the last step: a dict of 1-D arrays [n_worlds])."""
    env = game.HideAndSeek(config.game, n_worlds, seed, observe_doors=config.observe_doors)
    fort_ramps = ramp_gaps is not None and env.preset.ramp_spawn != "wall"
    if fort_ramps and not door_forts:
        raise ValueError(f"ramp_gaps {tuple(ramp_gaps)} set a ramp facing the room's wall: game "
                         f"{env.preset.name!r} places its ramps elsewhere, so they need "
                         f"door_forts (--door-forts), which moves the forts' ramps there, or a "
                         f"game with ramp_spawn 'wall'")
    if ramp_turn and not fort_ramps:
        raise ValueError(f"ramp_turn {ramp_turn} turns the ramps of forts built for the hiders "
                         f"with their ramp at the wall: it needs door_forts and ramp_gaps "
                         f"(--door-forts --ramp-gaps LOW HIGH) in a game whose ramps stand "
                         f"anywhere, got door_forts={door_forts}, ramp_gaps={ramp_gaps}, game "
                         f"{env.preset.name!r}")
    if fort_ramps:
        handmade.set_fort_ramp_gaps(env, *ramp_gaps)
        handmade.set_fort_ramp_turn(env, ramp_turn)
    elif ramp_gaps is not None:
        env.set_ramp_gaps(*ramp_gaps)
    chosen = [name for name, given in (("door_forts", door_forts),
                                       ("cube_gaps", cube_gaps is not None),
                                       ("door_ramps", door_ramps is not None),
                                       ("ramp_hiders", ramp_hiders)) if given]
    if len(chosen) > 1:  # each arranges the episodes' start its own way
        raise ValueError(f"choose one of forts built (door_forts), left to finish (cube_gaps), "
                         f"the ramp at the door (door_ramps) or a hider at the ramp "
                         f"(ramp_hiders), not both: got {' and '.join(chosen)}")
    if (door_ramp_hider or door_ramp_beside) and door_ramps is None:
        raise ValueError("door_ramp_hider and door_ramp_beside place a hider near a ramp at "
                         "the door: they need door_ramps (--door-ramps LOW HIGH)")
    if ramp_walks is not None and not (door_ramp_beside or ramp_hiders):
        raise ValueError(f"ramp_walks {tuple(ramp_walks)} move a hider placed beside the ramp: "
                         f"they need door_ramp_beside (--door-ramp-beside) or ramp_hiders "
                         f"(--ramp-hiders)")
    if walk_door_side and not (door_ramp_beside or ramp_hiders):
        raise ValueError(f"walk_door_side {walk_door_side} stands a hider placed beside the "
                         f"ramp on its door side: it needs door_ramp_beside (--door-ramp-beside) "
                         f"or ramp_hiders (--ramp-hiders)")
    for name, on in (("hiders_behind", hiders_behind), ("cube_arc", cube_arc)):
        if on and cube_gaps is None:
            raise ValueError(f"{name} arranges a fort left to finish: it needs cube_gaps "
                             f"(--cube-gaps LOW HIGH)")
    obs, n = env.reset(), n_worlds * env.n_agents
    if cube_gaps is not None:
        handmade.set_cube_gaps(env, *cube_gaps)
    if door_forts or cube_gaps is not None:
        handmade.close_doors(env, np.arange(n_worlds), set_back=cube_gaps is not None,
                             hiders_behind=hiders_behind, arc=cube_arc, wall_ramp=fort_ramps)
        obs = env.observe()
    if ramp_walks is not None:
        handmade.set_ramp_walks(env, *ramp_walks)
    handmade.set_walk_door_share(env, walk_door_side)
    if door_ramps is not None:
        handmade.ramps_to_doors(env, np.arange(n_worlds), door_ramps,
                                hider_at_door=door_ramp_hider, hider_at_ramp=door_ramp_beside)
        obs = env.observe()
    if ramp_hiders:
        handmade.hiders_to_ramps(env, np.arange(n_worlds))
        obs = env.observe()
    if ramps_locked:
        if not env.preset.lock_ramps:
            raise ValueError(f"ramps_locked (--ramps-locked) locks the ramps for the hiders: "
                             f"game {env.preset.name!r} has lock_ramps=False, expected a game "
                             f"whose ramps may be locked (e.g. ramp-room-lock)")
        env.world.locked_by[env.world.kind == game.RAMP] = HIDERS
        obs = env.observe()
    device = next(model.parameters()).device
    state = model.initial_state(n)
    starts = torch.ones(n, dtype=torch.bool, device=device)
    autocast = ppo.autocast if ppo is not None else contextlib.nullcontext
    if on_frame is not None:
        on_frame(env)
    cuda = [device] if device.type == "cuda" else []  # whose random streams to keep apart
    with torch.inference_mode(), torch.random.fork_rng(devices=cuda):
        torch.manual_seed(seed)  # the sampled actions; the caller's streams are left as they were
        for _ in range(env.preset.horizon):  # every world has the same horizon
            x = to_torch(obs, device)
            if ppo is not None:
                x = ppo.normalise_obs(x, update_stats=False)
            with autocast():
                dist, _, state = model({k: v[None] for k, v in x.items()}, state, starts[None])
            actions = (dist.sample() if sample else dist.mode())[0]  # [N, 5]
            obs, _, dones, info = env.step(actions.cpu().numpy().reshape(n_worlds,
                                                                          env.n_agents, 5))
            starts = torch.zeros_like(starts)
            if on_frame is not None and not dones.any():
                on_frame(env)
    assert dones.all(), "worlds that start together end together"
    return info["episodes"]


def render_episodes(model, config, out, n_worlds=4, seed=0, sample=False, ppo=None, **starts):
    """One episode in each of n_worlds worlds, tiled into one GIF (see play_episodes, which
    takes the start arrangements, `starts`: door_forts, ramp_gaps, cube_gaps, ...)."""
    frames = []

    def add_frame(env):
        frames.append(tile([env.render(w) for w in range(n_worlds)]))

    play_episodes(model, config, n_worlds, seed, sample, ppo, on_frame=add_frame, **starts)
    write_gif(out, frames)
    return out


# What became of the hiders' fort: (sealed off when preparation ended, after the last step).
FORT_OUTCOMES = {"held": (True, True), "fell": (True, False), "late": (False, True),
                 "none": (False, False)}


def fort_outcomes(episodes):
    """The episodes split by FORT_OUTCOMES: for each, its share of the episodes (forts_NAME) and
    the hiders' mean return in it (hider_return_NAME, NaN where there is none)."""
    made, kept = episodes["hiders_sealed_prep"] > 0, episodes["hiders_sealed"] > 0
    result = {}
    for name, (at_prep, at_end) in FORT_OUTCOMES.items():
        group = (made == at_prep) & (kept == at_end)
        result[f"forts_{name}"] = float(group.mean())
        result[f"hider_return_{name}"] = (float(episodes["hider_return"][group].mean())
                                          if group.any() else math.nan)
    return result


STILL = 0.05  # m: a cube that ends preparation nearer than this to where it began was left
# where it stood (env.py's max_box_move_prep: the displacement then, not the path)


def cube_outcomes(episodes):
    """What the hiders did with the cube of a fort left to finish, in the episodes begun from
    one (`door_cube`), as shares of them that add up to 1: closed the door (`cube_closed`:
    sealed off when preparation ended), moved the cube STILL or more from where it began but
    left the door open (`cube_moved_open`), left it where it stood and locked it there
    (`cube_still_locked`) or left it there unlocked (`cube_still`), all as preparation ended.
    NaN where no episode began from such a fort."""
    begun = episodes["door_cube"].astype(bool)
    closed = episodes["hiders_sealed_prep"][begun] > 0
    still = episodes["max_box_move_prep"][begun] < STILL
    locked = episodes["num_box_lock_prep"][begun] > 0
    groups = {"cube_closed": closed, "cube_moved_open": ~closed & ~still,
              "cube_still_locked": ~closed & still & locked,
              "cube_still": ~closed & still & ~locked}
    return {name: float(group.mean()) if begun.any() else math.nan
            for name, group in groups.items()}


def shares_in_groups(hit, label, groups):
    """For each (name, bool [n] mask) of `groups`: `<label>_<name>`, the mean of `hit` ([n], bool
    or 0/1) over those episodes, the share in which it held (NaN where there are none), and
    `episodes_<name>`, how many there were. The splits of `evaluate` by cube and by ramp."""
    result = {}
    for name, group in groups:
        result[f"{label}_{name}"] = float(hit[group].mean()) if group.any() else math.nan
        result[f"episodes_{name}"] = int(group.sum())
    return result


CUBE_HOMES = (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, math.inf)  # m from closing the door, bin edges


def sealed_by_cube_home(episodes):
    """In the game's own starts (not `replayed`), the share of episodes in which the hiders
    were sealed off when preparation ended, and how many there were, for each range of
    CUBE_HOMES: how far the cube started from closing the door (env.py's `cube_home`). Does
    what the hiders learnt from forts left to finish, the cube straight back from the door,
    carry to cubes the game placed as far? Nothing for games without a quadrant room."""
    home = np.where(episodes["replayed"], np.nan, episodes["cube_home"])
    return shares_in_ranges(episodes["hiders_sealed_prep"] > 0, "sealed", "cube_home", home,
                            CUBE_HOMES)


def shares_in_ranges(hit, label, name, values, edges):
    """shares_in_groups over the ranges [lo, hi) of `edges` (m; the last may be inf) that
    `values` ([n], NaN in none) fall in, each named `<name>_<lo>-<hi>m` (or `<lo>m+`); {}
    where no value is defined."""
    if not np.isfinite(values).any():
        return {}
    return shares_in_groups(hit, label, [
        (f"{name}_{lo:.1f}-{hi:.1f}m" if math.isfinite(hi) else f"{name}_{lo:.1f}m+",
         (values >= lo) & (values < hi))  # NaN falls in none
        for lo, hi in zip(edges[:-1], edges[1:])])


CUBE_BEARINGS = (0.0, 30.0, 60.0, 90.0)  # degrees from straight back, bin edges (90 in the last)
NEAR_HOME = 0.3  # m: a cube nearer than this to closing the door has no direction worth a split


def sealed_by_cube_bearing(episodes):
    """The share of episodes in which the hiders were sealed off when preparation ended, and
    how many there were, for each range of CUBE_BEARINGS: in which direction the cube started
    from closing the door (env.py's `cube_bearing`), straight back into the room (0 degrees)
    or beside the door along its wall (90). Counts the episodes not begun from a fort built
    (`door_fort`) whose cube started NEAR_HOME or farther from home: in `evaluate`, the game's
    own starts, or with `cube_gaps` the forts left to finish (`--cube-arc` spreads their
    directions). Nothing where no episode qualifies."""
    bearing = np.where(episodes["door_fort"] | ~(episodes["cube_home"] >= NEAR_HOME), np.nan,
                       episodes["cube_bearing"])
    if not np.isfinite(bearing).any():
        return {}
    last = CUBE_BEARINGS[-1]
    return shares_in_groups(episodes["hiders_sealed_prep"] > 0, "sealed", [
        (f"cube_bearing_{lo:.0f}-{hi:.0f}deg",
         (bearing >= lo) & ((bearing <= hi) if hi == last else (bearing < hi)))
        for lo, hi in zip(CUBE_BEARINGS[:-1], CUBE_BEARINGS[1:])])


DOOR_RAMP_GAPS = (0.0, 0.2, 1.0, math.inf)  # m from the wall, bin edges: in reach from the
# doorway (0), a few steps out, a walk


def locks_by_door_ramp_gap(episodes):
    """In the episodes begun with the ramp at the door (handmade.ramps_to_doors), the share in which
    a ramp was locked when preparation ended, and how many there were, for each range of
    DOOR_RAMP_GAPS (env.py's `door_ramp_gap`): does a lock from the doorway carry to a ramp
    that must be walked to? Nothing where no episode began so."""
    return shares_in_ranges(ramp_locked(episodes), "locked", "door_ramp",
                            episodes["door_ramp_gap"], DOOR_RAMP_GAPS)


RAMP_WALKS = (0.0, 0.1, 0.3, 0.7, math.inf)  # m out from beside the ramp, bin edges:
# beside it, a cell out, two or three, four or more


def locks_by_ramp_walk(episodes):
    """In the episodes begun with a hider placed beside the ramp or some cells out from it
    (handmade.hiders_to_ramps, handmade.ramps_to_doors' hider_at_ramp), the share in which a
    ramp was locked when preparation ended, and how many there were, for each range of RAMP_WALKS
    (env.py's `ramp_walk`): from how far does the hider still come to lock it? Nothing where
    no episode began so."""
    return shares_in_ranges(ramp_locked(episodes), "locked", "ramp_walk",
                            episodes["ramp_walk"], RAMP_WALKS)


def locks_by_door_side(episodes):
    """The same episodes split by where that hider started (env.py's `walk_door_side`):
    between the ramp and the room's door, so that the lock takes a walk away from home, as
    from the room ("door_side"), or where the ramp lies on its way home ("far_side"). Nothing
    where no episode began so."""
    side = episodes["walk_door_side"]
    if not np.isfinite(side).any():
        return {}
    return shares_in_groups(ramp_locked(episodes), "locked",
                            [("door_side", side == 1.0), ("far_side", side == 0.0)])


def evaluate(trainer, n_worlds=512, seed=0, sample=False, **starts):
    """The behaviour statistics of n_worlds fresh episodes of a trained policy, averaged (a dict
    of floats, and "episodes", an int): what the stage tracker reads, but from the greedy policy
    (or, with `sample`, the stochastic one that training runs) and without learning in between;
    `starts` are play_episodes' start arrangements: with `door_forts`, from forts already
    built ("door_fort_episodes" of them); with `cube_gaps`, from forts left to finish
    ("door_cube_episodes" of them; then `hiders_sealed_prep` is the share the hiders closed,
    and `cube_outcomes` says what they did with the cube); with `door_ramps`, the ramp at
    the door ("door_ramp_episodes" of them; `locks_by_door_ramp_gap` splits the ramp locks);
    with `ramp_hiders`, a hider beside the ramp ("ramp_hider_episodes" of them); with either
    and a hider placed beside the ramp, `locks_by_ramp_walk` splits the locks by its walk
    and `locks_by_door_side` by its side of the ramp.
    Rewards are per agent-step of the team, preparation included, as in metrics.csv;
    `seekers_climbed`, the share of episodes in which a seeker stood 0.3 m up (the stage
    tracker's climb); `seekers_in_room`, in which a seeker stood in the quadrant room,
    `seekers_climbed_in`, in which it did both (NaN in layouts without that room),
    `seekers_climbed_in_far`, the share of those whose ramp started 1 m or more short of the
    wall in which it did both (NaN where none did); then `climbs_by_ramp_gap`,
    `climbs_by_ramp_distance`, `climbs_by_ramp_facing`, `sealed_by_cube_home`,
    `sealed_by_cube_bearing` and `fort_outcomes`, whose returns are per episode."""
    episodes = play_episodes(trainer.ppo.model, trainer.config, n_worlds, seed, sample,
                             trainer.ppo, **starts)
    horizon = game.get_preset(trainer.config.game).horizon
    result = {"episodes": len(episodes["world"])}
    if starts.get("door_forts"):
        result["door_fort_episodes"] = int(episodes["door_fort"].sum())
    if starts.get("cube_gaps") is not None:
        result["door_cube_episodes"] = int(episodes["door_cube"].sum())
        result |= cube_outcomes(episodes)
    if starts.get("door_ramps") is not None:
        result["door_ramp_episodes"] = int(episodes["door_ramp"].sum())
        result |= locks_by_door_ramp_gap(episodes)
    if starts.get("ramp_hiders"):
        result["ramp_hider_episodes"] = int(episodes["ramp_hider"].sum())
    if starts.get("door_ramp_beside") or starts.get("ramp_hiders"):  # a hider beside the ramp
        result |= locks_by_ramp_walk(episodes) | locks_by_door_side(episodes)
    for team in ("hider", "seeker"):  # a team's return is the mean over its agents: weight them
        size = episodes[f"n_{team}s"]
        result[f"{team}_reward"] = float((episodes[f"{team}_return"] * size).sum()
                                         / (size.sum() * horizon))
    for key in STAT_KEYS + ("max_seeker_height",):
        result[key] = float(np.mean(episodes[key]))
    result["seekers_climbed"] = float(np.mean(episodes["max_seeker_height"] >= CLIMB))
    result["seekers_in_room"] = float(np.mean(episodes["seeker_in_room"]))  # NaN: no room
    result["seekers_climbed_in"] = float(np.mean(climbed_in(episodes)))
    result["seekers_climbed_in_far"] = mean_where_defined(climbed_in_far(episodes))
    return (result | climbs_by_ramp_gap(episodes) | climbs_by_ramp_distance(episodes)
            | climbs_by_ramp_facing(episodes) | sealed_by_cube_home(episodes)
            | sealed_by_cube_bearing(episodes) | fort_outcomes(episodes))


RAMP_GAPS = ((0, 0), (1, 2), (3, 5), (6, 8), (9, 10), (11, 12))  # cells (0.2 m) short of the
# wall, in ranges: `ramp-room-near` draws 0-10, `--ramp-gaps` and `RampReach` go to 12


def climbs_by_ramp_gap(episodes):
    """For a game whose ramp starts short of the wall (`ramp_gap`): the share of the episodes
    in which a seeker climbed in, and how many there were, for each range of RAMP_GAPS, and for
    the rest ("not_facing": turned from the wall, as `ramp-room-turn` turns half, or anywhere
    else, as `ramp-room` sets it); nothing for games in which no ramp faced a wall. The gaps are
    whole cells, so each range is read to the nearest cell."""
    cells = np.rint(episodes["ramp_gap"] / game.CELL)  # NaN stays NaN
    if not np.isfinite(cells).any():
        return {}
    groups = [(f"gap_{lo * game.CELL:.1f}-{hi * game.CELL:.1f}m", (cells >= lo) & (cells <= hi))
              for lo, hi in RAMP_GAPS]
    groups.append(("not_facing", ~np.isfinite(cells)))
    return shares_in_groups(climbed_in(episodes), "climbed_in", groups)  # float [n], NaN kept


RAMP_DISTANCES = (0.0, 0.5, 1.0, 1.5, 2.0, math.inf)  # m from the room, bin edges


def climbs_by_ramp_distance(episodes):
    """Over the forts that stood when preparation ended (`hiders_sealed_prep`), the share in
    which a seeker climbed in, and how many there were, for each range of RAMP_DISTANCES: how
    far the ramp stood from the room then (env.py's `ramp_room_prep`), the way a seeker had
    to bring it. Then `ramp_still_unclimbed`, the share of the forts it did not climb into
    whose ramp ended the episode nearer than STILL to where it began (env.py's max_ramp_move:
    left where the game put it, so the seeker did not try). Nothing for games without the
    quadrant room or a ramp."""
    sealed, climbed = episodes["hiders_sealed_prep"] > 0, climbed_in(episodes)
    distance = np.where(sealed, episodes["ramp_room_prep"], np.nan)
    result = shares_in_ranges(climbed, "climbed_in", "ramp_room", distance, RAMP_DISTANCES)
    if result:
        unclimbed = sealed & np.isfinite(distance) & ~(climbed > 0)
        result["ramp_still_unclimbed"] = (
            float(np.mean(episodes["max_ramp_move"][unclimbed] < STILL)) if unclimbed.any()
            else math.nan)
    return result


FACING = math.cos(math.radians(45))  # a ramp within 45 degrees of facing the room uphill
# faces it (climbed as it stands, once brought), within 45 of the opposite faces away


def climbs_by_ramp_facing(episodes):
    """Over the forts that stood when preparation ended, the share in which a seeker climbed
    in, and how many there were, by which way the ramp faced then (env.py's `ramp_facing_prep`,
    the cosine between its uphill heading and the way to the room): `facing_room` (above
    FACING), `side_on` and `facing_away` (below -FACING: to be turned round). Nothing for
    games without the quadrant room or a ramp."""
    sealed = episodes["hiders_sealed_prep"] > 0
    facing = np.where(sealed, episodes["ramp_facing_prep"], np.nan)
    if not np.isfinite(facing).any():
        return {}
    return shares_in_groups(climbed_in(episodes), "climbed_in", [
        ("facing_room", facing > FACING), ("side_on", np.abs(facing) <= FACING),
        ("facing_away", facing < -FACING)])  # NaN (no fort, or the ramp in the room) in none


def tile(images):
    """Up to 4 frames in a 2 x 2 grid (more in rows of 2)."""
    if len(images) == 1:
        return images[0]
    if len(images) % 2:
        images = images + [np.full_like(images[0], 255)]
    rows = [np.concatenate(images[i:i + 2], axis=1) for i in range(0, len(images), 2)]
    return np.concatenate(rows, axis=0)


def plot_run(run_path, out=None):
    """The paper's figure 3 for one run: team rewards, then how far boxes and ramps moved and
    how many were locked (in preparation and at the end), with the stages shaded; and ours: box
    unlocks after preparation, and the share of episodes in which the hiders were sealed off
    when preparation ended and after the last step (and, where metrics.csv has it, the share
    in which a seeker climbed into the room); for a run with curriculum.door_forts, how
    the forts built for the hiders ended (metrics.csv's door_fort_ columns), and with
    curriculum.door_cubes, how often the hiders closed the forts left to finish and how far
    back their cubes started (door_cube_, cube_gap_farthest, cube_reach_share). A run in which
    more than 95% of the episodes began from the forts and the curriculum's other states (with
    door_forts=1.0, only each world's first episode and the worlds where no fort could be
    arranged start their own way) has that panel alone."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps, column = run_columns(run_path)
    panels = run_panels(column)
    stages = []
    stages_path = os.path.join(run_path, "stages.json")
    if os.path.exists(stages_path):  # (stages inherited through --init were found elsewhere)
        stages = [stage for stage in json.load(open(stages_path)) if "inherited" not in stage]
    fig, axes = plt.subplots(len(panels), 1, figsize=(8, 2.4 * len(panels)), sharex=True,
                             squeeze=False)
    axes = axes[:, 0]  # one column of panels, one panel or several
    for ax, (title, series) in zip(axes, panels):
        for key, label in series:
            ax.plot(steps, smooth(column(key)), label=label)
        for k, stage in enumerate(stages):
            end = stages[k + 1]["steps"] if k + 1 < len(stages) else steps[-1]
            ax.axvspan(stage["steps"], end, color=f"C{k}", alpha=0.08)
        ax.set_ylabel(title)
        ax.legend(fontsize=8, loc="upper left")
    for stage in stages:
        axes[0].annotate(stage["name"], (stage["steps"], 1.0), xycoords=("data", "axes fraction"),
                         rotation=90, va="top", fontsize=8)
    axes[-1].set_xlabel("world-steps")
    name = os.path.basename(os.path.normpath(run_path))
    fig.suptitle(f"{name}: rewards and behaviour statistics")
    fig.tight_layout()
    out = out or os.path.join(run_path, "plot.png")
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def run_panels(column):
    """plot_run's panels for a run's statistics (`column` as run_columns gives it): a list of
    (title, [(metrics.csv column, label), ...]), one per panel, top to bottom."""
    panels = [("reward per step", [("hider_reward", "hiders"), ("seeker_reward", "seekers")]),
              ("box movement (m)", [("max_box_move_prep", "in preparation"),
                                    ("max_box_move", "at the end")]),
              ("ramp movement (m)", [("max_ramp_move_prep", "in preparation"),
                                     ("max_ramp_move", "at the end")]),
              ("objects locked", [("num_box_lock_prep", "boxes, preparation"),
                                  ("num_box_lock", "boxes, end"),
                                  ("num_ramp_lock_prep", "ramps, preparation"),
                                  ("num_ramp_lock", "ramps, end"),
                                  ("box_unlocks", "box unlocks after preparation")]),
              ("hiders sealed off", [("hiders_sealed_prep", "at the end of preparation"),
                                     ("hiders_sealed", "at the end")])]
    if np.isfinite(column("seekers_climbed_in")).any():  # a game with the quadrant room, in
        # metrics.csv since 2026-12-06: up and in the room, over the hiders' own fort or not
        panels[-1] = ("hiders sealed off, climbed", panels[-1][1]
                      + [("seekers_climbed_in", "seeker climbed into the room")])
    forts = np.isfinite(column("door_fort_hiders_sealed")).any()  # a run with door_forts
    if from_forts(column):  # a few own starts an update: noise
        panels = []
    if forts:
        series = [("door_fort_hiders_sealed", "hiders sealed off at the end"),
                  ("door_fort_seekers_climbed_in", "seeker climbed into the room"),
                  ("door_fort_seekers_climbed_in_far", "... from a ramp 1 m or more short of "
                                                       "the wall"),
                  ("door_fort_max_seeker_height", "highest a seeker stood (m)")]
        if np.isfinite(column("ramp_gap_farthest")).any():  # a run with curriculum.ramp_reach
            series += [("ramp_gap_farthest", "farthest ramp gap drawn (m)"),
                       ("ramp_reach_share", "climbed in from there (ramp_reach's window)")]
        panels.append(("forts built for them", series))
    if np.isfinite(column("cube_gap_farthest")).any():  # a run with curriculum.door_cubes
        series = [("door_cube_hiders_sealed_prep", "hiders sealed off when preparation ended"),
                  ("door_cube_hiders_sealed", "... at the end"),
                  ("cube_gap_farthest", "farthest cube gap drawn (m)")]
        if np.isfinite(column("cube_reach_share")).any():  # ... and curriculum.cube_reach
            series.append(("cube_reach_share", "closed from there (cube_reach's window)"))
        panels.append(("forts left to finish", series))
    for flag, title in (("door_ramp", "ramp set at the door"),  # curriculum.door_ramps
                        ("ramp_hider", "a hider beside the ramp")):  # curriculum.ramp_hiders
        if np.isfinite(column(f"{flag}_num_ramp_lock_prep")).any():
            panels.append((title, [(f"{flag}_num_ramp_lock_prep", "ramp locked in preparation"),
                                   (f"{flag}_hiders_sealed_prep",
                                    "hiders sealed off when preparation ended"),
                                   (f"{flag}_hiders_sealed", "... at the end")]))
    if (column("ramp_walk_farthest") > 0).any():  # curriculum.ramp_walk
        series = [("ramp_walk_farthest", "farthest walk to the ramp drawn (m)")]
        if np.isfinite(column("walk_reach_share")).any():  # ... and curriculum.walk_reach
            series.append(("walk_reach_share", "locked from there (walk_reach's window)"))
        panels.append(("the hider's walk to the ramp", series))
    return panels


def from_forts(column):
    """Did more than 95% of a run's episodes begin from the forts built for the hiders and the
    curriculum's other states? (`column` as run_columns gives it.) With door_forts=1.0 only each
    world's first episode and the worlds where no fort could be arranged start their own way,
    so the statistics of the game's own starts are a few episodes an update: noise."""
    ended, replayed = np.nansum(column("episodes_ended")), np.nansum(column("episodes_replayed"))
    return (np.isfinite(column("door_fort_hiders_sealed")).any() and ended > 0
            and replayed > 0.95 * ended)


def run_columns(run_path):
    """A run's world-steps per update [U] and `column(key)`, that statistic per update [U]
    (NaN where an update recorded none)."""
    metrics_path = os.path.join(run_path, "metrics.csv")
    if not os.path.exists(metrics_path):
        raise FileNotFoundError(f"no metrics.csv in {run_path!r}: is it a run folder?")
    rows = read_metrics(metrics_path)
    steps = np.array([float(r["steps"]) for r in rows])
    column = lambda k: np.array([float(r[k]) if r.get(k) not in (None, "") else np.nan
                                 for r in rows])
    return steps, column


COMPARED = (("hider reward per step", "hider_reward"),
            ("hiders sealed off", "hiders_sealed_prep"),
            ("box moved in preparation (m)", "max_box_move_prep"),
            ("boxes locked in preparation", "num_box_lock_prep"),
            ("ramp moved by the end (m)", "max_ramp_move"),
            ("highest a seeker stood (m)", "max_seeker_height"))
COMPARED_CLIMB = ("seeker climbed into the room", "seekers_climbed_in")  # after the seal
COMPARED_FORTS = (("seeker climbed into the room", "door_fort_seekers_climbed_in"),
                  ("... from a ramp 1 m+ short", "door_fort_seekers_climbed_in_far"),
                  ("hiders sealed off at the end", "door_fort_hiders_sealed"),
                  ("highest a seeker stood (m)", "door_fort_max_seeker_height"),
                  ("farthest ramp gap drawn (m)", "ramp_gap_farthest"))  # curriculum.ramp_reach
COMPARED_SOME_FORTS = (("seeker climbed into a fort given", "door_fort_seekers_climbed_in"),
                       ("farthest ramp gap drawn (m)", "ramp_gap_farthest"))  # ramp_reach
COMPARED_DEFENSE = (("ramps locked in preparation", "num_ramp_lock_prep"),  # own starts
                    ("ramp at the door: locked", "door_ramp_num_ramp_lock_prep"),  # door_ramps
                    ("... hiders sealed off", "door_ramp_hiders_sealed_prep"),
                    ("hider beside the ramp: locked", "ramp_hider_num_ramp_lock_prep"),
                    ("... hiders sealed off", "ramp_hider_hiders_sealed_prep"),  # ramp_hiders
                    ("farthest walk to the ramp drawn (m)", "ramp_walk_farthest"),  # ramp_walk
                    ("locked from there (walk_reach's window)", "walk_reach_share"))
COMPARED_CUBES = (("closed from the farthest gap", "cube_reach_share"),  # cube_reach's window
                  ("forts left to finish closed", "door_cube_hiders_sealed_prep"),  # every gap
                  ("farthest cube gap drawn (m)", "cube_gap_farthest"))  # curriculum.door_cubes


def comparison_figure(run_paths, width=50, lineage=False):
    """Several runs side by side: one panel per statistic, one line per run (a moving average
    over `width` updates), against each run's own world-steps (a run started with --init counts
    from 0), or with `lineage` against its lineage's (origin.json's world-steps before it added,
    so that runs branched from one another line up where they left their source). The
    statistics are COMPARED, those of the game's own starts (with COMPARED_CLIMB, the seeker
    up and in the room, where some run recorded it); where every run began nearly all
    its episodes from forts built for the hiders (`from_forts`), COMPARED_FORTS, how those
    ended, instead (its last panel only if some run moved the ramp's gaps); where every run
    began only some of them so (curriculum.door_forts below 1), COMPARED_SOME_FORTS after the
    own starts' (the seeker's climbs into those forts, and the ramp's farthest gap if some run
    moved it: curriculum.ramp_reach with fort_ramps); where every run began some from forts
    left to finish (curriculum.door_cubes), COMPARED_CUBES
    too (but the share closed from the farthest gap only if some run moved its gaps with
    curriculum.cube_reach); where some run began episodes with a hider within reach of the
    ramp (curriculum.door_ramps or ramp_hiders), COMPARED_DEFENSE's panels that some run
    recorded, the ramp locks of the game's own starts first. Returns the matplotlib figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [(os.path.basename(os.path.normpath(path)), *run_columns(path)) for path in run_paths]
    if lineage:  # each run's steps moved on by what came before it
        runs = [(name, steps + (read_origin(path) or {"steps": 0})["steps"], column)
                for path, (name, steps, column) in zip(run_paths, runs)]

    def recorded(key, runs_that=any):  # did any run (or, with all, every run) record `key`?
        return runs_that(np.isfinite(column(key)).any() for _, _, column in runs)

    compared = COMPARED
    if recorded("seekers_climbed_in"):  # a game with the quadrant room, since 2026-12-06
        compared = compared[:2] + (COMPARED_CLIMB,) + compared[2:]
    if all(from_forts(column) for _, _, column in runs):
        compared = [(title, key) for title, key in COMPARED_FORTS if recorded(key)]
    elif recorded("door_fort_seekers_climbed_in", all):
        compared = list(compared) + [(title, key) for title, key in COMPARED_SOME_FORTS
                                     if recorded(key)]
    if recorded("cube_gap_farthest", all):
        compared = list(compared) + [(title, key) for title, key in COMPARED_CUBES
                                     if recorded(key)]
    if recorded("door_ramp_num_ramp_lock_prep") or recorded("ramp_hider_num_ramp_lock_prep"):
        compared = list(compared) + [(title, key) for title, key in COMPARED_DEFENSE
                                     if recorded(key)]
    fig, axes = plt.subplots(len(compared), 1, figsize=(8, 2 * len(compared)), sharex=True,
                             squeeze=False)
    axes = axes[:, 0]
    for ax, (title, key) in zip(axes, compared):
        for name, steps, column in runs:
            ax.plot(steps, smooth(column(key), width), label=name)
        ax.set_ylabel(title, fontsize=8)
    axes[0].legend(fontsize=8, loc="best")
    axes[-1].set_xlabel("world-steps of each run's lineage" if lineage
                        else "world-steps of each run")
    fig.suptitle(f"{len(runs)} runs, moving averages of {width} updates",  # the legend names them
                 fontsize=9)
    fig.tight_layout()
    return fig


def compare_runs(run_paths, out="compare.png", width=50, lineage=False):
    """`plot RUN RUN ... [--lineage]`: comparison_figure written as a PNG."""
    import matplotlib.pyplot as plt

    fig = comparison_figure(run_paths, width, lineage)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def smooth(x, width=10):
    """Moving average over up to `width` valid points (NaN where an update ended no episode)."""
    out = np.full_like(x, np.nan)
    for i in range(len(x)):
        window = x[max(0, i - width + 1):i + 1]
        if np.isfinite(window).any():
            out[i] = np.nanmean(window)
    return out


def replay_stages(run_path):
    """The stages the current tracker reads from a run's metrics.csv (for runs recorded before
    the tracker last changed; `python selfplay.py stages RUN` rewrites stages.json with them)."""
    config = config_from_dict(json.load(open(os.path.join(run_path, "config.json"))))
    tracker = StageTracker(config.stage_window, game.get_preset(config.game).prep_fraction,
                           config.game)
    origin = read_origin(run_path)
    tracker.reached = with_games(origin["stages"]) if origin else []
    for row in read_metrics(os.path.join(run_path, "metrics.csv")):
        record = {k: float(v) if v not in ("", None) else math.nan for k, v in row.items()}
        for k in ("update", "steps", "episodes"):
            record[k] = int(record[k])
        tracker.update(record)
    return tracker.reached


def restage(run_path):
    """`stages RUN`: replay_stages written back into the run: its stages.json and its resume
    checkpoint's tracker, which would otherwise write the old list again when the run resumes
    (or, where this tracker tests a stage again, find it a second time)."""
    stages = replay_stages(run_path)
    RunFolder(run_path).write_stages(stages)
    path = os.path.join(run_path, "checkpoint.pt")
    if os.path.exists(path):
        state = torch.load(path, map_location="cpu", weights_only=False)
        state["stages"]["reached"] = stages
        atomic_save(state, path)
    return stages


RESULTS_HEADER = ("| preset | stage | world-steps | episodes | wall-clock | machine | run |\n"
                  "|---|---|---|---|---|---|---|")


def results_rows(run_paths, machine, root="."):
    """The README's results table, read from the runs' stages.json: one row per stage found,
    with the world-steps, episodes and training wall-clock at which the tracker first saw it.
    A run started with --init adds what came before it (origin.json) and names its source;
    the stages it inherited are its source's rows. Run paths are relative to `root` and printed
    as given."""
    rows = [RESULTS_HEADER]
    for path in run_paths:
        path = os.path.normpath(path)
        config = json.load(open(os.path.join(root, path, "config.json")))
        stages_path = os.path.join(root, path, "stages.json")
        origin = read_origin(os.path.join(root, path))
        before = origin or {"steps": 0, "episodes": 0, "seconds": 0.0}
        name = path if origin is None else f"{path} (from {origin['checkpoint']})"
        for stage in json.load(open(stages_path)) if os.path.exists(stages_path) else []:
            if "inherited" in stage:
                continue
            seconds = before["seconds"] + stage["seconds"]
            rows.append(f"| {config['game']} | {stage['name']} | "
                        f"{before['steps'] + stage['steps']:,} | "
                        f"{before['episodes'] + stage['episodes']:,} | "
                        f"{format_time(seconds)} | {machine} | {name} |")
    return "\n".join(rows)


def matmul_speed(device, n=2048, seconds=1.0):
    """FLOP/s of one large float32 matrix product, as near this machine's peak as torch gets."""
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    (a @ b).sum().item()  # warm up
    start, products = time.time(), 0
    while time.time() - start < seconds:
        (a @ b)[0, 0].item()  # .item() waits for a GPU too
        products += 1
    return 2 * n ** 3 * products / (time.time() - start)


def bench(config, device, updates=3):
    """End-to-end training speed: physics, inference and PPO updates with their sample reuse.
    Also where the time goes: collecting against updating, and the update's matrix products
    (counted by torch's FlopCounterMode on one more update, which is not timed; attention and
    elementwise work are not counted), so that the rate can be set against the machine's own
    matrix-product speed."""
    from torch.utils.flop_counter import FlopCounterMode

    trainer = Trainer(config, device)
    collect_rollout(trainer)  # warm up: numba compiles or loads its cache, torch allocates
    collecting = updating = 0.0
    for _ in range(updates):
        start = time.time()
        rollout, _, _ = collect_rollout(trainer)
        collecting += time.time() - start
        start = time.time()
        trainer.ppo.update(rollout)
        updating += time.time() - start
    samples = config.rollout_steps * config.n_worlds * trainer.envs[0].n_agents  # per update
    with FlopCounterMode(display=False) as counter:
        trainer.ppo.update(rollout)
    flops = counter.get_total_flops()  # one update: every epoch and minibatch
    print(f"this machine's matrix products: {matmul_speed(device) / 1e9:.1f} GFLOP/s "
          f"(2,048 x 2,048 by 2,048 x 2,048, {torch.get_num_threads()} torch threads)")
    print(f"collecting {collecting:.2f} s, updating {updating:.2f} s; the update's matrix "
          f"products: {flops / (samples * config.ppo.epochs) / 1e3:,.0f} kFLOP per agent-step "
          f"and epoch, done at {updates * flops / updating / 1e9:.1f} GFLOP/s")
    print(f"preset {config.game}: W={config.n_worlds} T={config.rollout_steps} "
          f"A={trainer.envs[0].n_agents} overlap {config.overlap} network {config.network} "
          f"device {device} torch threads {torch.get_num_threads()}")
    print(f"train agent-steps/s: {updates * samples / (collecting + updating):,.0f}")


# ---------------------------------------------------------------------------------------------
# 7. Command line
# ---------------------------------------------------------------------------------------------


def pick_device(name="auto"):
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name not in ("cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, got {name!r}")
    return name


RESUME_SETTINGS = ("torch_threads", "checkpoint_minutes", "total_steps")  # not the recipe


def chosen_config(preset, paper_network, assignments):
    """The preset, with the paper's network if asked, then the --set overrides."""
    config = preset_config(preset)
    config = with_paper_network(config) if paper_network else config
    return apply_overrides(config, assignments or [])


def start_or_resume(args, device):
    """The run and trainer for `train`: a new run from a preset (optionally --init from another
    checkpoint), or --resume of an existing run folder. Every error is raised before any work."""
    if args.resume and (args.init or args.init_seekers):
        raise ValueError(f"--resume {args.resume} continues a run with its own network; --init "
                         f"and --init-seekers start a new one (give --run instead)")
    if args.init_seekers and not args.init:
        raise ValueError(f"--init-seekers {args.init_seekers} replaces the seekers' network of "
                         f"an --init run: give --init CHECKPOINT too (the hiders' and the "
                         f"normalisers' source)")
    if args.resume:
        run = RunFolder(args.resume)
        trainer = load_checkpoint(args.resume, device)
        recipe = [a for a in args.set or [] if a.split("=")[0] not in RESUME_SETTINGS]
        if recipe:
            raise ValueError(f"--set {' '.join(recipe)}: a resumed run keeps its recipe; only "
                             f"{RESUME_SETTINGS} may change on --resume")
        trainer.config = apply_overrides(trainer.config, args.set or [])
        if args.steps is not None:
            trainer.config = replace(trainer.config, total_steps=args.steps)
        torch.set_num_threads(trainer.config.torch_threads)
        run.write_config(trainer.config)
        run.keep_metrics_until(trainer.updates)
        return run, trainer
    config = chosen_config(args.preset, args.paper_network, args.set)
    if args.steps is not None:
        config = replace(config, total_steps=args.steps)
    path = args.run or next_run_path(config.game)
    if os.path.exists(os.path.join(path, "checkpoint.pt")):
        raise FileExistsError(f"{path!r} already holds a run; use --resume {path} or another --run")
    torch.set_num_threads(config.torch_threads)
    trainer = Trainer(config, device)
    if args.init:
        init_from(trainer, args.init)
    if args.init_seekers:
        init_seekers(trainer, args.init_seekers)
    run = RunFolder(path)
    run.write_config(config)
    if trainer.origin is not None:
        run.write_origin(trainer.origin)
    return run, trainer


def next_run_path(name):
    k = 0
    while os.path.exists(os.path.join("runs", f"{name}-{k}")):
        k += 1
    return os.path.join("runs", f"{name}-{k}")


def load_in_game(source, device, game_name=None):
    """A checkpoint's trainer, set to play `game_name` (an env.py preset) instead of its own
    game when one is given: the network reads entity lists, so it plays any rung."""
    if game_name is not None and game_name not in game.PRESETS:
        raise ValueError(f"--game {game_name!r}: expected one of {sorted(game.PRESETS)}")
    trainer = load_checkpoint(source, device)
    if game_name is not None:
        trainer.config = replace(trainer.config, game=game_name)
    return trainer


def build_parser():
    """The command line: `--bench` on its own, or one of the subcommands below."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bench", action="store_true", help="print train agent-steps/s")
    parser.add_argument("--preset", default=None, help=f"one of {sorted(PRESETS)}")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--paper-network", action="store_true", help="(with --bench) the "
                        "paper's network and PPO instead of the preset's small ones")
    parser.add_argument("--set", nargs="*", metavar="FIELD=VALUE", help="(with --bench) "
                        "override config fields")
    sub = parser.add_subparsers(dest="command")
    t = sub.add_parser("train", help="train a preset, or resume a run")
    t.add_argument("--preset", default="tiny", help=f"one of {sorted(PRESETS)}")
    t.add_argument("--set", nargs="*", metavar="FIELD=VALUE",
                   help="override config fields (on --resume only torch_threads, "
                   "checkpoint_minutes, total_steps)")
    t.add_argument("--paper-network", action="store_true", help="the paper's network and PPO "
                   "(1.7M parameters, LSTM 256; for a GPU) instead of the preset's small ones")
    t.add_argument("--steps", type=int, default=None, help="total world-steps (overrides)")
    t.add_argument("--minutes", type=float, default=None, help="stop after this wall-clock")
    t.add_argument("--run", default=None, help="run folder (default runs/PRESET-K)")
    t.add_argument("--resume", default=None, metavar="RUN", help="continue this run folder")
    t.add_argument("--init", default=None, metavar="CHECKPOINT", help="start from its network")
    t.add_argument("--init-seekers", default=None, metavar="CHECKPOINT", help="with "
                   "network.per_team=true: the seekers' network from this checkpoint instead")
    t.add_argument("--no-gif", action="store_true", help="do not write episode.gif at the end")
    r = sub.add_parser("render", help="GIF of the policy in a run or checkpoint")
    r.add_argument("source", metavar="RUN_OR_CHECKPOINT")
    r.add_argument("--out", default="episode.gif")
    r.add_argument("--worlds", type=int, default=4)
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--sample", action="store_true", help="sample actions instead of greedy")
    e = sub.add_parser("eval", help="behaviour statistics of a trained policy over fresh "
                       "episodes (greedy, or sampled as in training)")
    e.add_argument("source", metavar="RUN_OR_CHECKPOINT")
    e.add_argument("--worlds", type=int, default=512, help="episodes, one per world")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--sample", action="store_true", help="sample actions instead of greedy")
    for command in (r, e):
        command.add_argument("--door-forts", action="store_true", help="every episode from a "
                             "fort already built: the room's cube locked in its doorway, the "
                             "hiders inside (games whose hiders start in the room)")
        command.add_argument("--game", default=None, help="play another env.py preset than the "
                             f"one it trained in (a rung up the ladder), one of "
                             f"{sorted(game.PRESETS)}")
        command.add_argument("--ramp-gaps", type=int, nargs=2, default=None, metavar=("LOW",
                             "HIGH"), help="the wall ramp LOW..HIGH cells (0.2 m) short of the "
                             "wall instead of the game's own gaps (a ramp_spawn 'wall' game; "
                             "0 12 is every gap); in another game, with --door-forts, the "
                             "forts' ramp moved there (curriculum.fort_ramps)")
        command.add_argument("--ramp-turn", type=float, default=0.0, metavar="SHARE",
                             help="with --door-forts --ramp-gaps in a game whose ramps stand "
                             "anywhere: that share of the forts' ramps turned a quarter, a "
                             "half or three quarters round from facing the wall "
                             "(curriculum.fort_ramp_turn)")
        command.add_argument("--cube-gaps", type=int, nargs=2, default=None, metavar=("LOW",
                             "HIGH"), help="every episode from a fort left to finish: the "
                             "room's cube LOW..HIGH cells (0.2 m) straight back from its "
                             "doorway, unlocked, the hiders inside (0 0: flush, not locked)")
        command.add_argument("--door-ramps", type=int, nargs=2, default=None,
                             metavar=("LOW", "HIGH"), help="the game's own layout with the "
                             "ramp LOW..HIGH cells (0.2 m) straight out from the room's door "
                             "(curriculum.door_ramps; 0 0: a hider in the doorway reaches it)")
        command.add_argument("--ramp-walks", type=int, nargs=2, default=None,
                             metavar=("LOW", "HIGH"), help="with --door-ramp-beside or "
                             "--ramp-hiders: that hider LOW..HIGH cells (0.2 m) farther out "
                             "from the ramp's face, facing it (curriculum.ramp_walk; 0 0: "
                             "beside it)")
        command.add_argument("--walk-door-side", type=float, default=0.0, metavar="SHARE",
                             help="with --door-ramp-beside or --ramp-hiders: that share of "
                             "those hiders between the ramp and the room's door, so the lock "
                             "takes a walk away from home (curriculum.walk_door_side)")
        for flag, text in (
                ("--hiders-behind", "with --cube-gaps: the hiders start just behind the cube, "
                 "facing the door"),
                ("--cube-arc", "with --cube-gaps: the cube that far from closing the door in "
                 "any direction into the room, not only straight back"),
                ("--door-ramp-hider", "with --door-ramps: a hider starts in the doorway, "
                 "facing out"),
                ("--door-ramp-beside", "with --door-ramps: a hider starts outside beside the "
                 "ramp, facing it (--ramp-walks: or some steps out from it)"),
                ("--ramp-hiders", "the game's own layout with a hider outside beside the "
                 "ramp, facing it (curriculum.ramp_hiders; --ramp-walks: or some steps out)"),
                ("--ramps-locked", "with any start: every ramp begins locked by the hiders "
                 "(what ramp defense would be worth)")):
            command.add_argument(flag, action="store_true", help=text)
    p = sub.add_parser("plot", help="rewards and behaviour statistics of a run, as a PNG; "
                       "of several runs, one line each (default --out compare.png)")
    p.add_argument("runs", nargs="+", metavar="RUN")
    p.add_argument("--out", default=None)
    p.add_argument("--lineage", action="store_true",
                   help="of several runs: against the world-steps of each one's lineage "
                   "(origin.json's added), so that branches line up with their source")
    g = sub.add_parser("stages", help="read a finished run's stages again from its metrics.csv "
                       "with the current tracker, and rewrite its stages.json and its "
                       "checkpoint's list (not while it trains: training rewrites both)")
    g.add_argument("run")
    h = sub.add_parser("ship", help="a checkpoint to commit: the learner without the worlds "
                       "in play (checkpoints/NAME.pt)")
    h.add_argument("source", metavar="RUN_OR_CHECKPOINT")
    h.add_argument("--out", required=True)
    s = sub.add_parser("results", help="the README's results table, from the runs' stages")
    s.add_argument("runs", nargs="+")
    s.add_argument("--machine", default="2-core dev machine", help="where the runs trained")
    return parser


def start_arrangements(args):
    """The start arrangements of render's and eval's command line, as play_episodes takes them."""
    return {name: getattr(args, name) for name in ("door_forts", "ramp_gaps", "cube_gaps",
                                                   "hiders_behind", "cube_arc", "door_ramps",
                                                   "door_ramp_hider", "door_ramp_beside",
                                                   "ramp_walks", "ramp_hiders",
                                                   "ramps_locked", "ramp_turn",
                                                   "walk_door_side")}


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    device = pick_device(args.device)
    if args.bench:
        config = chosen_config(args.preset or "quadrant", args.paper_network, args.set)
        torch.set_num_threads(config.torch_threads)
        return bench(config, device)
    if args.command == "train":
        run, trainer = start_or_resume(args, device)
        print(f"run folder: {run.path}  (device {device})")
        return train(trainer, run, args.minutes, write_gif=not args.no_gif)
    if args.command == "render":
        trainer = load_in_game(args.source, device, args.game)
        out = render_episodes(trainer.ppo.model, trainer.config, args.out, args.worlds,
                              args.seed, args.sample, ppo=trainer.ppo, **start_arrangements(args))
        print(f"wrote {out}")
        return out
    if args.command == "eval":
        if args.worlds < 1:
            raise ValueError(f"--worlds must be at least 1, got {args.worlds}")
        trainer = load_in_game(args.source, device, args.game)
        result = evaluate(trainer, args.worlds, args.seed, args.sample,
                          **start_arrangements(args))
        for key, value in result.items():
            print(f"{key:<26} {value:.4g}" if isinstance(value, float) else f"{key:<26} {value}")
        return result
    if args.command == "plot":
        if len(args.runs) == 1:
            if args.lineage:
                raise ValueError(f"--lineage lines up several runs against their lineages' "
                                 f"world-steps; got one run, {args.runs[0]!r}")
            print(f"wrote {plot_run(args.runs[0], args.out)}")
        else:
            out = compare_runs(args.runs, args.out or "compare.png", lineage=args.lineage)
            print(f"wrote {out}")
        return None
    if args.command == "stages":
        stages = restage(args.run)
        print(json.dumps(stages, indent=2))
        return stages
    if args.command == "ship":
        print(f"wrote {ship(args.source, args.out)} ({os.path.getsize(args.out):,} bytes)")
        return args.out
    if args.command == "results":
        print(results_rows(args.runs, args.machine))
        return None
    parser.print_help()


if __name__ == "__main__":
    main()
