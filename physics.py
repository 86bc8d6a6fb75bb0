"""physics.py: a 2.5-D rigid-body world as plain arrays, stepped by numba.

What this file teaches
    How hide-and-seek's world works without MuJoCo: bodies are rows of arrays (position, velocity,
    angle, size, height), contacts are found by geometry (circle-circle, circle-box, box-box by
    separating axes) and resolved by impulses, "grab" is a weld constraint and "lock" makes an
    object static. Only agents leave the floor ("2.5-D"): a ramp lifts them, boxes and walls can be
    stood on, and without support they fall. One ray-casting routine serves both the 30-ray lidar
    and the line of sight that decides who sees whom. The paper's world is described in
    ../shared/reference/paper_facts.md sections 1-3; this is a re-derivation, not a MuJoCo port.

Reading order
    1. `Physics`, the constants (units, masses, frictions, the 0.075 s control step).
    2. `World`, the state: a struct of arrays with a leading world axis, and `make_world`.
    3. `step`, the table of contents: grab and lock, then for each substep integrate forces, find
       contacts, solve impulses, integrate positions, update heights.
    4. The body table: inside a step each world is unpacked into one small table, a row per body
       and per wall (box2d-lite's Body structs), which every routine below reads.
    5. Integration, contacts (circle-circle, circle-box, box-box), the impulse solver and grab
       welds, the height rules, grab and lock.
    6. Ray casting: `cast_ray`, then `sense` (lidar and line of sight for every agent at once).
    7. The renderer and the scripted demo at the bottom.

Run it
    python physics.py            # scripted scene -> physics_demo.gif
    python physics.py --bench    # world-steps/s for a batch of quadrant-like worlds

Axes: W worlds, B body slots (agents first, then boxes, then ramps), A agent slots, M wall slots.
Kernels (`@njit`) take only arrays and numbers and raise nothing; the Python functions around them
check their inputs and raise clear errors (the boundary pyro2 draws).

Frames and conventions, stated once:

        y ^                 angle: radians, counter-clockwise from +x. For an agent it is the
          |   heading       heading, the centre of its vision cone. For a ramp, local +x is uphill:
          |  /              the ramp's surface rises from 0 at its local -x edge to 0.5 m at +x.
          | /  angle        A contact normal points from body `a` to body `b` of the pair; the
          +-------> x       separation along it is negative when the two overlap.
"""

import argparse
import math
import time
from typing import NamedTuple

import numba
import numpy as np
from numba import njit, prange

# ---------------------------------------------------------------------------------------------
# 1. Constants
# ---------------------------------------------------------------------------------------------

EMPTY, AGENT, BOX, RAMP = -1, 0, 1, 2  # body kinds; EMPTY marks a padding slot that never acts
HIDERS, SEEKERS, NO_TEAM = 0, 1, -1  # team ids (locked_by uses them too; -1 = not locked)


class Physics(NamedTuple):
    """Physical constants, SI units. A NamedTuple so numba kernels can take it as one argument."""

    control_dt: float = 0.075  # s per control step (paper: 15 MuJoCo steps of 0.005 s)
    substeps: int = 5  # solver substeps per control step (paper: 15, MuJoCo's soft contacts)
    iterations: int = 6  # impulse iterations per substep
    gravity: float = 50.0  # m/s^2, agents only (paper: 5x Earth, so falls are quick)
    agent_radius: float = 0.15  # m, agents are balls
    mass: float = 1.0  # kg, agents, boxes and ramps alike (paper)
    drive_force: float = 90.0  # N at the outermost force bin (gear 100 x 0.9)
    drive_torque: float = 90.0  # N m at the outermost torque bin
    agent_damping: float = 10.0  # N s/m linear, N m s/rad angular (paper's joint damping)
    box_damping: float = 0.01  # same, boxes (paper)
    ramp_damping: float = 0.1  # same, ramps (paper)
    floor_friction: float = 0.2  # Coulomb coefficient against the floor (paper, max of the pair)
    agent_friction: float = 0.01  # between bodies the larger coefficient of the pair applies
    box_friction: float = 0.2
    ramp_friction: float = 0.01
    wall_friction: float = 0.01  # paper: 0.01 in the quadrant game
    object_height: float = 0.5  # m, top of boxes, ramps (high edge) and inner walls
    step_height: float = 0.2  # m, an agent steps onto a surface at most this far above its feet
    grab_range: float = 0.25  # m from the agent's centre to the object's surface (paper)
    margin: float = 0.05  # m, speculative margin: contacts start this far before touching,
    # plus the distance the pair can close in one substep, so nothing passes through a wall
    baumgarte: float = 0.2  # fraction of an overlap removed per substep (position correction)
    slop: float = 0.005  # m of overlap tolerated without correction (stops jitter)


def checked_physics(physics):
    """The constants with every field converted to its declared type (an int where a float is
    due would make numba compile the kernels again), or a clear error."""
    if not isinstance(physics, Physics):
        raise TypeError(f"physics must be a physics.Physics, got {type(physics).__name__}")
    values = {}
    for name, kind in Physics.__annotations__.items():
        value = getattr(physics, name)
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise ValueError(f"Physics.{name} must be a number, got {value!r}")
        values[name] = kind(value)
    if values["substeps"] < 1 or values["iterations"] < 1 or values["control_dt"] <= 0:
        raise ValueError("Physics needs substeps >= 1, iterations >= 1 and control_dt > 0, got "
                         f"{values['substeps']}, {values['iterations']}, {values['control_dt']}")
    return Physics(**values)


N_BINS = 11  # force and torque bins per axis; bin 5 is zero (paper: linspace(-0.9, 0.9, 11))
N_LIDAR = 30  # lidar rays, world frame, every 12 degrees (paper)
LIDAR_RANGE = 6.0  # m; rays that hit nothing read this
WALL_THICKNESS = 0.1  # m (paper: inner and outer walls)
OUTER_WALL_HEIGHT = 4.0  # m, too high to climb from any ramp or box


# ---------------------------------------------------------------------------------------------
# 2. The state: a struct of arrays
# ---------------------------------------------------------------------------------------------


class World(NamedTuple):
    """The state of W worlds. Every field has the world axis first; numba takes it whole.

    Body slots [0, A) are agents; the remaining slots hold boxes and ramps. A slot whose `kind` is
    EMPTY is padding: it is skipped by every loop, so worlds in one batch may hold different
    numbers of agents, boxes, ramps and walls. Walls are static oriented boxes; a wall slot with
    height 0 is padding.
    """

    kind: np.ndarray  # int8 [W, B]: AGENT, BOX, RAMP or EMPTY
    team: np.ndarray  # int8 [W, B]: HIDERS or SEEKERS for agents, NO_TEAM for objects
    half: np.ndarray  # f64 [W, B, 2]: half extents along the body's own x and y (agents: r, r)
    pos: np.ndarray  # f64 [W, B, 2]: centre, m
    vel: np.ndarray  # f64 [W, B, 2]: m/s
    angle: np.ndarray  # f64 [W, B]: rad, counter-clockwise from +x
    spin: np.ndarray  # f64 [W, B]: rad/s
    z: np.ndarray  # f64 [W, B]: height of the body's bottom, m (only agents leave 0)
    vz: np.ndarray  # f64 [W, B]: vertical velocity, m/s
    locked_by: np.ndarray  # int8 [W, B]: team that locked the object, or NO_TEAM
    lockable: np.ndarray  # bool [W, B]: may this object be locked (ramps are not, in the quadrant)
    holding: np.ndarray  # int32 [W, A]: body slot the agent holds, or -1
    hold_offset: np.ndarray  # f64 [W, A, 2]: held object's centre in the holder's frame
    hold_angle: np.ndarray  # f64 [W, A]: held object's angle minus the holder's
    walls: np.ndarray  # f64 [W, M, 5]: centre x, y, half length, half thickness, angle
    wall_height: np.ndarray  # f64 [W, M]: m; 0 marks an empty wall slot


def world_rows(world, rows):
    """Worlds `rows` of a World (int [n] copies them; a slice gives views), every field alike."""
    return World(*(field[rows] for field in world))


