"""transfer.py: the intelligence tests. Does hide-and-seek teach anything that helps elsewhere?

What this file teaches
    How the paper measured what its agents had learnt (section 6, facts section 8): five small
    single-agent tasks built from the same physics, objects and observation layout as the game,
    so that a hide-and-seek network fits them unchanged. Four are trained with PPO after
    *fine-tuning*: the hide-and-seek weights are loaded, the last dense layer and its layer norm
    are re-initialised in the policy and in the critic, and everything trains on the task's
    reward. The fifth, object counting, is supervised: the policy is frozen and only a classifier
    head on its memory learns. Baselines: the same network trained from scratch, and the same
    network pretrained with intrinsic motivation (count-based exploration, and random-network
    distillation) on a task-free world before the same fine-tuning.

    counting          watch 6 boxes go left or right behind screens, say how many went left
    lock-return       find and lock the box in one of 6 rooms, then go home (120 steps)
    sequential-lock   lock 4 boxes in a hidden order, in 3 rooms without doors (120 steps)
    blueprint         push boxes onto 1-4 marked sites (150 steps)
    shelter           wall in a cylinder against 100 rays from the arena's edges (240 steps)

Observation layout (one for every task): the keys and feature sizes of env.py's `quadrant`
preset, so `attention.ActorCritic` built for hide-and-seek reads them unchanged. Extra inputs are
zero-filled as in the paper: team flag 1 (a hider), preparation progress 0, one empty other-agent
slot (masked out), and the ramp stream keeps at least one slot (empty and masked when a task has
no ramps). Entity counts differ per task; the network pools over entity lists, so counts do not
change its shapes. Task landmarks (the blueprint's sites, the shelter's cylinder) enter through
the ramp stream, since the network has no stream for them (the paper added one; see the README).

Reading order
    1. `Task` and `TASKS` (the rules, paper's numbers), `TransferConfig` (training settings).
    2. `TaskEnv`: the batched task world; `step()` is its table of contents; layouts per task.
    3. The rewards: locking, blueprint distances, the shelter's rays.
    4. Intrinsic motivation: `box_histogram` (object-invariant state), `CountBonus`, `RNDBonus`.
    5. Fine-tuning: `load_source`, `reinitialise_last_layers`, `TaskTrainer`, `pretrain`,
       `finetune`; counting's learner, `CountingProbe`.
    6. Run folders: `train_in` checkpoints every run and continues one that was stopped.
    7. `plot` (the paper's figure 6), `render`, the command line.

Run it
    python transfer.py lock-return --from checkpoints/ramp-room-fort-building.pt --seeds 3
    python transfer.py lock-return --from scratch --seeds 3 --steps 200000
    python transfer.py shelter --from count --seeds 3      # pretrains with counts, then fine-tunes
    python transfer.py plot                                 # runs/transfer -> figure 6 + table
    python transfer.py render blueprint --from runs/transfer/blueprint/scratch-seed0

Axes: W worlds, A agent slots (2 in physics: the agent and an empty slot; 1 in observations),
B body slots (agents, boxes, ramps), K boxes, S sites, R rays, T time, N = W agent rows, H hidden.
"""

import argparse
import glob
import math
import os
import pickle
import time
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import torch
import numba
import torch.nn as nn
from numba import njit, prange

import env as game
import physics
import selfplay
from attention import ActorCritic, NetworkSizes, TeamActorCritic
from physics import BOX, EMPTY, HIDERS, NO_TEAM, RAMP
from ppo import PPO, ObsNormaliser, PPOConfig, RunningMeanStd

# ---------------------------------------------------------------------------------------------
# 1. Settings: the tasks' rules, and the training
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Task:
    """The rules of one task. Every reward number is the paper's (facts section 8)."""

    name: str
    horizon: int  # control steps per episode
    boxes: int = 0  # box slots (physics slots 2 .. 2 + boxes)
    long_boxes: int = 0  # how many of the boxes are long, 1.65 x 0.15 m
    ramps: int = 0  # ramp slots, after the boxes
    walls: int = 4  # wall slots: the 4 outer walls first, then the task's
    landmarks: int = 0  # rows the ramp stream carries for sites or the cylinder
    lock_reward: float = 5.0  # per new lock (and minus per unlock)
    approach_reward: float = 0.5  # per metre the agent comes closer to its current target
    home_radius: float = 0.1  # m: "returned" means within this of the spawn point
    home_reward: float = 1.0  # per step of the goal state (box locked and home / all locked)
    sites: tuple = (1, 4)  # blueprint: sites per episode, drawn uniformly
    central: float = 0.85  # sites (blueprint) or the cylinder (shelter, 0.7) lie in this
    # central fraction of the arena
    site_tolerance: float = 0.1  # m: a box fills a site when its centre and corners are this close
    site_reward: float = 3.0  # per site, once every site is filled (the episode then ends)
    distance_scale: float = 0.05  # dense reward: minus this x mean over sites of the smooth-min
    smooth_min_alpha: float = -1.5  # softmin temperature over boxes (negative: favours the near)
    ray_penalty: float = 0.001  # shelter: per ray that reaches the cylinder, per step
    rays_per_side: int = 25  # shelter: rays from each arena edge (100 in all)
    cylinder_diameter: tuple = (1.5, 2.0)  # m, drawn uniformly


