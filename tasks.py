"""tasks.py: the worlds of the intelligence tests, five small tasks built from the game's parts.

What this file teaches
    How the paper tested what its agents had learnt (section 6, facts section 8): single-agent
    tasks built from the same physics, objects and observation layout as hide-and-seek, so that a
    hide-and-seek network fits them unchanged. This file holds the worlds and their rules;
    transfer.py trains networks on them.

    counting          watch 6 boxes go left or right behind screens, say how many went left
    lock-return       find and lock the box in one of 6 rooms, then go home (120 steps)
    sequential-lock   lock 4 boxes in a hidden order, in 3 rooms without doors (120 steps)
    blueprint         push boxes onto 1-4 marked sites (150 steps)
    shelter           wall in a cylinder against 100 rays from the arena's edges (240 steps)
    explore           no task: the world the intrinsic-motivation baselines pretrain in, paid
                      only by a bonus for new states (counts, or random-network distillation)

Observation layout (one for every task): the keys and feature sizes of env.py's `quadrant`
preset, so `attention.ActorCritic` built for hide-and-seek reads them unchanged. Extra inputs are
zero-filled as in the paper: team flag 1 (a hider), preparation progress 0, one empty other-agent
slot (masked out), and the ramp stream keeps at least one slot (empty and masked when a task has
no ramps). Entity counts differ per task; the network pools over entity lists, so counts do not
change its shapes. Task landmarks (the blueprint's sites, the shelter's cylinder) enter through
the ramp stream, since the network has no stream for them (the paper added one; see the README).

Reading order
    1. `Task` and `TASKS`: the rules, with the paper's numbers.
    2. `TaskEnv`: the batched task world; `step()` is its table of contents; layouts per task.
    3. The rewards: locking, blueprint distances, the shelter's rays; counting's labels.
    4. Intrinsic motivation: `box_histogram` (object-invariant state), `CountBonus`, `RNDBonus`.
    5. Drawing a task world, and the walk-through below.

Run it
    python tasks.py          # every task played by random actions: bodies, return, success, speed

Axes: W worlds, A agent slots (2 in physics: the agent and an empty slot; 1 in observations),
B body slots (agents, boxes, ramps), K boxes, S sites, R rays, T time.
"""

import argparse
import math
import time
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn as nn
from numba import njit, prange

import env as game
import physics
from physics import BOX, EMPTY, HIDERS, NO_TEAM, RAMP
from ppo import RunningMeanStd

# ---------------------------------------------------------------------------------------------
# 1. The tasks' rules
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


N_CLASSES = 7  # counting: 0..6 boxes went left


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
    (this one included), s the box histogram. A dict from the state to its count, keyed by
    the histogram's occupied cells in order, a byte each (one per box: 4 bytes in "explore",
    where the histogram's own bytes were 1,152; 2M world-steps visit about 600,000 states,
    and the table is saved with every checkpoint)."""

    KEY_FORMAT = "cells"  # pickled with the counts: tables keyed otherwise are refused

    def __init__(self, beta, cell):
        self.beta, self.cell, self.counts = beta, cell, {}
        self.key_format = self.KEY_FORMAT
        if math.ceil(ARENA / cell) ** 2 > 256:
            raise ValueError(f"count cell {cell!r} m makes more than 256 cells, which a byte "
                             f"cannot name; expected a cell of at least {ARENA / 16} m")

    def __call__(self, histograms):
        bonus = np.empty(len(histograms))
        for w, h in enumerate(histograms):
            key = np.repeat(np.arange(len(h), dtype=np.uint8), h).tobytes()  # cells, in order
            self.counts[key] = self.counts.get(key, 0) + 1
            bonus[w] = self.beta / math.sqrt(self.counts[key])
        return bonus

    def __setstate__(self, state):
        if state.get("key_format") != self.KEY_FORMAT:
            raise ValueError("this count table was saved by an older tasks.py, keyed by whole "
                             "histograms; delete its pretraining folder to pretrain again")
        self.__dict__.update(state)


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
# 5. Drawing, and a walk-through
# ---------------------------------------------------------------------------------------------

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


def play_random(task, n_worlds=16, seed=0):
    """One episode of `task` in n_worlds worlds, every action drawn uniformly (the bonus of
    "explore" counts). Returns (mean return, mean success, world-steps per second)."""
    bonus = CountBonus(0.1, 0.5) if task == "explore" else None
    env = TaskEnv(task, n_worlds, seed, bonus)
    env.reset()
    rng = np.random.default_rng(seed)
    returns, success, start = [], [], time.time()
    for _ in range(env.task.horizon):
        actions = np.concatenate([rng.integers(0, 11, (n_worlds, 1, 3)),
                                  rng.integers(0, 2, (n_worlds, 1, 2))], axis=2)  # [W, 1, 5]
        _, _, _, info = env.step(actions)
        returns += list(info["episodes"]["return"])
        success += list(info["episodes"]["success"])
    rate = env.task.horizon * n_worlds / (time.time() - start)
    return float(np.mean(returns)), float(np.mean(success)), rate


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--worlds", type=int, default=16, help="worlds stepped together")
    args = parser.parse_args(argv)
    if args.worlds < 1:
        raise SystemExit(f"--worlds {args.worlds}: expected at least 1")
    print("random actions, one episode per world (the first row's speed may include numba "
          "compiling)")
    print(f"{'task':16} {'steps':>5} {'boxes':>5} {'ramps':>5} {'walls':>5} {'return':>8} "
          f"{'success':>7} {'world-steps/s':>13}")
    for name, task in TASKS.items():
        mean_return, success, rate = play_random(name, args.worlds)
        print(f"{name:16} {task.horizon:5} {task.boxes:5} {task.ramps:5} {task.walls:5} "
              f"{mean_return:+8.2f} {success:7.2f} {rate:13,.0f}")


if __name__ == "__main__":
    main()