def make_world(n_worlds, n_bodies, n_agents, n_walls):
    """Allocate W empty worlds with B body slots (the first A for agents) and M wall slots."""
    for name, value in [("n_worlds", n_worlds), ("n_bodies", n_bodies), ("n_walls", n_walls)]:
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if not 0 <= n_agents <= n_bodies:
        raise ValueError(f"n_agents must be in 0..n_bodies={n_bodies}, got {n_agents!r}")
    W, B, A, M = n_worlds, n_bodies, n_agents, n_walls
    return World(
        kind=np.full((W, B), EMPTY, np.int8),
        team=np.full((W, B), NO_TEAM, np.int8),
        half=np.zeros((W, B, 2)),
        pos=np.zeros((W, B, 2)),
        vel=np.zeros((W, B, 2)),
        angle=np.zeros((W, B)),
        spin=np.zeros((W, B)),
        z=np.zeros((W, B)),
        vz=np.zeros((W, B)),
        locked_by=np.full((W, B), NO_TEAM, np.int8),
        lockable=np.zeros((W, B), np.bool_),
        holding=np.full((W, A), -1, np.int32),
        hold_offset=np.zeros((W, A, 2)),
        hold_angle=np.zeros((W, A)),
        walls=np.zeros((W, M, 5)),
        wall_height=np.zeros((W, M)),
    )


def clear_world(world, w):
    """Empty world w (every slot back to padding), ready to be filled by the place_* functions."""
    world.kind[w] = EMPTY
    world.team[w] = NO_TEAM
    for field in ("half", "pos", "vel", "angle", "spin", "z", "vz", "hold_offset", "hold_angle",
                  "walls", "wall_height"):
        getattr(world, field)[w] = 0.0
    world.locked_by[w] = NO_TEAM
    world.lockable[w] = False
    world.holding[w] = -1


def _place(world, w, slot, kind, x, y, angle, half):
    world.kind[w, slot] = kind
    world.pos[w, slot] = (x, y)
    world.angle[w, slot] = angle
    world.half[w, slot] = half
    world.vel[w, slot] = 0.0
    world.spin[w, slot] = 0.0
    world.z[w, slot] = 0.0
    world.vz[w, slot] = 0.0
    world.locked_by[w, slot] = NO_TEAM


def place_agent(world, w, slot, x, y, angle, team, physics=Physics()):
    """Put an agent of `team` (HIDERS or SEEKERS) into agent slot `slot` of world w."""
    if not 0 <= slot < world.holding.shape[1]:
        raise ValueError(f"agent slot must be in 0..{world.holding.shape[1] - 1}, got {slot}")
    if team not in (HIDERS, SEEKERS):
        raise ValueError(f"team must be HIDERS (0) or SEEKERS (1), got {team!r}")
    r = physics.agent_radius
    _place(world, w, slot, AGENT, x, y, angle, (r, r))
    world.team[w, slot] = team
    world.lockable[w, slot] = False
    world.holding[w, slot] = -1


def place_object(world, w, slot, kind, x, y, angle, half, lockable=True):
    """Put a box or ramp with half extents `half` (m) into body slot `slot` (>= A) of world w.

    Sizes from the paper: cube half (0.25, 0.25), long box (0.825, 0.075), ramp (0.25, 0.25).
    """
    A, B = world.holding.shape[1], world.kind.shape[1]
    if not A <= slot < B:
        raise ValueError(f"object slot must be in {A}..{B - 1} (after the agents), got {slot}")
    if kind not in (BOX, RAMP):
        raise ValueError(f"kind must be BOX ({BOX}) or RAMP ({RAMP}), got {kind!r}")
    _place(world, w, slot, kind, x, y, angle, half)
    world.team[w, slot] = NO_TEAM
    world.lockable[w, slot] = lockable


def place_wall(world, w, slot, x0, y0, x1, y1, height=0.5, thickness=WALL_THICKNESS):
    """Put a wall from (x0, y0) to (x1, y1) into wall slot `slot`. Its ends are extended by half
    the thickness, so two walls that meet at a point close the corner without a gap."""
    length = math.hypot(x1 - x0, y1 - y0)
    if length <= 0 or height <= 0:
        raise ValueError(f"a wall needs length > 0 and height > 0, got {length}, {height}")
    world.walls[w, slot] = ((x0 + x1) / 2, (y0 + y1) / 2, length / 2 + thickness / 2,
                            thickness / 2, math.atan2(y1 - y0, x1 - x0))
    world.wall_height[w, slot] = height


# ---------------------------------------------------------------------------------------------
# 3. step(): the table of contents
# ---------------------------------------------------------------------------------------------


def step(world, actions, can_see, physics=Physics()):
    """Advance every world by one control step (0.075 s), in place.

    | Symbol    | Shape        | Description                                                    |
    |-----------|--------------|----------------------------------------------------------------|
    | world     | World        | the state, changed in place                                    |
    | actions   | int [W,A,5]  | x-force bin, y-force bin, torque bin (0..10, 5 = zero), grab, lock |
    | can_see   | bool [W,A,B] | agent a saw body b last step (gates grab and lock; env.py builds it) |
    """
    if not isinstance(world, World):
        raise TypeError(f"world must be a physics.World (see make_world), got {type(world).__name__}")
    W, B = world.kind.shape
    A = world.holding.shape[1]
    actions = np.asarray(actions)
    if actions.shape != (W, A, 5) or not np.issubdtype(actions.dtype, np.integer):
        raise ValueError(f"actions must be an int array of shape {(W, A, 5)}, "
                         f"got {actions.dtype} {actions.shape}")
    if actions.size and (actions[..., :3].min() < 0 or actions[..., :3].max() >= N_BINS
                         or actions[..., 3:].min() < 0 or actions[..., 3:].max() > 1):
        raise ValueError("actions out of range: bins must be in 0..10 and grab/lock in 0..1")
    can_see = np.asarray(can_see)
    if can_see.shape != (W, A, B) or can_see.dtype != np.bool_:
        raise ValueError(f"can_see must be a bool array of shape {(W, A, B)}, "
                         f"got {can_see.dtype} {can_see.shape}")
    _step_all(world, actions.astype(np.int64, copy=False), can_see, checked_physics(physics))


@njit(parallel=True, cache=True, nogil=True)
def _step_all(s, actions, can_see, P):
    for w in prange(s.kind.shape[0]):  # each world is independent: one per thread at a time
        step_one_world(s, w, actions[w], can_see[w], P)


@njit(cache=True, nogil=True)
def step_one_world(s, w, actions, can_see, P):
    """One control step of world w: grab and lock, then the phases of box2d-lite's World::Step in
    each substep, then height. Contacts are found again in every substep."""
    A, B, M = s.holding.shape[1], s.kind.shape[1], s.walls.shape[1]
    dt = P.control_dt / P.substeps
    reach = reach_table(s, w, can_see, P)  # [A, B]: distance to each object agent a may touch
    update_locks(s, w, actions, reach, P)  # 1. lock and unlock (team rules)
    update_grabs(s, w, actions, reach, P)  # 2. start or end holds
    T = load_world(s, w, P)  # [B + M, N_COLS]: the body table this step works on
    welds = weld_table(s, w)  # [A, 5]: one row per hold
    contacts = np.empty((B * (B - 1) + 2 * B * M, N_CONTACT))  # at most 2 per pair
    for _ in range(P.substeps):
        integrate_forces(T, actions, A, P, dt)  # 3. drive, damping, floor friction, gravity
        n = find_contacts(T, B, contacts, P, dt)  # 4. geometry: who touches whom, where
        prepare_contacts(T, contacts, n, P, dt)  # 5. effective masses, target velocities
        for _ in range(P.iterations):  # 6. sequential impulses
            solve_welds(T, welds, P, dt)
            solve_contacts(T, contacts, n)
        integrate_positions(T, B, dt)  # 7. move
        update_heights(T, A, P, dt)  # 8. climb, stand, fall
    store_world(s, w, T)


# ---------------------------------------------------------------------------------------------
# 4. The body table: one world unpacked into rows, like box2d-lite's Body structs
# ---------------------------------------------------------------------------------------------

# The World arrays are the state between steps. Inside a step, the solver works on one small
# table per world: a row per body slot, then a row per wall slot. Everything a contact, a ray or
# the solver needs about a body is in its row, so the hot functions take one array (cheap to pass
# in numba) and sines and cosines are computed once per substep, not once per pair or per ray.
X, Y, ANGLE, VX, VY, SPIN, Z, VZ = 0, 1, 2, 3, 4, 5, 6, 7  # state: pose, velocity, height
HX, HY, COS, SIN, RADIUS = 8, 9, 10, 11, 12  # half extents, rotation, bounding circle
SHAPE, TOP, INV_MASS, INV_INERTIA, DAMPING, FRICTION = 13, 14, 15, 16, 17, 18  # properties
BOUND_X, BOUND_Y, SWEEP = 19, 20, 21  # axis-aligned bounding box half extents, reach per substep
N_COLS = 22
NONE, BALL, BLOCK, WEDGE = 0, 1, 2, 3  # SHAPE codes: padding, agent, box or wall, ramp
# TOP is the height of a block's top or of a wedge's high edge; a ball's top is Z + 2 r.