TASKS = {
    # 6 boxes, one at a time every 8 steps, then 32 steps of remembering.
    "counting": Task("counting", horizon=80, boxes=6, walls=6),
    "lock-return": Task("lock-return", horizon=120, boxes=1, walls=14),
    "sequential-lock": Task("sequential-lock", horizon=120, boxes=4, ramps=3, walls=6),
    "blueprint": Task("blueprint", horizon=150, boxes=8, landmarks=4),
    "shelter": Task("shelter", horizon=240, boxes=8, long_boxes=3, walls=16, landmarks=1,
                    central=0.7),
    # The task-free world of the intrinsic-motivation baselines (no reward but the bonus).
    # Every body starts in the lower-left quarter (see new_layout).
    "explore": Task("explore", horizon=120, boxes=4, long_boxes=1, ramps=1),
}
FIVE_TASKS = ("counting", "lock-return", "sequential-lock", "blueprint", "shelter")
OBS_SIZES = {"self": 11, "agents": 11, "boxes": 15, "ramps": 15, "lidar": 30}  # = quadrant's
FIRST_BOX = 2  # physics slots: 0 the agent, 1 an empty agent slot, then boxes, then ramps
ARENA = 6.0  # m
COUNT_PERIOD, COUNT_TRAVEL = 8, 2.2  # counting: steps per box, metres each box slides sideways


def get_task(name):
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; expected one of {sorted(TASKS)}")
    return TASKS[name]


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
# 2. The task world
# ---------------------------------------------------------------------------------------------