@njit(cache=True, nogil=True)
def load_world(s, w, P):
    """The body table of world w: bodies in rows [0, B), walls in rows [B, B + M)."""
    B, M = s.kind.shape[1], s.walls.shape[1]
    T = np.zeros((B + M, N_COLS))
    for b in range(B):
        kind = s.kind[w, b]
        T[b, X], T[b, Y], T[b, ANGLE] = s.pos[w, b, 0], s.pos[w, b, 1], s.angle[w, b]
        T[b, VX], T[b, VY], T[b, SPIN] = s.vel[w, b, 0], s.vel[w, b, 1], s.spin[w, b]
        T[b, Z], T[b, VZ], T[b, HX], T[b, HY] = s.z[w, b], s.vz[w, b], s.half[w, b, 0], s.half[w, b, 1]
        if kind == EMPTY:
            continue  # SHAPE NONE, zero inverse mass: inert
        T[b, SHAPE] = BALL if kind == AGENT else (WEDGE if kind == RAMP else BLOCK)
        T[b, TOP] = P.object_height
        T[b, DAMPING] = P.agent_damping if kind == AGENT else (
            P.box_damping if kind == BOX else P.ramp_damping)
        T[b, FRICTION] = P.agent_friction if kind == AGENT else (
            P.box_friction if kind == BOX else P.ramp_friction)
        if s.locked_by[w, b] == NO_TEAM:  # locked objects stay static: zero inverse mass
            hx, hy = s.half[w, b, 0], s.half[w, b, 1]
            ball, cuboid = 0.4 * hx * hx, (4 * hx * hx + 4 * hy * hy) / 12  # I / m
            T[b, INV_MASS] = 1.0 / P.mass
            T[b, INV_INERTIA] = 1.0 / (P.mass * (ball if kind == AGENT else cuboid))
        else:
            T[b, VX], T[b, VY], T[b, SPIN] = 0.0, 0.0, 0.0
    for m in range(M):
        i = B + m
        T[i, X], T[i, Y], T[i, HX], T[i, HY], T[i, ANGLE] = s.walls[w, m]
        T[i, TOP], T[i, FRICTION] = s.wall_height[w, m], P.wall_friction
        T[i, SHAPE] = BLOCK if s.wall_height[w, m] > 0 else NONE
    refresh_rotation(T, B + M)
    return T


@njit(cache=True, nogil=True)
def refresh_rotation(T, rows):
    for i in range(rows):
        T[i, RADIUS] = math.hypot(T[i, HX], T[i, HY])
        set_rotation(T, i)


@njit(cache=True, nogil=True)
def set_rotation(T, i):
    """cos, sin and the axis-aligned bounding box of row i from its angle."""
    c, sn = math.cos(T[i, ANGLE]), math.sin(T[i, ANGLE])
    T[i, COS], T[i, SIN] = c, sn
    T[i, BOUND_X] = abs(c) * T[i, HX] + abs(sn) * T[i, HY]
    T[i, BOUND_Y] = abs(sn) * T[i, HX] + abs(c) * T[i, HY]


@njit(cache=True, nogil=True)
def store_world(s, w, T):
    for b in range(s.kind.shape[1]):
        s.pos[w, b, 0], s.pos[w, b, 1], s.angle[w, b] = T[b, X], T[b, Y], T[b, ANGLE]
        s.vel[w, b, 0], s.vel[w, b, 1], s.spin[w, b] = T[b, VX], T[b, VY], T[b, SPIN]
        s.z[w, b], s.vz[w, b] = T[b, Z], T[b, VZ]


@njit(cache=True, nogil=True)
def to_local(T, i, x, y):
    """World point -> the frame of row i (its centre, its axes)."""
    dx, dy = x - T[i, X], y - T[i, Y]
    return T[i, COS] * dx + T[i, SIN] * dy, -T[i, SIN] * dx + T[i, COS] * dy


@njit(cache=True, nogil=True)
def top_at(T, i, local_x):
    """Height of obstacle i's top at a point of its footprint with local x coordinate local_x.
    A ramp rises linearly from 0 at its local -x edge to TOP at its +x edge."""
    if T[i, SHAPE] == WEDGE:
        return T[i, TOP] * min(1.0, max(0.0, (local_x + T[i, HX]) / (2 * T[i, HX])))
    if T[i, SHAPE] == BALL:
        return T[i, Z] + 2 * T[i, HX]
    return T[i, TOP]


# ---------------------------------------------------------------------------------------------
# 5. Integration
# ---------------------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def integrate_forces(T, actions, A, P, dt):
    """Velocities from forces. Damping is integrated implicitly, v <- (v + dt F/m) / (1 + dt c/m),
    which stays stable however stiff it is (an agent's spin has a time constant of 1 ms). Floor
    friction acts on whatever rests on something; forces act in the air too (the paper's agents
    can steer while airborne, which is what makes box surfing possible)."""
    bin_scale = 2.0 / (N_BINS - 1)  # bin 0 -> -1, bin 5 -> 0, bin 10 -> +1
    for b in range(T.shape[0]):
        im, ii = T[b, INV_MASS], T[b, INV_INERTIA]
        if im == 0.0:
            continue  # wall, padding or locked: static
        force_x, force_y, torque = 0.0, 0.0, 0.0
        supported = True
        if T[b, SHAPE] == BALL and b < A:
            force_x = (actions[b, 0] - 5) * bin_scale * P.drive_force
            force_y = (actions[b, 1] - 5) * bin_scale * P.drive_force
            torque = (actions[b, 2] - 5) * bin_scale * P.drive_torque
            supported = T[b, VZ] == 0.0  # update_heights zeroes vz on support
            T[b, VZ] -= P.gravity * dt
        c = T[b, DAMPING]
        T[b, VX] = (T[b, VX] + dt * force_x * im) / (1 + dt * c * im)
        T[b, VY] = (T[b, VY] + dt * force_y * im) / (1 + dt * c * im)
        T[b, SPIN] = (T[b, SPIN] + dt * torque * ii) / (1 + dt * c * ii)
        if supported:
            apply_floor_friction(T, b, P, dt)


@njit(cache=True, nogil=True)
def apply_floor_friction(T, b, P, dt):
    """Coulomb friction: the speed drops by mu g dt, never reversing. Boxes and ramps rest on four
    corners, so their spin meets a friction torque of mu m g times the corner distance (a ball
    touches the floor at one point and meets no such torque)."""
    slow = P.floor_friction * P.gravity * dt
    speed = math.hypot(T[b, VX], T[b, VY])
    scale = max(0.0, speed - slow) / speed if speed > 0 else 0.0
    T[b, VX] *= scale
    T[b, VY] *= scale
    if T[b, SHAPE] != BALL:
        spin_slow = slow * P.mass * T[b, RADIUS] * T[b, INV_INERTIA]
        T[b, SPIN] = math.copysign(max(0.0, abs(T[b, SPIN]) - spin_slow), T[b, SPIN])


@njit(cache=True, nogil=True)
def integrate_positions(T, B, dt):
    for b in range(B):
        if T[b, INV_MASS] == 0.0:
            continue
        T[b, X] += dt * T[b, VX]
        T[b, Y] += dt * T[b, VY]
        T[b, ANGLE] += dt * T[b, SPIN]
        set_rotation(T, b)


# ---------------------------------------------------------------------------------------------
# 6. Contacts: geometry -> rows of a contact table
# ---------------------------------------------------------------------------------------------

# Columns of the contact table, one row per contact point (box2d-lite keeps a struct per point).
C_A, C_B, C_NX, C_NY, C_PX, C_PY, C_SEP = 0, 1, 2, 3, 4, 5, 6  # pair, normal a->b, point, gap
C_MASS_N, C_MASS_T, C_TARGET, C_PN, C_PT, C_MU = 7, 8, 9, 10, 11, 12  # solver values
N_CONTACT = 13


@njit(cache=True, nogil=True)
def add_contact(C, n, a, b, nx, ny, px, py, sep):
    C[n, C_A], C[n, C_B] = a, b
    C[n, C_NX], C[n, C_NY] = nx, ny
    C[n, C_PX], C[n, C_PY] = px, py
    C[n, C_SEP] = sep
    return n + 1


@njit(cache=True, nogil=True)
def find_contacts(T, B, C, P, dt):
    """Fill C with every contact (or near contact, within the speculative margin) and return how
    many rows were written. Pairs: body-body and body-wall; two static rows never meet. The
    margin of a pair grows with the distance its two bodies can travel in one substep."""
    for i in range(B):  # the fastest any point of body i moves, times dt
        T[i, SWEEP] = dt * (math.hypot(T[i, VX], T[i, VY]) + abs(T[i, SPIN]) * T[i, RADIUS])
    n = 0
    for a in range(B):
        if T[a, SHAPE] == NONE:
            continue
        for b in range(a + 1, T.shape[0]):
            if T[b, SHAPE] == NONE or (T[a, INV_MASS] == 0.0 and T[b, INV_MASS] == 0.0):
                continue
            margin = P.margin + T[a, SWEEP] + T[b, SWEEP]
            if (abs(T[b, X] - T[a, X]) <= T[a, BOUND_X] + T[b, BOUND_X] + margin and
                    abs(T[b, Y] - T[a, Y]) <= T[a, BOUND_Y] + T[b, BOUND_Y] + margin):
                n = collide_pair(T, a, b, C, n, P, margin)  # bounding boxes overlap
    return n


@njit(cache=True, nogil=True)
def agent_clears(T, a, i, P):
    """True when agent a is high enough to pass over obstacle i at the point of i nearest to it:
    an agent collides with an obstacle only while it is below the obstacle's top there."""
    lx, _ = to_local(T, i, T[a, X], T[a, Y])
    return T[a, Z] >= top_at(T, i, min(T[i, HX], max(-T[i, HX], lx))) - P.step_height


@njit(cache=True, nogil=True)
def collide_pair(T, a, b, C, n, P, margin):
    """Dispatch one pair of rows to the routine for their shapes (walls are blocks)."""
    a_ball, b_ball = T[a, SHAPE] == BALL, T[b, SHAPE] == BALL
    if a_ball and b_ball:
        if abs(T[a, Z] - T[b, Z]) >= T[a, HX] + T[b, HX]:
            return n  # one ball passes above the other
        return circle_circle(T, a, b, C, n, margin)
    if a_ball:
        return n if agent_clears(T, a, b, P) else circle_box(T, a, b, False, C, n, margin)
    if b_ball:
        return n if agent_clears(T, b, a, P) else circle_box(T, b, a, True, C, n, margin)
    return box_box(T, a, b, C, n, margin)


@njit(cache=True, nogil=True)
def circle_circle(T, a, b, C, n, margin):
    dx, dy = T[b, X] - T[a, X], T[b, Y] - T[a, Y]
    dist = math.hypot(dx, dy)
    sep = dist - T[a, HX] - T[b, HX]
    if sep > margin:
        return n
    nx, ny = (dx / dist, dy / dist) if dist > 1e-9 else (1.0, 0.0)
    reach = T[a, HX] + 0.5 * sep  # the contact point lies midway between the surfaces
    return add_contact(C, n, a, b, nx, ny, T[a, X] + nx * reach, T[a, Y] + ny * reach, sep)


@njit(cache=True, nogil=True)
def circle_box(T, ball, box, ball_is_b, C, n, margin):
    """A ball against an oriented box. The point of the box nearest to the ball's centre gives
    the normal; if the centre is inside the box, the nearest face does."""
    r, hx, hy = T[ball, HX], T[box, HX], T[box, HY]
    lx, ly = to_local(T, box, T[ball, X], T[ball, Y])
    qx, qy = min(hx, max(-hx, lx)), min(hy, max(-hy, ly))  # nearest point of the box, local
    if qx == lx and qy == ly:  # centre inside: leave through the nearest face
        if hx - abs(lx) < hy - abs(ly):
            nlx, nly, sep = math.copysign(1.0, lx), 0.0, -(hx - abs(lx)) - r
        else:
            nlx, nly, sep = 0.0, math.copysign(1.0, ly), -(hy - abs(ly)) - r
    else:
        dist = math.hypot(lx - qx, ly - qy)
        nlx, nly, sep = (lx - qx) / dist, (ly - qy) / dist, dist - r
    if sep > margin:
        return n
    c, sn = T[box, COS], T[box, SIN]
    nx, ny = c * nlx - sn * nly, sn * nlx + c * nly  # box -> ball, world frame
    px, py = T[ball, X] - nx * (r + 0.5 * sep), T[ball, Y] - ny * (r + 0.5 * sep)
    if ball_is_b:  # the pair is (box, ball): the normal already points a -> b
        return add_contact(C, n, box, ball, nx, ny, px, py, sep)
    return add_contact(C, n, ball, box, -nx, -ny, px, py, sep)


@njit(cache=True, nogil=True)
def box_box(T, a, b, C, n, margin):
    """Two oriented boxes by the separating axis theorem, then a contact manifold by clipping.

    1. Of the four face normals (two per box), find the axis of largest separation; if it is
       more than the margin, the boxes are apart. 2. That face is the reference face; the face of
       the other box most opposed to it is the incident face. 3. Clip the incident face's edge to
       the sides of the reference face: up to two contact points, each with its own separation.
    """
    dx, dy = T[b, X] - T[a, X], T[b, Y] - T[a, Y]
    best_sep, best_owner, best_axis = -1e30, a, 0
    for owner in (a, b):
        for axis in range(2):  # the owner's local x axis, then its local y axis
            ux, uy = (T[owner, COS], T[owner, SIN]) if axis == 0 else (-T[owner, SIN], T[owner, COS])
            sep = abs(ux * dx + uy * dy) - extent_along(T, a, ux, uy) - extent_along(T, b, ux, uy)
            if sep > best_sep + (0.005 if owner == b else 0.0):  # prefer a's faces: no flip-flop
                best_sep, best_owner, best_axis = sep, owner, axis
    if best_sep > margin:
        return n
    ref, inc = best_owner, (b if best_owner == a else a)
    ux, uy = (T[ref, COS], T[ref, SIN]) if best_axis == 0 else (-T[ref, SIN], T[ref, COS])
    if ux * (T[inc, X] - T[ref, X]) + uy * (T[inc, Y] - T[ref, Y]) < 0:
        ux, uy = -ux, -uy  # the reference normal points from ref toward inc
    h_normal = T[ref, HX] if best_axis == 0 else T[ref, HY]
    h_side = T[ref, HY] if best_axis == 0 else T[ref, HX]
    flip = 1.0 if ref == a else -1.0  # stored normals point from a to b
    return clip_manifold(T, ref, inc, ux, uy, h_normal, h_side, flip, C, n, margin)


@njit(cache=True, nogil=True)
def extent_along(T, i, ux, uy):
    """Half the width of box i's shadow on the unit axis (ux, uy)."""
    c, sn = T[i, COS], T[i, SIN]
    return T[i, HX] * abs(ux * c + uy * sn) + T[i, HY] * abs(-ux * sn + uy * c)


@njit(cache=True, nogil=True)
def clip_manifold(T, ref, inc, nx, ny, h_normal, h_side, flip, C, n, margin):
    """Reference box `ref` with outward face normal (nx, ny), half extent h_normal along it and
    h_side along the face; incident box `inc`. Writes up to two contacts."""
    ic, is_ = T[inc, COS], T[inc, SIN]
    along_x, along_y = ic * nx + is_ * ny, -is_ * nx + ic * ny  # inc's axes against the normal
    if abs(along_x) > abs(along_y):  # inc's local x axis faces the reference face
        face = -math.copysign(1.0, along_x) * T[inc, HX]
        mx, my = T[inc, X] + ic * face, T[inc, Y] + is_ * face  # middle of the incident face
        ex, ey = -is_ * T[inc, HY], ic * T[inc, HY]  # half the incident edge
    else:
        face = -math.copysign(1.0, along_y) * T[inc, HY]
        mx, my = T[inc, X] - is_ * face, T[inc, Y] + ic * face
        ex, ey = ic * T[inc, HX], is_ * T[inc, HX]
    tx, ty = -ny, nx  # along the reference face
    side_c = T[ref, X] * tx + T[ref, Y] * ty
    for sign in (1.0, -1.0):
        px, py = mx + sign * ex, my + sign * ey  # one end of the incident edge
        qx, qy = mx - sign * ex, my - sign * ey  # the other end
        along_p, along_q = px * tx + py * ty - side_c, qx * tx + qy * ty - side_c
        if abs(along_p) > h_side:  # beyond a side of the reference face: slide it back
            limit = math.copysign(h_side, along_p)
            if (along_p - limit) * (along_q - limit) >= 0:
                continue  # the whole edge lies beyond this side
            f = (along_p - limit) / (along_p - along_q)
            px, py = px + f * (qx - px), py + f * (qy - py)
        sep = (px - T[ref, X]) * nx + (py - T[ref, Y]) * ny - h_normal
        if sep <= margin:
            px, py = px - 0.5 * sep * nx, py - 0.5 * sep * ny  # midway between the surfaces
            a, b = (ref, inc) if flip > 0 else (inc, ref)
            n = add_contact(C, n, a, b, flip * nx, flip * ny, px, py, sep)
    return n