class TaskEnv:
    """W worlds of one task, with the interface selfplay.collect_rollout drives (that of
    env.HideAndSeek): reset() -> obs; step(actions int [W, 1, 5]) -> obs, rewards [W, 1],
    dones [W], info; n_agents, agent_exists, team. A world resets itself when its episode ends
    (at the horizon, or when the blueprint is complete); the end is terminal.

    info["episodes"] has one entry per ended world: world, return, length, success. Success is
    per task: lock-return, sequential-lock and blueprint 1 if the goal state was reached in the
    episode; shelter the fraction of rays blocked at the last step; counting 0 (its measure is
    the classifier's accuracy). `bonus` (a CountBonus or RNDBonus) is the reward of "explore".
    """

    def __init__(self, task, n_worlds, seed=None, bonus=None):
        self.task = get_task(task) if isinstance(task, str) else task
        t, W = self.task, n_worlds
        self.n_worlds, self.n_agents, self.bonus = W, 1, bonus
        self.n_bodies = FIRST_BOX + t.boxes + t.ramps
        self.world = physics.make_world(W, self.n_bodies, 2, t.walls)
        self.boxes = slice(FIRST_BOX, FIRST_BOX + t.boxes)
        self.agent_exists = np.ones((W, 1), bool)
        self.replayed = np.zeros(W, bool)  # no start-state curriculum in the tasks: never
        self.team = np.zeros((W, 1), np.int8)  # the agent is a hider (team flag 1)
        self.obs_sizes = dict(OBS_SIZES)
        self.rng = np.random.default_rng(seed)
        self.rules = game.rules_of(replace(game.PRESETS["full"], hiders=(1, 1), seekers=(1, 1),
                                           boxes=(1, 1), long_boxes=(0, 0), ramps=0,
                                           rooms=(6, 6), outer_walls=1.0))  # lock-return
        self.t = np.zeros(W, np.int64)
        self.returns, self.success = np.zeros(W), np.zeros(W)
        self.spawn = np.zeros((W, 2))  # the agent's start (lock-return's home)
        self.last_agent = np.zeros((W, 2))  # agent position last step (for the approach reward)
        self.was_locked = np.zeros((W, t.boxes), bool)
        self.sites = np.zeros((W, 4, 2))  # blueprint site centres; n_sites [W] are real
        self.n_sites = np.zeros(W, np.int64)
        self.cylinder = np.zeros((W, 3))  # shelter: centre x, y and radius
        self.directions = np.zeros((W, t.boxes))  # counting: -1 left, +1 right, per box
        self.ray_hits = np.zeros((W, 4 * t.rays_per_side), bool)
        self.lidar = np.zeros((W, 2, physics.N_LIDAR))
        self.visible = np.zeros((W, 2, self.n_bodies), bool)

    def reset(self, seed=None):
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self.new_episodes(np.arange(self.n_worlds))
        return self.observe()

    def step(self, actions):
        """The table of contents of one step."""
        actions = np.asarray(actions)
        if actions.shape != (self.n_worlds, 1, 5):
            raise ValueError(f"actions have shape {actions.shape}, expected [W, 1, 5] = "
                             f"{(self.n_worlds, 1, 5)} (x bin, y bin, turn bin, grab, lock)")
        full = np.tile(game.IDLE, (self.n_worlds, 2, 1))  # [W, 2, 5]: slot 1 is empty
        full[:, 0] = actions[:, 0]
        self.before_physics(full)  # 1. the task's own rules: pinning, scripts, lock order
        physics.step(self.world, full, self.visible)  # 2. physics (grab and lock see last step)
        self.lidar, sight = physics.sense(self.world)  # 3. senses and vision
        self.visible = game.vision(self.world, sight)
        rewards, completed = self.rewards()  # 4. the task's reward
        self.returns += rewards
        self.t += 1
        dones = (self.t >= self.task.horizon) | completed  # 5. episode ends
        ended = np.flatnonzero(dones)
        if self.task.name == "shelter":
            self.success[ended] = 1.0 - self.ray_hits[ended].mean(1)
        episodes = {"world": ended, "return": self.returns[ended].copy(),
                    "length": self.t[ended].copy(), "success": self.success[ended].copy()}
        self.new_episodes(ended)  # 6. ended worlds start again
        return self.observe(), rewards[:, None].astype(np.float32), dones, {"episodes": episodes}

    def before_physics(self, actions):
        name, s = self.task.name, self.world
        if name == "counting":  # pinned: the agent never acts; the boxes follow their script
            actions[:, 0] = game.IDLE
            script_counting_boxes(self, self.t + 1)
        elif name == "sequential-lock":  # only the next box in the hidden order can be locked
            locked = s.locked_by[:, self.boxes] != NO_TEAM  # [W, K]
            next_box = np.where(locked.all(1), self.task.boxes, np.argmin(locked, 1))  # [W]
            order = np.arange(self.task.boxes)[None]  # [1, K]
            s.lockable[:, self.boxes] = locked | (order == next_box[:, None])

    def rewards(self):
        """rewards [W] and completed [W] (the episode ends early) for this task."""
        name, W = self.task.name, self.n_worlds
        if name == "lock-return":
            return lock_and_return_rewards(self), np.zeros(W, bool)
        if name == "sequential-lock":
            return sequential_lock_rewards(self), np.zeros(W, bool)
        if name == "blueprint":
            return blueprint_rewards(self)
        if name == "shelter":
            return shelter_rewards(self), np.zeros(W, bool)
        if name == "counting":
            return np.zeros(W), np.zeros(W, bool)
        if name == "explore":
            return self.bonus(box_histogram(self, self.bonus.cell)), np.zeros(W, bool)
        raise ValueError(f"task {name!r} has no reward rule")

    def new_episodes(self, which):
        for w in which:
            new_layout(self, w)
        self.start_episodes(which)

    def start_episodes(self, which):
        """Start episodes in worlds `which` from their present state: step 0, the spawn point
        remembered, senses refreshed. Call it after arranging env.world by hand (tests)."""
        which = np.asarray(which, np.int64)
        if not len(which):
            return
        self.t[which], self.returns[which], self.success[which] = 0, 0.0, 0.0
        self.spawn[which] = self.last_agent[which] = self.world.pos[which, 0]
        self.was_locked[which] = self.world.locked_by[which, self.boxes] != NO_TEAM
        part = physics.world_rows(self.world, which)
        lidar, sight = physics.sense(part)
        self.lidar[which], self.visible[which] = lidar, game.vision(part, sight)
        if self.task.name == "shelter":
            self.ray_hits[which] = rays_reaching_cylinder(self)[which]

    def observe(self):
        """The hide-and-seek observation dict [W, 1, ...] (see the module docstring)."""
        W = self.n_worlds
        obs = game.observe(self.world, self.lidar, self.visible, np.zeros(W), self.task.boxes)
        obs = {k: v[:, :1] for k, v in obs.items()}  # the agent's row; slot 1 is empty
        rows, real = landmark_rows(self)  # [W, L, 15], [W, L]
        obs["ramps"] = np.concatenate([obs["ramps"], rows[:, None]], 2)
        for prefix in ("visible_", "exists_"):
            obs[prefix + "ramps"] = np.concatenate([obs[prefix + "ramps"], real[:, None]], 2)
        return obs

    def render(self, w=0, size=320):
        return draw_task(self, w, size)


def landmark_rows(env):
    """[W, L, 15] object rows for the ramp stream, and [W, L] which are real: the blueprint's
    sites (cube-sized marks), the shelter's cylinder, or one empty slot when a task has no ramp."""
    t, W = env.task, env.n_worlds
    L = t.landmarks if t.landmarks else (0 if t.ramps else 1)
    rows, real = np.zeros((W, L, 15), np.float32), np.zeros((W, L), bool)
    if t.name == "blueprint":
        rows[..., :2], rows[..., 3], rows[..., 9:12] = env.sites, 1.0, 0.5  # x, y, cos, size
        real[:] = np.arange(L)[None] < env.n_sites[:, None]
    elif t.name == "shelter":
        rows[:, 0, :2], rows[:, 0, 3] = env.cylinder[:, :2], 1.0
        rows[:, 0, 9:11], rows[:, 0, 11] = 2 * env.cylinder[:, 2:3], 0.5  # diameter, height
        real[:] = True
    rows *= real[..., None]
    return rows, real