# ---------------------------------------------------------------------------------------------
# 7. The impulse solver (sequential impulses, as box2d-lite)
# ---------------------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def velocity_at(T, i, rx, ry):
    """Velocity of row i at offset (rx, ry) from its centre: v + spin x r."""
    return T[i, VX] - T[i, SPIN] * ry, T[i, VY] + T[i, SPIN] * rx


@njit(cache=True, nogil=True)
def apply_impulse(T, i, rx, ry, jx, jy):
    """Impulse (jx, jy) at offset (rx, ry) from row i's centre (static rows do not move)."""
    T[i, VX] += jx * T[i, INV_MASS]
    T[i, VY] += jy * T[i, INV_MASS]
    T[i, SPIN] += (rx * jy - ry * jx) * T[i, INV_INERTIA]


@njit(cache=True, nogil=True)
def lever_arms(T, C, k):
    """Offsets of contact k's point from the centres of its two rows."""
    a, b = int(C[k, C_A]), int(C[k, C_B])
    return C[k, C_PX] - T[a, X], C[k, C_PY] - T[a, Y], C[k, C_PX] - T[b, X], C[k, C_PY] - T[b, Y]


@njit(cache=True, nogil=True)
def prepare_contacts(T, C, n, P, dt):
    """Effective masses along the normal and the tangent, and the normal velocity each contact
    must reach. Speculative contacts (gap > 0) may close their gap within the substep but no more,
    which is what stops a fast body from tunnelling through a 0.1 m wall. Overlaps (gap < 0) are
    pushed apart by a Baumgarte bias, a velocity that removes a fraction of the overlap."""
    for k in range(n):
        a, b = int(C[k, C_A]), int(C[k, C_B])
        nx, ny, sep = C[k, C_NX], C[k, C_NY], C[k, C_SEP]
        rax, ray, rbx, rby = lever_arms(T, C, k)
        rna, rnb = rax * ny - ray * nx, rbx * ny - rby * nx  # cross(r, n)
        rta, rtb = rax * nx + ray * ny, rbx * nx + rby * ny  # cross(r, t), t = (-ny, nx)
        inv_m = T[a, INV_MASS] + T[b, INV_MASS]
        C[k, C_MASS_N] = 1.0 / (inv_m + T[a, INV_INERTIA] * rna * rna + T[b, INV_INERTIA] * rnb * rnb)
        C[k, C_MASS_T] = 1.0 / (inv_m + T[a, INV_INERTIA] * rta * rta + T[b, INV_INERTIA] * rtb * rtb)
        if sep > 0:
            C[k, C_TARGET] = -sep / dt  # may approach by the gap, not further
        else:
            C[k, C_TARGET] = -P.baumgarte / dt * min(0.0, sep + P.slop)
        C[k, C_PN], C[k, C_PT] = 0.0, 0.0
        C[k, C_MU] = max(T[a, FRICTION], T[b, FRICTION])  # MuJoCo: the larger of the pair


@njit(cache=True, nogil=True)
def solve_contacts(T, C, n):
    """One pass of sequential impulses. The accumulated normal impulse stays >= 0 (contacts push,
    never pull); friction stays inside the Coulomb cone |Pt| <= mu Pn."""
    for k in range(n):
        a, b = int(C[k, C_A]), int(C[k, C_B])
        nx, ny = C[k, C_NX], C[k, C_NY]
        rax, ray, rbx, rby = lever_arms(T, C, k)
        vax, vay = velocity_at(T, a, rax, ray)
        vbx, vby = velocity_at(T, b, rbx, rby)
        vn = (vbx - vax) * nx + (vby - vay) * ny  # b's velocity relative to a, along the normal
        pn = max(C[k, C_PN] + C[k, C_MASS_N] * (C[k, C_TARGET] - vn), 0.0)
        dpn, C[k, C_PN] = pn - C[k, C_PN], pn
        apply_impulse(T, a, rax, ray, -dpn * nx, -dpn * ny)
        apply_impulse(T, b, rbx, rby, dpn * nx, dpn * ny)
        vax, vay = velocity_at(T, a, rax, ray)
        vbx, vby = velocity_at(T, b, rbx, rby)
        vt = -(vbx - vax) * ny + (vby - vay) * nx  # ... along the tangent t = (-ny, nx)
        limit = C[k, C_MU] * C[k, C_PN]
        pt = min(limit, max(-limit, C[k, C_PT] - C[k, C_MASS_T] * vt))
        dpt, C[k, C_PT] = pt - C[k, C_PT], pt
        apply_impulse(T, a, rax, ray, dpt * ny, -dpt * nx)
        apply_impulse(T, b, rbx, rby, -dpt * ny, dpt * nx)


@njit(cache=True, nogil=True)
def weld_table(s, w):
    """[A, 5] rows (agent, object, offset x, offset y, angle offset) for the holds of world w;
    agent -1 marks an unused row."""
    A = s.holding.shape[1]
    welds = np.full((A, 5), -1.0)
    for a in range(A):
        if s.holding[w, a] >= 0:
            welds[a, 0], welds[a, 1] = a, s.holding[w, a]
            welds[a, 2], welds[a, 3] = s.hold_offset[w, a, 0], s.hold_offset[w, a, 1]
            welds[a, 4] = s.hold_angle[w, a]
    return welds


@njit(cache=True, nogil=True)
def solve_welds(T, welds, P, dt):
    """Grab as a weld: the held object's centre stays at a fixed point of the holder's frame and
    its angle at a fixed offset from the holder's. Each is a velocity constraint with a Baumgarte
    term for drift; the point constraint's 2x2 effective mass is inverted in closed form."""
    for k in range(welds.shape[0]):
        if welds[k, 0] < 0:
            continue
        a, o = int(welds[k, 0]), int(welds[k, 1])
        c, sn = T[a, COS], T[a, SIN]
        rx, ry = c * welds[k, 2] - sn * welds[k, 3], sn * welds[k, 2] + c * welds[k, 3]  # anchor
        ima, iia, imo, iio = T[a, INV_MASS], T[a, INV_INERTIA], T[o, INV_MASS], T[o, INV_INERTIA]
        bias = P.baumgarte / dt
        vax, vay = velocity_at(T, a, rx, ry)  # the anchor point, moving with the agent
        cdx = T[o, VX] - vax + bias * (T[o, X] - T[a, X] - rx)  # constraint velocity + drift
        cdy = T[o, VY] - vay + bias * (T[o, Y] - T[a, Y] - ry)
        k11, k12, k22 = ima + imo + iia * ry * ry, -iia * rx * ry, ima + imo + iia * rx * rx
        det = k11 * k22 - k12 * k12
        jx, jy = -(k22 * cdx - k12 * cdy) / det, -(-k12 * cdx + k11 * cdy) / det  # on o; a gets -j
        apply_impulse(T, o, 0.0, 0.0, jx, jy)
        apply_impulse(T, a, rx, ry, -jx, -jy)
        err = T[o, ANGLE] - T[a, ANGLE] - welds[k, 4]
        err = math.atan2(math.sin(err), math.cos(err))
        lam = -(T[o, SPIN] - T[a, SPIN] + bias * err) / (iia + iio)
        T[o, SPIN] += lam * iio
        T[a, SPIN] -= lam * iia


# ---------------------------------------------------------------------------------------------
# 8. Height: the half dimension
# ---------------------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def support_height(T, a, P):
    """Highest surface under agent a's centre that it can reach: the floor (0), or the top of a
    box, ramp, locked object or wall that is at most step_height above the agent's feet."""
    best = 0.0
    for i in range(T.shape[0]):
        if T[i, SHAPE] == NONE or T[i, SHAPE] == BALL:
            continue  # agents are not surfaces
        lx, ly = to_local(T, i, T[a, X], T[a, Y])
        if abs(lx) > T[i, HX] or abs(ly) > T[i, HY]:
            continue  # centre not over this footprint
        top = top_at(T, i, lx)
        if T[a, Z] >= top - P.step_height and top > best:
            best = top
    return best