# Layouts, one world at a time (numpy; episodes are long, resets are rare).
#
#   counting:        y ^      lane 5 . . . . [] . . . .      Box k appears at x = 3 in lane k at
#                        |      ...          ||              step 8k and slides 2.2 m left or
#                        |    lane 0 . . . . [] . . . .      right; the two screens (0.3-2.6 m
#                        |    ========  gap  ======== y=1.8  and 3.4-5.7 m) hide it once it
#                        |                                   leaves the view through the gap.
#                        |              o (pinned, facing +y)
#                        +-------------------------------> x


def new_layout(env, w):
    """A fresh episode in world w: walls, bodies and the task's own state."""
    t, s, rng = env.task, env.world, env.rng
    if t.name == "lock-return":  # env.py's random rooms (6 of them), then the seeker removed
        game.new_layouts(s, np.array([w]), env.rules, rng.integers(0, 2**31 - 1, size=1))
        s.kind[w, 1], s.team[w, 1] = EMPTY, NO_TEAM
        return
    physics.clear_world(s, w)
    for m, (x0, y0, x1, y1) in enumerate([(0, 0, 6, 0), (6, 0, 6, 6), (6, 6, 0, 6), (0, 6, 0, 0)]):
        physics.place_wall(s, w, m, x0, y0, x1, y1, height=physics.OUTER_WALL_HEIGHT)
    for k in range(t.boxes):
        half = game.LONG_HALF if k < t.long_boxes else game.CUBE_HALF
        physics.place_object(s, w, FIRST_BOX + k, BOX, -9.0, -9.0, 0.0, half)
    for k in range(t.ramps):
        physics.place_object(s, w, FIRST_BOX + t.boxes + k, RAMP, -9.0, -9.0, 0.0, game.RAMP_HALF,
                             lockable=False)
    physics.place_agent(s, w, 0, -9.0, -9.0, 0.0, HIDERS)
    region, bodies = (0.0, ARENA, 0.0, ARENA), list(range(FIRST_BOX, env.n_bodies)) + [0]
    if t.name == "counting":
        physics.place_wall(s, w, 4, 0.3, 1.8, 2.6, 1.8)  # the two screens, a 0.8 m gap between
        physics.place_wall(s, w, 5, 3.4, 1.8, 5.7, 1.8)
        s.pos[w, 0], s.angle[w, 0] = (3.0, 0.6), math.pi / 2
        env.directions[w] = rng.choice([-1.0, 1.0], size=t.boxes)
        script_counting_boxes(env, np.zeros(env.n_worlds, np.int64), [w])
        return
    if t.name == "sequential-lock":
        rooms = three_rooms(env, w)
        for k, room in enumerate(rooms):  # one ramp per room, then the rest anywhere
            scatter(rng, s, w, [FIRST_BOX + t.boxes + k], room)
        bodies = list(range(FIRST_BOX, FIRST_BOX + t.boxes)) + [0]
    elif t.name == "blueprint":
        place_sites(env, w)
    elif t.name == "shelter":
        place_cylinder(env, w)
    elif t.name == "explore":
        region = (0.0, ARENA / 2, 0.0, ARENA / 2)  # a quarter of the arena, so exploring pays
    else:
        raise ValueError(f"task {t.name!r} has no layout")
    scatter(rng, s, w, bodies, region)


def scatter(rng, s, w, slots, region, clearance=0.05):
    """Put each body of `slots` at a random spot of region (x0, x1, y0, y1) where its bounding
    circle keeps `clearance` from every wall and from every body placed before it. Rejection
    sampling: 100 tries per body; if one does not fit, all of them start again (50 times)."""
    x0, x1, y0, y1 = region
    for _ in range(50):
        s.pos[w, slots] = -9.0  # not placed yet
        for slot in slots:
            r = math.hypot(*s.half[w, slot])
            for _ in range(100):
                x = rng.uniform(x0 + r + 0.1, x1 - r - 0.1)
                y = rng.uniform(y0 + r + 0.1, y1 - r - 0.1)
                gap = r + clearance
                if clear_of_walls(s, w, x, y, gap) and clear_of_bodies(s, w, x, y, gap):
                    s.pos[w, slot], s.angle[w, slot] = (x, y), rng.uniform(-math.pi, math.pi)
                    break
            else:
                break  # this body found no room: start again
        else:
            return
    raise RuntimeError(f"no free spots for body slots {slots} in region {region} in 50 attempts")


def clear_of_walls(s, w, x, y, r):
    for cx, cy, hx, hy, angle in s.walls[w][s.wall_height[w] > 0]:
        c, sn = math.cos(angle), math.sin(angle)
        lx, ly = c * (x - cx) + sn * (y - cy), -sn * (x - cx) + c * (y - cy)
        if math.hypot(max(abs(lx) - hx, 0.0), max(abs(ly) - hy, 0.0)) < r:
            return False
    return True


def clear_of_bodies(s, w, x, y, r):
    placed = (s.kind[w] != EMPTY) & (s.pos[w, :, 0] > -5)  # bodies waiting at (-9, -9) skipped
    centres = np.hypot(s.pos[w, placed, 0] - x, s.pos[w, placed, 1] - y)
    return bool((centres - np.hypot(*s.half[w, placed].T) >= r).all())


def three_rooms(env, w):
    """The paper's var_tri: a wall across the arena at 40-60% of its side, the larger half
    whole, the smaller split again at 40-60%; no doors (inner walls are 0.5 m: ramps cross them).
    Returns the three rooms as regions (x0, x1, y0, y1)."""
    s, a, b = env.world, ARENA * env.rng.uniform(0.4, 0.6), ARENA * env.rng.uniform(0.4, 0.6)
    physics.place_wall(s, w, 4, a, 0.0, a, ARENA)
    big_left = a >= ARENA / 2
    x0, x1 = (a, ARENA) if big_left else (0.0, a)  # the side that is split again
    physics.place_wall(s, w, 5, x0, b, x1, b)
    big = (0.0, a, 0.0, ARENA) if big_left else (a, ARENA, 0.0, ARENA)
    return [big, (x0, x1, 0.0, b), (x0, x1, b, ARENA)]


def place_sites(env, w):
    """1-4 cube-sized sites, 0.7 m apart, centred in the central 85% of the arena."""
    t, rng = env.task, env.rng
    env.n_sites[w] = rng.integers(t.sites[0], t.sites[1] + 1)
    low, high = ARENA * (1 - t.central) / 2 + 0.25, ARENA * (1 + t.central) / 2 - 0.25
    k = 0
    while k < env.n_sites[w]:
        xy = rng.uniform(low, high, size=2)
        if all(np.hypot(*(xy - env.sites[w, j])) > 0.7 for j in range(k)):
            env.sites[w, k], k = xy, k + 1
    env.sites[w, k:] = 0.0


CYLINDER_SIDES = 12  # the cylinder's faces (wall slots 4 .. 15)


def cylinder_corners(x, y, r):
    """[12, 2] counter-clockwise corners of the regular 12-gon whose inscribed circle is the
    cylinder (centre x, y, radius r); its corners stand 3.5% beyond the circle."""
    k = np.arange(CYLINDER_SIDES) + 0.5
    reach = r / math.cos(math.pi / CYLINDER_SIDES)
    angles = 2 * math.pi * k / CYLINDER_SIDES
    return np.stack([x + reach * np.cos(angles), y + reach * np.sin(angles)], 1)


def place_cylinder(env, w):
    """The static cylinder, built from walls (physics has no static circle; a wall is static,
    collides, and blocks rays and lidar): a closed ring of 12 wall slabs, 0.5 m high, whose
    outer faces are the 12-gon around the circle. Its centre lies in the central 70%."""
    t, rng = env.task, env.rng
    r = rng.uniform(*t.cylinder_diameter) / 2
    low, high = ARENA * (1 - t.central) / 2 + r, ARENA * (1 + t.central) / 2 - r
    build_cylinder(env, w, *rng.uniform(low, high, size=2), r)


def build_cylinder(env, w, x, y, r):
    env.cylinder[w] = (x, y, r)
    inner = r - physics.WALL_THICKNESS / 2  # slab centre lines: half a thickness inside
    line = cylinder_corners(x, y, inner)
    for k in range(CYLINDER_SIDES):
        (x0, y0), (x1, y1) = line[k], line[(k + 1) % CYLINDER_SIDES]
        physics.place_wall(env.world, w, 4 + k, x0, y0, x1, y1, height=0.5)


def script_counting_boxes(env, t, worlds=None):
    """Counting's boxes at step t [W]: box k is absent before step 8k, then slides from x = 3 in
    lane y = 2.6 + 0.55 k by 2.2 m to its side over 8 steps, and stays there, hidden."""
    s, K = env.world, env.task.boxes
    worlds = np.arange(env.n_worlds) if worlds is None else np.asarray(worlds)
    for k in range(K):
        slot = FIRST_BOX + k
        start = k * COUNT_PERIOD
        shown = t[worlds] >= start  # [n]
        travel = np.clip((t[worlds] - start) / COUNT_PERIOD, 0.0, 1.0)  # [n]
        s.kind[worlds, slot] = np.where(shown, BOX, EMPTY)
        s.pos[worlds, slot, 0] = 3.0 + env.directions[worlds, k] * COUNT_TRAVEL * travel
        s.pos[worlds, slot, 1] = 2.6 + 0.55 * k
        s.vel[worlds, slot], s.angle[worlds, slot] = 0.0, 0.0
        s.lockable[worlds, slot] = False