@njit(cache=True, nogil=True)
def update_heights(T, A, P, dt):
    """Agents step up onto reachable surfaces and fall (vz from integrate_forces) otherwise."""
    for a in range(A):
        if T[a, SHAPE] != BALL:
            continue
        ground = support_height(T, a, P)
        T[a, Z] += dt * T[a, VZ]
        if T[a, Z] <= ground:
            T[a, Z], T[a, VZ] = ground, 0.0


# ---------------------------------------------------------------------------------------------
# 9. Grab and lock (once per control step, on the World arrays)
# ---------------------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def reach_table(s, w, can_see, P):
    """[A, B]: distance from agent a's centre to the nearest point of object b's cuboid (footprint
    x [0, object_height]), the paper's range test; inf where a may not touch b (b is no box or
    ramp, a is padding, or a did not see b last step)."""
    A, B = s.holding.shape[1], s.kind.shape[1]
    reach = np.full((A, B), np.inf)
    for a in range(A):
        if s.kind[w, a] != AGENT:
            continue
        for o in range(A, B):
            if s.kind[w, o] != BOX and s.kind[w, o] != RAMP or not can_see[a, o]:
                continue
            c, sn = math.cos(s.angle[w, o]), math.sin(s.angle[w, o])
            dx, dy = s.pos[w, a, 0] - s.pos[w, o, 0], s.pos[w, a, 1] - s.pos[w, o, 1]
            gap_x = max(0.0, abs(c * dx + sn * dy) - s.half[w, o, 0])
            gap_y = max(0.0, abs(-sn * dx + c * dy) - s.half[w, o, 1])
            gap_z = max(0.0, s.z[w, a] + P.agent_radius - P.object_height)
            reach[a, o] = math.sqrt(gap_x * gap_x + gap_y * gap_y + gap_z * gap_z)
    return reach


@njit(cache=True, nogil=True)
def update_locks(s, w, actions, reach, P):
    """Team lock, as in the paper. A locked object is frozen (static). It is unlocked when a member
    of the locking team is in reach and not pressing lock; opponents can never unlock it. An
    unlocked object is locked by the team of the nearest agent pressing lock in reach, unless a
    member of that team is in reach and not pressing (it would unlock it at once)."""
    A, B = s.holding.shape[1], s.kind.shape[1]
    for o in range(A, B):
        if not s.lockable[w, o]:
            continue
        owner = s.locked_by[w, o]
        if owner == NO_TEAM:  # who would lock it: the team of the nearest agent pressing lock
            nearest = P.grab_range
            for a in range(A):
                if actions[a, 4] == 1 and reach[a, o] <= nearest:
                    nearest, owner = reach[a, o], s.team[w, a]
        if owner == NO_TEAM:
            continue
        idle = False  # is a member of the owning team in reach without pressing lock?
        for a in range(A):
            if s.team[w, a] == owner and actions[a, 4] == 0 and reach[a, o] <= P.grab_range:
                idle = True
        s.locked_by[w, o] = NO_TEAM if idle else owner


@njit(cache=True, nogil=True)
def update_grabs(s, w, actions, reach, P):
    """Grab holds the nearest box or ramp the agent saw and can reach, rigidly in the agent's frame
    while the action stays 1. Several agents may hold one object. Locked objects cannot be held."""
    A, B = s.holding.shape[1], s.kind.shape[1]
    for a in range(A):
        held = s.holding[w, a]
        if actions[a, 3] == 0 or (held >= 0 and s.locked_by[w, held] != NO_TEAM):
            s.holding[w, a] = -1
            continue
        if held >= 0:
            continue  # keep holding
        nearest, choice = P.grab_range, -1
        for o in range(A, B):
            if reach[a, o] <= nearest and s.locked_by[w, o] == NO_TEAM:
                nearest, choice = reach[a, o], o
        if choice >= 0:
            c, sn = math.cos(s.angle[w, a]), math.sin(s.angle[w, a])
            dx, dy = s.pos[w, choice, 0] - s.pos[w, a, 0], s.pos[w, choice, 1] - s.pos[w, a, 1]
            s.holding[w, a] = choice
            s.hold_offset[w, a, 0], s.hold_offset[w, a, 1] = c * dx + sn * dy, -sn * dx + c * dy
            s.hold_angle[w, a] = s.angle[w, choice] - s.angle[w, a]


# ---------------------------------------------------------------------------------------------
# 10. Ray casting: one routine for lidar and line of sight
# ---------------------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def ray_box(T, i, ox, oy, oz, dx, dy, slope, t_max):
    """Where a ray first passes below the top of box, ramp or wall i, or inf.

    The ray starts at (ox, oy) at height oz and runs along the unit horizontal direction (dx, dy);
    its height at horizontal distance t is oz + slope t. In the footprint's frame the ray enters
    at t0 and leaves at t1 (slab method). Inside, the obstacle's top is flat (boxes, walls) or
    linear (ramps), so height minus top is linear in t: it is negative at t0, or crosses zero
    before t1, or the ray passes over.
    """
    lx, ly = to_local(T, i, ox, oy)
    ldx, ldy = T[i, COS] * dx + T[i, SIN] * dy, -T[i, SIN] * dx + T[i, COS] * dy
    t0, t1 = 0.0, t_max
    for p, d, h in ((lx, ldx, T[i, HX]), (ly, ldy, T[i, HY])):
        if abs(d) < 1e-12:
            if abs(p) > h:
                return math.inf  # parallel to this slab and outside it
        else:
            ta, tb = (-h - p) / d, (h - p) / d
            t0, t1 = max(t0, min(ta, tb)), min(t1, max(ta, tb))
    if t0 > t1:
        return math.inf
    gap0 = oz + slope * t0 - top_at(T, i, lx + ldx * t0)  # ray height minus top at entry
    gap1 = oz + slope * t1 - top_at(T, i, lx + ldx * t1)  # ... and at exit
    if gap0 < 0:
        return t0
    if gap1 < 0:
        return t0 + (t1 - t0) * gap0 / (gap0 - gap1)
    return math.inf


@njit(cache=True, nogil=True)
def ray_ball(T, i, ox, oy, oz, dx, dy, slope, t_max):
    """First t at which the ray enters agent i's ball (exact 3-D sphere test), or inf."""
    r = T[i, HX]
    px, py, pz = ox - T[i, X], oy - T[i, Y], oz - (T[i, Z] + r)
    qa = 1.0 + slope * slope  # |dP/dt|^2 for the 3-D ray direction (dx, dy, slope)
    qb = dx * px + dy * py + slope * pz
    qc = px * px + py * py + pz * pz - r * r
    disc = qb * qb - qa * qc
    if disc < 0:
        return math.inf
    t = (-qb - math.sqrt(disc)) / qa
    if t < 0:
        t = 0.0 if qc <= 0 else math.inf  # the origin is inside the ball, or it lies behind
    return t if t <= t_max else math.inf


@njit(cache=True, nogil=True)
def cast_ray(T, ox, oy, oz, dx, dy, slope, t_max, skip_a, skip_b):
    """The one ray caster. Nearest obstacle along a ray: returns (t, row), row -1 for no hit
    before t_max. Rows skip_a and skip_b (the observer and its target) are ignored."""
    best_t, best_i = t_max, -1
    for i in range(T.shape[0]):
        if i == skip_a or i == skip_b or T[i, SHAPE] == NONE:
            continue
        along = (T[i, X] - ox) * dx + (T[i, Y] - oy) * dy  # centre's distance along the ray
        across = (T[i, Y] - oy) * dx - (T[i, X] - ox) * dy  # ... and beside it
        if abs(across) > T[i, RADIUS] or along < -T[i, RADIUS] or along > best_t + T[i, RADIUS]:
            continue  # the ray misses the bounding circle: no need for the exact test
        if T[i, SHAPE] == BALL:
            t = ray_ball(T, i, ox, oy, oz, dx, dy, slope, best_t)
        else:
            t = ray_box(T, i, ox, oy, oz, dx, dy, slope, best_t)
        if t < best_t:
            best_t, best_i = t, i
    return best_t, best_i


LIDAR_DIRECTIONS = np.array([(math.cos(2 * math.pi * k / N_LIDAR), math.sin(2 * math.pi * k / N_LIDAR))
                             for k in range(N_LIDAR)])  # [30, 2]: world-frame, every 12 degrees