def counting_labels(env):
    """[W] how many of the boxes go (or went) left: the class the head must predict (0..6)."""
    return (env.directions < 0).sum(1)


# ---------------------------------------------------------------------------------------------
# 3. Rewards
# ---------------------------------------------------------------------------------------------


def locking_rewards(env, target, has_target, goal):
    """The reward terms lock-return and sequential-lock share (facts section 8): +5 per box
    newly locked, -5 per box unlocked, +0.5 per metre the agent came closer to its target this
    step, +1 in every step of the goal state. target [W, 2], has_target [W], goal [W] bool."""
    t, s = env.task, env.world
    locked = s.locked_by[:, env.boxes] != NO_TEAM  # [W, K]
    changes = (locked & ~env.was_locked).sum(1) - (~locked & env.was_locked).sum(1)  # [W]
    agent = s.pos[:, 0]  # [W, 2]
    distance = lambda xy: np.linalg.norm(xy - target, axis=1)  # [W]
    closer = distance(env.last_agent) - distance(agent)
    env.was_locked, env.last_agent = locked, agent.copy()
    env.success = np.maximum(env.success, goal)
    return (t.lock_reward * changes + t.approach_reward * np.where(has_target, closer, 0.0)
            + t.home_reward * goal)


def lock_and_return_rewards(env):
    """The target is the box until it is locked, then the spawn point."""
    s = env.world
    locked = s.locked_by[:, FIRST_BOX] != NO_TEAM  # [W]
    target = np.where(locked[:, None], env.spawn, s.pos[:, FIRST_BOX])  # [W, 2]
    home = np.linalg.norm(s.pos[:, 0] - env.spawn, axis=1) <= env.task.home_radius
    return locking_rewards(env, target, np.ones(env.n_worlds, bool), locked & home)


def sequential_lock_rewards(env):
    """The target is the next box in the hidden order (box index order); none once all are."""
    s = env.world
    locked = s.locked_by[:, env.boxes] != NO_TEAM  # [W, K]
    done = locked.all(1)
    next_box = np.argmin(locked, 1)  # [W] first unlocked box (0 when all are locked: unused)
    target = s.pos[np.arange(env.n_worlds), FIRST_BOX + next_box]  # [W, 2]
    return locking_rewards(env, target, ~done, done)


def corners(centre, angle, half):
    """[..., 4, 2] corners of rectangles: centre [..., 2], angle [...], half extents [..., 2]."""
    signs = np.array([(1, 1), (-1, 1), (-1, -1), (1, -1)], float)  # [4, 2]
    local = signs * half[..., None, :]  # [..., 4, 2]
    c, s = np.cos(angle)[..., None], np.sin(angle)[..., None]
    x = c * local[..., 0] - s * local[..., 1]
    y = s * local[..., 0] + c * local[..., 1]
    return centre[..., None, :] + np.stack([x, y], -1)


def site_distances(env):
    """[W, S, K] distance from site s to box k: the mean, over the site's corners, of the distance
    to the nearest box corner (a cube turned by 90 degrees fills a site just as well)."""
    s = env.world
    box = corners(s.pos[:, env.boxes], s.angle[:, env.boxes], s.half[:, env.boxes])  # [W, K, 4, 2]
    site = corners(env.sites, np.zeros(env.sites.shape[:2]), np.full(env.sites.shape, 0.25))
    gaps = np.linalg.norm(site[:, :, None, :, None] - box[:, None, :, None], axis=-1)  # [W,S,K,4,4]
    return gaps.min(-1).mean(-1), gaps.min(-1).max(-1)  # mean and worst corner, [W, S, K] each


def smooth_min(d, alpha, axis=-1):
    """sum d e^(alpha d) / sum e^(alpha d): a soft minimum for alpha < 0 (the paper's -1.5)."""
    z = alpha * d
    weights = np.exp(z - z.max(axis, keepdims=True))
    return (d * weights).sum(axis) / weights.sum(axis)


def blueprint_rewards(env):
    """Dense: -0.05 x the mean over real sites of the smooth-min over boxes of the site distance.
    Complete when every site has a box whose centre and every corner lie within 0.1 m: then
    +3 per site, and the episode ends."""
    t = env.task
    mean_gap, worst_gap = site_distances(env)  # [W, S, K]
    real = np.arange(env.sites.shape[1])[None] < env.n_sites[:, None]  # [W, S]
    soft = smooth_min(mean_gap, t.smooth_min_alpha)  # [W, S]
    dense = -t.distance_scale * (soft * real).sum(1) / env.n_sites
    centre_gap = np.linalg.norm(env.sites[:, :, None] - env.world.pos[:, None, env.boxes], axis=-1)
    filled = ((centre_gap <= t.site_tolerance) & (worst_gap <= t.site_tolerance)).any(-1)  # [W, S]
    complete = (filled | ~real).all(1)  # [W]
    env.success = np.maximum(env.success, complete)
    return dense + t.site_reward * env.n_sites * complete, complete


RAY_HEIGHT = 0.25  # m above the floor: half the height of a box and of the cylinder


def ray_origins(rays_per_side):
    """[4 R, 2] points 0.1 m inside the arena's four edges, evenly spaced along each."""
    u = ARENA * (np.arange(rays_per_side) + 0.5) / rays_per_side
    inset, far = np.full_like(u, 0.1), np.full_like(u, ARENA - 0.1)
    return np.concatenate([np.stack(p, 1) for p in ((u, inset), (far, u), (u, far), (inset, u))])


@njit(parallel=True, cache=True, nogil=True)
def cast_at_cylinder(s, origins, centres, first_row, P):
    """hits [W, R]: the ray from origins[r] toward world w's cylinder centre first meets the
    cylinder (table rows first_row .. first_row + 11), not a box, an agent or another wall."""
    W, R = s.kind.shape[0], origins.shape[0]
    hits = np.zeros((W, R), np.bool_)
    for w in prange(W):
        T = physics.load_world(s, w, P)
        for r in range(R):
            dx, dy = centres[w, 0] - origins[r, 0], centres[w, 1] - origins[r, 1]
            dist = math.hypot(dx, dy)
            _, row = physics.cast_ray(T, origins[r, 0], origins[r, 1], RAY_HEIGHT, dx / dist,
                                      dy / dist, 0.0, dist, -1, -1)
            hits[w, r] = first_row <= row < first_row + CYLINDER_SIDES
    return hits


def rays_reaching_cylinder(env):
    """[W, 100] which of the shelter's rays reach the cylinder (wall slots 4-15 are its faces)."""
    return cast_at_cylinder(env.world, ray_origins(env.task.rays_per_side), env.cylinder[:, :2],
                            env.n_bodies + 4, physics.checked_physics(physics.Physics()))


def shelter_rewards(env):
    """-0.001 for every ray that reaches the cylinder this step."""
    env.ray_hits = rays_reaching_cylinder(env)
    return -env.task.ray_penalty * env.ray_hits.sum(1)


# ---------------------------------------------------------------------------------------------
# 4. Intrinsic motivation: an object-invariant state, counts, and random-network distillation
# ---------------------------------------------------------------------------------------------


def box_histogram(env, cell):
    """[W, G * G] how many boxes lie in each cell of a G x G grid over the arena: the state the
    bonuses see. It is object-invariant (swap two boxes: the same histogram), as the paper's
    state was "computed similarly to the policy's entity pooling": a sum pooled over boxes.
    The paper's variant with only 2-D box positions."""
    G = math.ceil(ARENA / cell)
    xy = env.world.pos[:, env.boxes]  # [W, K, 2]
    ij = np.clip((xy / cell).astype(np.int64), 0, G - 1)  # [W, K, 2]
    flat = ij[..., 0] * G + ij[..., 1]  # [W, K]
    histogram = np.zeros((env.n_worlds, G * G), np.int64)
    np.add.at(histogram, (np.arange(env.n_worlds)[:, None], flat), 1)
    return histogram


class CountBonus:
    """Count-based exploration: bonus beta / sqrt(N(s)), N(s) the visits of state s so far
    (this one included), s the box histogram. A dict from the histogram's bytes to its count."""

    def __init__(self, beta, cell):
        self.beta, self.cell, self.counts = beta, cell, {}

    def __call__(self, histograms):
        bonus = np.empty(len(histograms))
        for w, h in enumerate(histograms):
            key = h.tobytes()
            self.counts[key] = self.counts.get(key, 0) + 1
            bonus[w] = self.beta / math.sqrt(self.counts[key])
        return bonus