@njit(cache=True, nogil=True)
def lidar_scan(T, a, ox, oy, oz, ranges):
    """The 30 lidar rays of agent a, horizontal from its centre. The same exact tests as
    cast_ray, ordered the other way round for speed: each obstacle is tested only against the
    rays that pass through the angular sector its bounding circle covers."""
    ranges[:] = LIDAR_RANGE
    sector = 2 * math.pi / N_LIDAR
    for i in range(T.shape[0]):
        if i == a or T[i, SHAPE] == NONE:
            continue
        dx, dy = T[i, X] - ox, T[i, Y] - oy
        dist, radius = math.hypot(dx, dy), T[i, RADIUS]
        if dist - radius > LIDAR_RANGE:
            continue
        if dist > radius:  # the sector the bounding circle covers
            centre, half = math.atan2(dy, dx), math.asin(radius / dist)
            low, high = centre - half, centre + half
        else:  # close to a long wall: the sector its corners span, tighter than its circle
            low, high = corner_sector(T, i, ox, oy)
        for k in range(math.ceil(low / sector), math.floor(high / sector) + 1):
            k = k % N_LIDAR
            dir_x, dir_y = LIDAR_DIRECTIONS[k, 0], LIDAR_DIRECTIONS[k, 1]
            if T[i, SHAPE] == BALL:
                t = ray_ball(T, i, ox, oy, oz, dir_x, dir_y, 0.0, ranges[k])
            else:
                t = ray_box(T, i, ox, oy, oz, dir_x, dir_y, 0.0, ranges[k])
            if t < ranges[k]:
                ranges[k] = t


@njit(cache=True, nogil=True)
def corner_sector(T, i, ox, oy):
    """Smallest and largest direction angle from (ox, oy) to a corner of box i (a sector of less
    than pi, since a box seen from outside is convex), or the whole circle from inside it."""
    lx, ly = to_local(T, i, ox, oy)
    if abs(lx) <= T[i, HX] and abs(ly) <= T[i, HY]:
        return 0.0, 2 * math.pi - 1e-9
    base = math.atan2(T[i, Y] - oy, T[i, X] - ox)
    low, high = 0.0, 0.0
    for sx, sy in ((1.0, 1.0), (1.0, -1.0), (-1.0, 1.0), (-1.0, -1.0)):
        u, v = sx * T[i, HX], sy * T[i, HY]
        cx = T[i, X] + T[i, COS] * u - T[i, SIN] * v - ox
        cy = T[i, Y] + T[i, SIN] * u + T[i, COS] * v - oy
        turn = math.atan2(cx * math.sin(base) * -1 + cy * math.cos(base),
                          cx * math.cos(base) + cy * math.sin(base))  # angle from base, +-pi
        low, high = min(low, turn), max(high, turn)
    return base + low, base + high


@njit(cache=True, nogil=True)
def target_height(T, b):
    """Height of the point an agent looks at: an agent's centre, half a box's height, or a quarter
    of a ramp's height (half its height at its middle)."""
    if T[b, SHAPE] == BALL:
        return T[b, Z] + T[b, HX]
    return (0.25 if T[b, SHAPE] == WEDGE else 0.5) * T[b, TOP]


@njit(cache=True, nogil=True)
def sense_one_world(s, w, lidar, sight, P):
    A, B = s.holding.shape[1], s.kind.shape[1]
    T = load_world(s, w, P)
    for a in range(A):
        lidar[a, :] = LIDAR_RANGE
        sight[a, :] = False
        if T[a, SHAPE] != BALL:
            continue
        ox, oy, oz = T[a, X], T[a, Y], T[a, Z] + T[a, HX]  # agents sense from their centre
        lidar_scan(T, a, ox, oy, oz, lidar[a])
        for b in range(B):
            if b == a or T[b, SHAPE] == NONE:
                continue
            dx, dy = T[b, X] - ox, T[b, Y] - oy
            dist = math.hypot(dx, dy)
            if dist < 1e-9:
                sight[a, b] = True  # directly above or below: nothing can come between
                continue
            slope = (target_height(T, b) - oz) / dist
            _, hit = cast_ray(T, ox, oy, oz, dx / dist, dy / dist, slope, dist, a, b)
            sight[a, b] = hit < 0


@njit(parallel=True, cache=True, nogil=True)
def _sense_all(s, lidar, sight, P):
    for w in prange(s.kind.shape[0]):
        sense_one_world(s, w, lidar[w], sight[w], P)


def sense(world, physics=Physics()):
    """Lidar and line of sight for every agent of every world, in one parallel call.

    | Symbol | Shape        | Description                                                     |
    |--------|--------------|-----------------------------------------------------------------|
    | lidar  | f64 [W,A,30] | distance to the first obstacle along each world-frame ray, <= 6 m |
    | sight  | bool [W,A,B] | nothing blocks the segment from agent a's eye to body b's centre |

    Line of sight is not vision: env.py adds the 135-degree cone in front of the agent.
    """
    W, B = world.kind.shape
    A = world.holding.shape[1]
    lidar = np.empty((W, A, N_LIDAR))
    sight = np.empty((W, A, B), np.bool_)
    _sense_all(world, lidar, sight, checked_physics(physics))
    return lidar, sight


# ---------------------------------------------------------------------------------------------
# 11. Rendering: a top-down RGB frame, and GIFs
# ---------------------------------------------------------------------------------------------

TEAM_COLOURS = np.array([(60, 110, 230), (230, 70, 60)], np.uint8)  # hiders blue, seekers red
BOX_COLOUR, RAMP_COLOUR = np.array((235, 190, 60), np.uint8), np.array((170, 120, 200), np.uint8)
WALL_COLOUR, OUTER_COLOUR = np.array((70, 150, 90), np.uint8), np.array((90, 90, 90), np.uint8)
FLOOR_COLOUR = np.array((245, 243, 235), np.uint8)


class Canvas:
    """An RGB image that maps world metres to pixels (y up) and fills convex polygons."""

    def __init__(self, size=320, extent=(-0.25, 6.25, -0.25, 6.25)):
        self.image = np.empty((size, size, 3), np.uint8)
        self.image[:] = FLOOR_COLOUR
        x0, x1, y0, y1 = extent
        self.scale = size / max(x1 - x0, y1 - y0)
        self.x0, self.y1 = x0, y1
        ys, xs = np.mgrid[0:size, 0:size] + 0.5
        self.px = self.x0 + xs / self.scale  # world x of each pixel centre
        self.py = self.y1 - ys / self.scale  # world y of each pixel centre

    def polygon(self, corners, colour):
        """Fill the convex polygon with counter-clockwise corners [K, 2] (world metres)."""
        inside = np.ones(self.px.shape, bool)
        for k in range(len(corners)):
            (ax, ay), (bx, by) = corners[k], corners[(k + 1) % len(corners)]
            inside &= (bx - ax) * (self.py - ay) - (by - ay) * (self.px - ax) >= 0
        self.image[inside] = colour

    def disc(self, x, y, r, colour):
        self.image[(self.px - x) ** 2 + (self.py - y) ** 2 <= r * r] = colour

    def box(self, x, y, angle, hx, hy, colour):
        c, s = math.cos(angle), math.sin(angle)
        local = [(-hx, -hy), (hx, -hy), (hx, hy), (-hx, hy)]
        self.polygon([(x + c * u - s * v, y + s * u + c * v) for u, v in local], colour)

    def line(self, x0, y0, x1, y1, width, colour):
        angle, length = math.atan2(y1 - y0, x1 - x0), math.hypot(x1 - x0, y1 - y0)
        self.box((x0 + x1) / 2, (y0 + y1) / 2, angle, length / 2, width / 2, colour)