class RNDBonus(nn.Module):
    """Random-network distillation (Burda et al. 2018): a fixed random target network and a
    predictor trained to match it on the states seen; the bonus is the predictor's error, which
    stays high where the agent has rarely been. Normalised by its running standard deviation."""

    def __init__(self, beta, cell, features, lr, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        G = math.ceil(ARENA / cell)
        self.beta, self.cell = beta, cell
        make = lambda: nn.Sequential(nn.Linear(G * G, 64), nn.ReLU(), nn.Linear(64, features))
        self.target, self.predictor = make(), make()
        self.target.requires_grad_(False)
        self.optimizer = torch.optim.Adam(self.predictor.parameters(), lr=lr)
        self.error_scale = RunningMeanStd((), var_floor=1e-12)  # errors are small numbers

    def forward(self, histograms):
        x = torch.as_tensor(histograms, dtype=torch.float32)  # [W, G * G]
        with torch.enable_grad():  # the env may step inside collect_rollout's no_grad
            error = (self.predictor(x) - self.target(x)).pow(2).mean(1)  # [W]
            self.optimizer.zero_grad()
            error.mean().backward()  # the predictor learns the states it has just seen
            self.optimizer.step()
        error = error.detach().double()
        self.error_scale.update(error)
        return (self.beta * error / self.error_scale.std()).numpy()


# ---------------------------------------------------------------------------------------------
# 5. Fine-tuning, baselines, and the learners
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


N_CLASSES = 7  # counting: 0..6 boxes went left


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
# 6. Run folders: every run checkpointed, and resumed where it stopped
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
    rows, start, last_save = [], time.time(), time.time()
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
            show_progress(label, row, total, start)
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
    checkpoint can only be a finished run of an older transfer.py, which is kept."""
    path = run.checkpoint_path
    if not os.path.exists(path):
        if os.path.exists(run.metrics_path):
            raise FileExistsError(f"{run.path!r} holds metrics but no checkpoint.pt (a run of an "
                                  "older transfer.py); delete it or use another seed")
        run.write_config(trainer.config)
        save_progress(run, trainer, kind)
        return
    state = torch.load(path, map_location="cpu", weights_only=False)
    if state.get("kind") != kind or "progress" not in state:
        raise ValueError(f"{path!r} is not a {kind} checkpoint that can be continued (kind "
                         f"{state.get('kind')!r}); delete {run.path!r} to start it again")
    check_settings(state["config"], trainer.config, path)
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


def show_progress(label, row, total, start):
    rate = row["steps"] / max(time.time() - start, 1e-9)
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
# 7. Figure 6, rendering, and the command line
# ---------------------------------------------------------------------------------------------

SOURCE_COLOURS = {"hide-and-seek": "C0", "scratch": "C1", "count": "C2", "rnd": "C3"}
MEASURE = {"counting": "accuracy (last step)", "lock-return": "success rate",
           "sequential-lock": "success rate", "blueprint": "success rate",
           "shelter": "fraction of rays blocked"}


def collect_curves(root):
    """{task: {source: [(steps, success), ...] one per seed}} from the run folders."""
    curves = {}
    for path in sorted(glob.glob(os.path.join(root, "*", "*-seed*", "metrics.csv"))):
        task, run = path.split(os.sep)[-3:-1]
        if task not in FIVE_TASKS:
            continue
        rows = selfplay.read_metrics(path)
        steps = np.array([float(r["steps"]) for r in rows])
        success = selfplay.smooth(np.array([float(r["success"]) for r in rows]))
        source = run.rsplit("-seed", 1)[0]
        curves.setdefault(task, {}).setdefault(source, []).append((steps, success))
    return curves


def mean_and_spread(seeds, points=100):
    """Seeds' curves on one grid of steps, from the first step at which every seed has a value
    (its first episode ended) to the end of the shortest run: mean and standard deviation."""
    start = max(s[np.isfinite(y)][0] for s, y in seeds)
    grid = np.linspace(start, min(s[-1] for s, _ in seeds), points)
    ys = np.stack([np.interp(grid, s[np.isfinite(y)], y[np.isfinite(y)]) for s, y in seeds])
    return grid, ys.mean(0), ys.std(0)


def final_success(seeds):
    """'mean ± sd' over the seeds of each one's success over its last tenth of updates."""
    finals = [np.nanmean(y[-max(1, len(y) // 10):]) for _, y in seeds]
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
            seeds = [c for c in curves.get(task, {}).get(source, []) if np.isfinite(c[1]).any()]
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


SITE_COLOUR = np.array((170, 200, 235), np.uint8)
CYLINDER_COLOUR = np.array((120, 100, 90), np.uint8)


def draw_task(env, w=0, size=320):
    """World w as env.py draws the game (cone, then physics.draw_world), with the task's marks:
    blueprint sites (pale blue), the spawn point (a ring), the cylinder, and the shelter's rays
    that reach it (red); a header with the episode's progress."""
    s = env.world
    canvas = physics.Canvas(size, (-0.25, ARENA + 0.25, -0.25, ARENA + 0.25))
    game.blend_cone(canvas, *s.pos[w, 0], s.angle[w, 0], physics.TEAM_COLOURS[HIDERS])
    for x, y in env.sites[w, :env.n_sites[w]]:
        canvas.box(x, y, 0.0, 0.27, 0.27, SITE_COLOUR)
    if env.task.name == "lock-return":
        canvas.disc(*env.spawn[w], 0.12, (60, 60, 60))
        canvas.disc(*env.spawn[w], 0.08, physics.FLOOR_COLOUR)
    physics.draw_world(canvas, s, w)
    if env.task.name == "shelter":
        x, y, r = env.cylinder[w]
        for ox, oy in ray_origins(env.task.rays_per_side)[env.ray_hits[w]]:
            canvas.line(ox, oy, x, y, 0.02, (220, 60, 50))
        canvas.polygon(cylinder_corners(x, y, r), CYLINDER_COLOUR)
    header = np.full((game.HEADER, size, 3), 40, np.uint8)
    header[:4, :round(size * env.t[w] / env.task.horizon)] = game.GAME_COLOUR
    game.write_text(header, f"STEP {int(env.t[w])}/{env.task.horizon}", 6, 7, (255, 255, 255))
    return np.concatenate([header, canvas.image])


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