def draw_world(canvas, world, w):
    """Draw world w: walls, ramps (darker toward the high edge), boxes, locks in the locking team's
    colour, agents with a heading stroke (paler when raised), and a line from holder to held."""
    s = world
    for m in np.nonzero(s.wall_height[w] > 0)[0]:
        cx, cy, hx, hy, angle = s.walls[w, m]
        colour = OUTER_COLOUR if s.wall_height[w, m] > 1 else WALL_COLOUR
        canvas.box(cx, cy, angle, hx, hy, colour)
    for b in np.nonzero((s.kind[w] == BOX) | (s.kind[w] == RAMP))[0]:
        x, y, angle, (hx, hy) = *s.pos[w, b], s.angle[w, b], s.half[w, b]
        if s.locked_by[w, b] != NO_TEAM:  # a rim in the locking team's colour
            canvas.box(x, y, angle, hx + 0.05, hy + 0.05, TEAM_COLOURS[s.locked_by[w, b]])
        if s.kind[w, b] == BOX:
            canvas.box(x, y, angle, hx, hy, BOX_COLOUR)
            continue
        c, sn = math.cos(angle), math.sin(angle)
        for k in range(4):  # four bands, shaded by height
            u = -hx + (k + 0.5) * hx / 2
            shade = (RAMP_COLOUR * (1.0 - 0.12 * k)).astype(np.uint8)
            canvas.box(x + c * u, y + sn * u, angle, hx / 4, hy, shade)
    for a in np.nonzero(s.kind[w] == AGENT)[0]:
        x, y, r = *s.pos[w, a], s.half[w, a, 0]
        colour = TEAM_COLOURS[s.team[w, a]]
        if s.z[w, a] > 0.05:
            colour = (colour * 0.6 + 255 * 0.4).astype(np.uint8)
        o = s.holding[w, a]
        if o >= 0:
            canvas.line(x, y, *s.pos[w, o], 0.05, (40, 40, 40))
        canvas.disc(x, y, r, colour)
        c, sn = math.cos(s.angle[w, a]), math.sin(s.angle[w, a])
        canvas.line(x, y, x + c * r * 1.4, y + sn * r * 1.4, 0.06, (20, 20, 20))


def render(world, w=0, size=320, extent=(-0.25, 6.25, -0.25, 6.25)):
    """Top-down RGB frame [size, size, 3] of world w."""
    canvas = Canvas(size, extent)
    draw_world(canvas, world, w)
    return canvas.image


def write_gif(path, frames, fps=13):
    """Write RGB frames [H, W, 3] to a looping GIF (13 fps is about real time at 0.075 s/step)."""
    import imageio.v2 as imageio

    imageio.mimsave(path, frames, duration=1000 / fps, loop=0)


# ---------------------------------------------------------------------------------------------
# 12. The scripted demo and the benchmark
# ---------------------------------------------------------------------------------------------


def steer_bins(from_xy, to_xy, gain=4.0):
    """Force bins (x, y) that drive an agent from from_xy toward to_xy (a proportional controller)."""
    d = (np.asarray(to_xy) - np.asarray(from_xy)) * gain
    return np.clip(np.round(5 + d), 0, 10).astype(np.int64)


def demo_scene():
    """One 6 x 6 m arena with an inner wall at x = 4 and four scripted stories (agent: role):
    0 pushes a long box below its centre, so it turns; 1 runs up a ramp set against the inner wall
    and drops on the far side; 2 grabs a cube and drags it; 3, a seeker, pushes a cube the hiders
    locked, and it does not move. Body slot 8 is left empty: padding never takes part."""
    world = make_world(1, 9, 4, 6)
    for m, (x0, y0, x1, y1) in enumerate([(0, 0, 6, 0), (6, 0, 6, 6), (6, 6, 0, 6), (0, 6, 0, 0)]):
        place_wall(world, 0, m, x0, y0, x1, y1, height=OUTER_WALL_HEIGHT)
    place_wall(world, 0, 4, 4, 2.5, 4, 6)  # inner wall, 0.5 m high
    place_agent(world, 0, 0, 0.8, 3.6, 0.0, HIDERS)
    place_agent(world, 0, 1, 2.6, 4.9, 0.0, SEEKERS)
    place_agent(world, 0, 2, 1.0, 1.0, 0.0, HIDERS)
    place_agent(world, 0, 3, 4.6, 0.5, math.pi / 2, SEEKERS)
    place_object(world, 0, 4, BOX, 2.0, 4.0, math.pi / 2, (0.825, 0.075))  # long box, along y
    place_object(world, 0, 5, RAMP, 3.7, 4.9, 0.0, (0.25, 0.25))  # high edge against the wall
    place_object(world, 0, 6, BOX, 1.6, 1.0, 0.0, (0.25, 0.25))  # cube to drag
    place_object(world, 0, 7, BOX, 4.6, 1.6, 0.0, (0.25, 0.25))  # cube the hiders locked
    world.locked_by[0, 7] = HIDERS
    return world


def demo_actions(world, t):
    """The four scripted policies at control step t: int [1, 4, 5]."""
    s, act = world, np.full((1, 4, 5), 5, np.int64)
    act[0, :, 3:] = 0
    if t < 30:
        act[0, 0, 0] = 8  # push +x, 0.4 m below the long box's centre
    act[0, 1, 0] = 9 if t < 6 else 5  # run at the ramp, up, over the wall
    if t < 6:  # walk up to the cube, then grab it and drag it away
        act[0, 2, :2] = steer_bins(s.pos[0, 2], (1.25, 1.0))
    elif t < 40:
        act[0, 2, :2], act[0, 2, 3] = steer_bins(s.pos[0, 2], (0.8, 3.0), gain=2.0), 1
    if t >= 5:
        act[0, 3, 1] = 10  # full force into the locked cube
    return act


def run_demo(path="physics_demo.gif", steps=50):
    world = demo_scene()
    frames = []
    for t in range(steps):
        _, sight = sense(world)
        step(world, demo_actions(world, t), sight)
        frames.append(render(world))
    write_gif(path, frames)
    s = world
    print(f"long box turned by {math.degrees(s.angle[0, 4] - math.pi / 2):+.0f} degrees")
    print(f"climber 1 at x = {s.pos[0, 1, 0]:.2f} (wall at x = 4), height {s.z[0, 1]:.2f} m")
    print(f"dragged cube moved to ({s.pos[0, 6, 0]:.2f}, {s.pos[0, 6, 1]:.2f}) from (1.60, 1.00)")
    print(f"locked cube at ({s.pos[0, 7, 0]:.2f}, {s.pos[0, 7, 1]:.2f}), it started at (4.60, 1.60)")
    print(f"wrote {path} ({steps} steps)")


def quadrant_like_worlds(n_worlds, seed=0):
    """W worlds like the paper's quadrant game: 6 x 6 m with outer walls, a 3 x 3 m room in a
    corner with a door in each wall, 2 hiders, 2 seekers, 2 cubes and 1 ramp, placed at random."""
    rng = np.random.default_rng(seed)
    world = make_world(n_worlds, 7, 4, 8)
    segments = [(0, 0, 6, 0, 4), (6, 0, 6, 6, 4), (6, 6, 0, 6, 4), (0, 6, 0, 0, 4),
                (3, 0, 3, 1.2, 0.5), (3, 1.6, 3, 3, 0.5), (3, 3, 4.4, 3, 0.5), (4.8, 3, 6, 3, 0.5)]
    for w in range(n_worlds):
        for m, (x0, y0, x1, y1, h) in enumerate(segments):
            place_wall(world, w, m, x0, y0, x1, y1, height=h)
        spots = rng.permutation([(x, y) for x in np.arange(0.5, 6, 1.0) for y in np.arange(0.5, 6, 1.0)])
        for a in range(4):
            place_agent(world, w, a, *spots[a], rng.uniform(-np.pi, np.pi), a // 2)
        for k, (kind, half) in enumerate([(BOX, (0.25, 0.25)), (BOX, (0.25, 0.25)), (RAMP, (0.25, 0.25))]):
            place_object(world, w, 4 + k, kind, *spots[4 + k], 0.0, half)
    return world


def bench(n_worlds, steps, seed=0):
    """Time step() plus sense() (lidar and line of sight) on quadrant-like worlds, random actions."""
    world = quadrant_like_worlds(n_worlds, seed)
    rng = np.random.default_rng(seed)
    actions = rng.integers(0, [11, 11, 11, 2, 2], size=(16, n_worlds, 4, 5))
    _, sight = sense(world)
    step(world, actions[0], sight)  # compile (or load the cache) outside the clock
    start = time.perf_counter()
    for t in range(steps):
        step(world, actions[t % 16], sight)
        _, sight = sense(world)
    elapsed = time.perf_counter() - start
    print(f"threads: {numba.get_num_threads()}  W: {n_worlds}  steps: {steps}  "
          f"agent-steps/s: {n_worlds * steps * 4 / elapsed:,.0f}")
    print(f"world-steps/s: {n_worlds * steps / elapsed:,.0f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bench", action="store_true", help="time stepping plus sensing")
    parser.add_argument("--worlds", type=int, default=1024, help="W for --bench")
    parser.add_argument("--steps", type=int, default=200, help="control steps for --bench")
    parser.add_argument("--out", default="physics_demo.gif", help="GIF path for the demo")
    args = parser.parse_args()
    if args.bench:
        bench(args.worlds, args.steps)
    else:
        run_demo(args.out)


if __name__ == "__main__":
    main()
