"""curriculum.py: start some episodes from states the game has already visited.

What this file teaches
    The paper's curriculum is the other team: nothing but self-play decides what the agents
    face. ZACL (Chen, Xu et al., ICLR 2023 submission; SACL, AAAI 2024, is its successor) added a
    second one for the small hide-and-seek game and reported all four stages in about a third of
    the samples: 70% of episodes begin from a buffer of states visited before (where the agents,
    the box and the ramp stood), 30% from the game's own random start. A state enters the buffer
    only if it is far from those already in it, and states are drawn where learning has most to
    gain: where an ensemble of value heads disagrees.

    Here a state is the physical state of one world at one step of a rollout (`env.snapshot`),
    and an episode restored from it (`env.restore`) starts at step 0 with its preparation phase,
    every body at rest. A state's score is how wrong the critic was there: the mean over the
    world's agents of |GAE advantage| at that step, prioritised level replay's score (Jiang et
    al. 2021), which needs no extra value heads. It is a proxy: it was measured at step t of the
    episode that visited the state, with that episode's motion and preparation progress, while
    the restored episode starts afresh. States are drawn in proportion to their score; the
    oldest states leave when the buffer is full, so no score is older than `capacity` accepted
    states. With `rescore`, a state's score is measured again each time an episode is restored
    from it, as prioritised level replay rescores a level it replays, but from one step, not the
    episode: the mean |advantage| of that world's agents at the restored episode's first step,
    the critic's error about the state as a start. Without it a state that was hard once stays
    as likely until it leaves.

    Episodes begun from the buffer are `replayed`: selfplay.py leaves them out of the rewards and
    behaviour statistics it records, so the stage tracker judges only what the policy did from
    the game's own starts.

    `door_forts` is ours, not ZACL's: a part of the episodes begins from a fort already built
    (handmade.close_doors: the room's cube locked in its doorway, the hiders inside). Two hiders
    seldom build a fort for two (RUNS.md, step 2), so the seeker seldom meets a closed door and
    never learns what a ramp is for, and the hiders never practise keeping a fort that stands.
    These starts are `replayed` too, and selfplay.py records how they end apart (`door_fort_*`).

    `ramp_reach` (`RampReach`) is ours too: a distance curriculum for the ramp. Where the ramp
    starts facing the room's wall a few cells short of it, the gaps drawn move one cell farther
    each time the seeker has learnt to bring the ramp from the farthest one. In a game whose
    own ramps stand anywhere, `fort_ramps` sets the ramp so in a part of the forts built for
    the hiders, and `ramp_reach` moves those ramps.

    `door_cubes` and `cube_reach` (`CubeReach`) are the same two ideas for the hiders: a part of
    the episodes begins from a fort left to finish (the room's cube a few cells straight back
    from its doorway, unlocked, the hiders inside), and the gaps move one cell back each time
    the hiders have learnt to close the door from the farthest one. Two hiders that keep a fort
    given to them may still not know how to build one: pushed 0.4 m back, the cube was almost
    never brought home (RUNS.md, step 9).

    `door_ramps` and `ramp_hiders` are ours, for ramp defense (the game `ramp-room-lock`, whose
    ramps may be locked): a part of the episodes begins with the ramp moved outside the room's
    door (handmade.ramps_to_doors; `door_ramp_hider` or `door_ramp_beside` put a hider in the
    doorway or beside it), or with a hider moved beside the ramp where the game put it
    (handmade.hiders_to_ramps); `ramp_walk` starts a hider placed beside a ramp some steps out from
    it instead, `walk_reach` (`WalkReach`) moves it farther, and `walk_door_side` stands it
    between the ramp and the door, so the lock takes a walk away from home. Hiders that have
    never stood within reach of a ramp seldom lock one (RUNS.md, step 19). Recorded apart too
    (`door_ramp_*`, `ramp_hider_*`).

Reading order
    `CurriculumConfig`, then `StartStates`: `plan` (which steps of the rollout to offer),
    `offer` (copy those worlds; note where restored episodes begin), `score` (after the update's
    GAE), `keep` (far enough from the rest?), `restart` (episodes that just ended begin from the
    buffer), and `rms_distance`, the test for "far enough"; then `Reach` and its three
    bodies, `RampReach`, `CubeReach` and `WalkReach`.

Run it
    python curriculum.py    # fills a buffer from random play in `ramp` and restarts from it

Axes: W worlds (all of the trainer's groups, in group order), A agent slots, T rollout steps,
N = W * A agent rows.
"""

import argparse
from dataclasses import dataclass

import numpy as np

import env as game
import physics
import handmade


@dataclass
class CurriculumConfig:
    """The start-state curriculum; `share` 0 (the default) switches it off."""

    share: float = 0.0  # of the episodes that end, the part restarted from the buffer (ZACL
    # 0.7). At 1 no episode starts from the game's own layouts, and nothing is left to record.
    # The curriculum is on when it restarts some episodes (`restarts`)
    capacity: int = 512  # states kept; the oldest leave first
    offers: int = 64  # visited states offered to the buffer per update (random steps and worlds)
    min_distance: float = 0.5  # m: a state enters only if its bodies lie this far (RMS over
    # bodies) from those of every state in the buffer (ZACL: "far enough"; their value unknown)
    rescore: bool = False  # a state's score becomes the one measured when it is replayed
    door_forts: float = 0.0  # of the episodes that end, the part begun from a fort already
    # built (handmade.close_doors: the cube locked in the doorway, the hiders in the room);
    # ours, not ZACL's. share + door_forts <= 1; the rest start from the game's own layouts
    ramp_reach: float = 0.0  # ours (`RampReach`): in a game whose wall ramp starts short of the
    # wall (env.py's `ramp_gap`), the share of the forts built for the hiders that the seeker
    # must climb into from the farthest gap drawn before every gap moves one cell (0.2 m)
    # farther; 0 (the default) keeps the game's gaps
    reach_window: int = 256  # door-fort episodes at the farthest gap that share is taken over
    # (and door-cube episodes, for cube_reach)
    door_cubes: float = 0.0  # of the episodes that end, the part begun from a fort left to
    # finish (handmade.close_doors with set_back: the cube `cube_gap` cells or fewer back from the
    # doorway, unlocked, the hiders in the room); ours. share + door_forts + door_cubes <= 1
    cube_gap: int = 2  # the farthest such a cube starts back, in cells (0.2 m); each episode
    # draws one of the gaps from cube_gap - cube_spread to cube_gap (none below 0)
    cube_spread: int = 2  # how many nearer gaps are drawn too; 0: the farthest alone
    cube_reach: float = 0.0  # ours (`CubeReach`): the share of those forts that the hiders
    # must close (sealed off when preparation ends) from the farthest gap before every gap
    # moves one cell back; 0 (the default) keeps `cube_gap`
    hiders_behind: bool = False  # in those forts the hiders start side by side just behind the
    # cube, facing the door (handmade.close_doors' `hiders_behind`): the push is one step forward
    cube_arc: bool = False  # those cubes stand their gap from home in any direction into the
    # room, not only straight back (handmade.close_doors' `arc`): nearer the game's own starts
    fort_ramps: float = 0.0  # ours: of the forts built for the hiders (door_forts), the part
    # whose ramp stands outside the room uphill toward its wall (handmade.close_doors' `wall_ramp`),
    # as in the `ramp_spawn="wall"` games, in a game whose own ramps stand anywhere: the
    # seeker's first lesson in what a ramp is for, beside forts the hiders build themselves
    fort_ramp_gap: int = 0  # the farthest such a ramp starts short of the wall, in cells
    # (0.2 m); each fort draws a gap from 0 to it, and `ramp_reach` moves them all out
    fort_ramp_turn: float = 0.0  # ours: of those ramps, the part turned a quarter, a half or
    # three quarters round from facing the wall (handmade.set_fort_ramp_turn): the seeker turns it
    # before it climbs, as it must for the game's own ramps that face away from the room
    door_ramps: float = 0.0  # ours: of the episodes that end, the part begun from the game's
    # own layout with the ramp moved outside the room's door (handmade.ramps_to_doors): a start
    # for ramp defense, where a hider in the doorway, or a few steps out, reaches the ramp to
    # lock it. share + door_forts + door_cubes + door_ramps (+ ramp_hiders) <= 1
    door_ramp_gap: int = 10  # the farthest such a ramp stands from the wall, in cells (0.2 m);
    # each episode draws a gap from 0 to it (a distance curriculum by mixture)
    door_ramp_hider: bool = False  # in those episodes the first hider starts in the doorway,
    # facing out (handmade.ramps_to_doors' `hider_at_door`): at gap 0 a lock press takes at once
    door_ramp_beside: bool = False  # in those episodes the first hider starts outside beside
    # the ramp, facing it (handmade.ramps_to_doors' `hider_at_ramp`): the lock within reach, the
    # way back into the room as long as the gap
    ramp_hiders: float = 0.0  # ours: of the episodes that end, the part begun from the game's
    # own layout with the first hider outside beside the ramp, facing it (handmade.hiders_to_ramps):
    # ramp defense where the game puts the ramp, the walk out already done.
    # share + door_forts + door_cubes + door_ramps + ramp_hiders <= 1
    ramp_walk: int = 0  # with door_ramp_beside or ramp_hiders: the farthest that hider starts
    # out from beside the ramp, in cells (0.2 m), still facing the face drawn (handmade.draw_walk);
    # each episode draws a walk from 0 to it (0: beside the ramp)
    walk_reach: float = 0.0  # ours (`WalkReach`): the share of those episodes in which the
    # ramp is locked when preparation ends, from the farthest walk drawn, before every walk
    # moves one cell farther out; 0 (the default) keeps `ramp_walk`
    walk_door_side: float = 0.0  # ours: the share of those hiders placed on the ramp's door
    # side, between it and the room's door (handmade.beside_ramp's door_side), so the lock takes a
    # walk away from home, as from the room; 0 (the default): any free face, drawn at random


    def restarts(self):
        """Whether any part of the episodes begins from the curriculum's starts (share,
        door_forts, door_cubes, door_ramps or ramp_hiders above 0): the curriculum is on."""
        return max(self.share, self.door_forts, self.door_cubes, self.door_ramps,
                   self.ramp_hiders) > 0


def check_curriculum(config):
    """A clear error for a setting out of range."""
    for name in ("share", "door_forts", "door_cubes", "fort_ramps", "fort_ramp_turn",
                 "door_ramps", "ramp_hiders", "walk_door_side"):
        if not 0.0 <= getattr(config, name) <= 1.0:
            raise ValueError(f"curriculum.{name} must be in [0, 1], got {getattr(config, name)}")
    parts = (config.share, config.door_forts, config.door_cubes, config.door_ramps,
             config.ramp_hiders)
    if sum(parts) > 1.0:
        raise ValueError(f"curriculum.share + curriculum.door_forts + curriculum.door_cubes + "
                         f"curriculum.door_ramps + curriculum.ramp_hiders must be <= 1 (the "
                         f"parts of the episodes restarted), got "
                         f"{' + '.join(str(part) for part in parts)}")
    for name in ("ramp_reach", "cube_reach", "walk_reach"):
        if not 0.0 <= getattr(config, name) <= 1.0:
            raise ValueError(f"curriculum.{name} is a share of episodes in [0, 1], got "
                             f"{getattr(config, name)}")
    for name in ("cube_gap", "cube_spread", "fort_ramp_gap", "door_ramp_gap", "ramp_walk"):
        if getattr(config, name) < 0:
            raise ValueError(f"curriculum.{name} is a number of cells >= 0, got "
                             f"{getattr(config, name)}")
    for name in ("capacity", "offers", "reach_window"):
        if getattr(config, name) < 1:
            raise ValueError(f"curriculum.{name} must be >= 1, got {getattr(config, name)}")
    if config.min_distance < 0:
        raise ValueError(f"curriculum.min_distance must be >= 0 m, got {config.min_distance}")


def rms_distance(pos, kept):
    """Root-mean-square distance over bodies between one state and each kept state.

    | Symbol | Shape     | Description                                 |
    |--------|-----------|---------------------------------------------|
    | pos    | [B, 2]    | body centres of the state on offer, m      |
    | kept   | [K, B, 2] | body centres of the states in the buffer, m |
    | ->     | [K]       | RMS over the B bodies of the centre-to-centre distances, m |
    """
    return np.sqrt(((kept - pos) ** 2).sum(-1).mean(-1))


class StartStates:
    """The buffer of start states, and the bookkeeping that fills and drains it. One instance
    serves all of a trainer's world groups; `rows[g]` is group g's slice of the [N] agent rows."""

    def __init__(self, config, rows, n_agents, seed=0):
        check_curriculum(config)
        self.config, self.rows, self.n_agents = config, rows, n_agents
        self.rng = np.random.default_rng([seed, 1])  # a stream apart from the worlds' (seed)
        self.states = None  # physics.World of kept rows [K, ...], None while empty
        self.scores = np.zeros(0)  # [K] mean |advantage| when the state was seen (or replayed)
        self.ids = np.zeros(0, np.int64)  # [K] a number per kept state, never reused
        self.next_id = 0
        self.offered = []  # this rollout's offers: (step t, agent rows [n, A], World [n, ...])
        self.plan_steps = {}  # (group, step t) -> local world indices to copy at that step
        self.restored = {}  # group -> (local worlds [n], state ids [n]) restored, not yet seen
        self.replays = []  # this rollout's restored starts: (step t, agent rows [n, A], ids [n])

    def __len__(self):
        return 0 if self.states is None else len(self.scores)

    def plan(self, rollout_steps, group_sizes):
        """Pick this rollout's offers: `offers` random (step, world) pairs, without repeats."""
        W, T = sum(group_sizes), rollout_steps
        picks = self.rng.choice(T * W, size=min(self.config.offers, T * W), replace=False)
        bounds = np.cumsum([0] + list(group_sizes))
        self.plan_steps, self.offered, self.replays = {}, [], []
        for t, w in zip(picks // W, picks % W):
            g = int(np.searchsorted(bounds, w, side="right") - 1)
            self.plan_steps.setdefault((g, int(t)), []).append(int(w - bounds[g]))

    def offer(self, g, t, env):
        """Before group g acts at step t: copy the worlds planned for (g, t), and note which
        worlds begin here an episode restored from the buffer (to rescore their states)."""
        if g in self.restored:  # restored after the group's last step: this is their first
            worlds, ids = self.restored.pop(g)
            self.replays.append((t, self.agent_rows(g, worlds, env), ids))
        worlds = self.plan_steps.get((g, t))
        if worlds:
            worlds = np.array(sorted(worlds))
            self.offered.append((t, self.agent_rows(g, worlds, env), env.snapshot(worlds)))

    def agent_rows(self, g, worlds, env):
        """int [n, A]: the rows of the advantages [T, N] that hold these worlds' agents (local
        indices in group g), -1 for padding slots, which have no advantage."""
        agents = self.rows[g].start + worlds[:, None] * self.n_agents + np.arange(self.n_agents)
        return np.where(env.agent_exists[worlds], agents, -1)

    def score(self, advantages):
        """After the update's GAE (numpy advantages [T, N], reward units): score this rollout's
        offers and keep those far enough from the buffer; beyond `capacity` the oldest leave."""
        advantages = np.abs(advantages)  # [T, N]
        if self.config.rescore:  # replays first: a state evicted below is simply not found
            for t, agents, ids in self.replays:
                for i, state_id in enumerate(ids):  # the same state twice: the last one counts
                    k = np.flatnonzero(self.ids == state_id)
                    if len(k):
                        self.scores[k[0]] = advantages[t, agents[i][agents[i] >= 0]].mean()
        self.replays = []
        for t, agents, states in self.offered:
            for i in range(len(agents)):
                real = agents[i][agents[i] >= 0]
                self.keep(physics.world_rows(states, slice(i, i + 1)),
                          advantages[t, real].mean())
        self.offered = []

    def keep(self, state, score):
        """Add one state (a World of one row) unless it is within min_distance of a kept one."""
        if self.states is not None:
            if rms_distance(state.pos[0], self.states.pos).min() < self.config.min_distance:
                return
            state = physics.World(*(np.concatenate([old, new])[-self.config.capacity:]
                                    for old, new in zip(self.states, state)))
        self.states = state
        self.scores = np.append(self.scores, score)[-self.config.capacity:]
        self.ids = np.append(self.ids, self.next_id)[-self.config.capacity:]
        self.next_id += 1

    def restart(self, env, ended, g=0):
        """Of group g's worlds whose episode just ended (int [n]), restart a `share` of them
        from states drawn in proportion to their scores, a `door_forts` part from forts
        already built (of those, a `fort_ramps` part with the ramp moved against the room's
        wall), a `door_cubes` part from forts left to finish, a `door_ramps` part with the
        ramp outside the door and a `ramp_hiders` part with a hider beside the ramp. Returns
        how many were restarted."""
        share, forts, cubes = self.config.share, self.config.door_forts, self.config.door_cubes
        ramps, hiders = self.config.door_ramps, self.config.ramp_hiders
        if not len(ended) or (not len(self) and not forts and not cubes and not ramps
                              and not hiders):
            return 0
        draws = self.rng.random(len(ended))  # [n] one per world: buffer, fort, fort to finish,
        # ramp at the door, hider at the ramp, own
        built = ended[(draws >= share) & (draws < share + forts)]
        restarted = 0
        if self.config.fort_ramps > 0 and len(built):  # no draw at 0: runs go on as they were
            at_wall = self.rng.random(len(built)) < self.config.fort_ramps
            restarted += len(handmade.close_doors(env, built[at_wall], wall_ramp=True))
            built = built[~at_wall]
        restarted += len(handmade.close_doors(env, built)) if forts else 0
        to_finish = (draws >= share + forts) & (draws < share + forts + cubes)
        restarted += len(handmade.close_doors(env, ended[to_finish], set_back=True,
                                              hiders_behind=self.config.hiders_behind,
                                              arc=self.config.cube_arc)
                         ) if cubes else 0
        at_door = (draws >= share + forts + cubes) & (draws < share + forts + cubes + ramps)
        restarted += len(handmade.ramps_to_doors(env, ended[at_door],
                                                 (0, self.config.door_ramp_gap),
                                                 hider_at_door=self.config.door_ramp_hider,
                                                 hider_at_ramp=self.config.door_ramp_beside)
                         ) if ramps else 0
        first = share + forts + cubes + ramps
        beside = (draws >= first) & (draws < first + hiders)
        restarted += len(handmade.hiders_to_ramps(env, ended[beside])) if hiders else 0
        chosen = ended[draws < share] if len(self) else ended[:0]
        if len(chosen):
            weights = self.scores + 1e-6  # never zero: every kept state can be drawn
            picks = self.rng.choice(len(self), size=len(chosen), p=weights / weights.sum())
            env.restore(chosen, physics.world_rows(self.states, picks))
            # first seen at the group's next step, where offer() files them for rescoring
            waiting_worlds, waiting_ids = self.restored.get(g, (chosen[:0], picks[:0]))
            self.restored[g] = (np.concatenate([waiting_worlds, chosen]),
                                np.concatenate([waiting_ids, self.ids[picks]]))
        return restarted + len(chosen)

    def state_dict(self):
        return {"states": None if self.states is None else self.states._asdict(),
                "scores": self.scores, "rng": self.rng.bit_generator.state, "ids": self.ids,
                "next_id": self.next_id, "restored": self.restored}

    def load_state_dict(self, state):
        """(Checkpoints from before rescoring have no ids: their states are numbered afresh.)"""
        self.states = None if state["states"] is None else physics.World(**state["states"])
        self.scores = state["scores"]
        self.rng.bit_generator.state = state["rng"]
        self.ids = state.get("ids", np.arange(len(self.scores)))
        self.next_id = state.get("next_id", len(self.scores))
        self.restored = state.get("restored", {})


class Reach:
    """A distance curriculum (ours): one body starts `gap` cells (0.2 m each) from where it is
    used, each episode drawing a gap from (low, high). Once the team that must bring it there
    has done so in a `threshold` share of the last `reach_window` episodes from the farthest gap,
    every gap drawn moves one cell out: (1, 3) -> (2, 4) -> ..., until the farthest fits no
    more. A team that learnt the last nudge meets the body a little farther, then farther
    still. ZACL's buffer moves the starts toward where the critic errs; this moves one body, a
    fixed step at a time, when a fixed test passes. Subclasses name the body: `RampReach`, the
    ramp the seeker brings to the room's wall; `CubeReach`, the cube the hiders push into
    their doorway; `WalkReach`, the hider that walks to the ramp to lock it.
    """

    flag, gap_key = None, None  # the episodes' start flag and gap (m) in env.py's statistics

    def __init__(self, config, threshold):
        check_curriculum(config)
        self.config, self.threshold = config, threshold
        self.hits = np.zeros(0)  # 1 or 0 per episode from the farthest gap, newest last

    def gaps(self, env):
        raise NotImplementedError  # (low, high) in cells, as env draws them now

    def most(self, env):
        raise NotImplementedError  # the farthest gap that fits, in cells

    def set_gaps(self, env, low, high):
        raise NotImplementedError

    def update(self, envs, episodes, hit):
        """After an update. `episodes`: the statistics of the episodes that ended (env.py's);
        `hit`: float [n], 1 where the team did it. Only episodes with the subclass's `flag`
        count, and those begun before the gaps last moved only if their gap is the farthest
        one now. Returns the new gaps (low, high) in cells, or None."""
        low, high = self.gaps(envs[0])
        cells = np.rint(episodes[self.gap_key] / game.CELL)  # NaN (no such start) stays NaN
        at_far = episodes[self.flag] & (cells == high) & np.isfinite(hit)
        self.hits = np.append(self.hits, hit[at_far])[-self.config.reach_window:]
        if (len(self.hits) < self.config.reach_window or self.hits.mean() < self.threshold
                or high >= self.most(envs[0])):
            return None
        for env in envs:
            self.set_gaps(env, low + 1, high + 1)
        self.hits = np.zeros(0)  # the new farthest gap is judged afresh
        return low + 1, high + 1

    def share(self):
        """The share of the window's episodes at the farthest gap that were done (NaN before
        the first): what the next move waits on."""
        return float(self.hits.mean()) if len(self.hits) else float("nan")

    def state_dict(self):
        return {"hits": self.hits}

    def load_state_dict(self, state):
        self.hits = state["hits"] if "hits" in state else state["climbs"]  # older: "climbs"


class RampReach(Reach):
    """The ramp (`curriculum.ramp_reach`). In the `ramp_spawn="wall"` games it starts uphill
    toward the room's wall, `ramp_gap` cells short of it; with `fort_ramps`, so does the ramp
    of that part of the forts built for the hiders, and those are the gaps moved. A hit is the
    seeker climbing into a fort built for the hiders (`door_forts`) whose ramp started at the
    farthest gap (a fort's ramp the game placed there by chance counts too), and the gaps stop
    at env.most_ramp_gap (2.4 m)."""

    flag, gap_key = "door_fort", "ramp_gap"

    def __init__(self, config):
        super().__init__(config, config.ramp_reach)

    def gaps(self, env):
        if self.config.fort_ramps > 0:
            return env.fort_ramp_gaps
        return env.rules.ramp_gap_min, env.rules.ramp_gap_max

    def most(self, env):
        return game.most_ramp_gap(env.preset)

    def set_gaps(self, env, low, high):
        if self.config.fort_ramps > 0:
            handmade.set_fort_ramp_gaps(env, low, high)
        else:
            env.set_ramp_gaps(low, high)


class CubeReach(Reach):
    """The cube (`curriculum.cube_reach`). In a fort left to finish (`door_cubes`) it starts
    `cube_gap` cells straight back from the doorway, unlocked; a hit is the hiders sealed off
    when preparation ends, and the gaps stop at env.most_cube_gap (the room's far wall)."""

    flag, gap_key = "door_cube", "cube_gap"

    def __init__(self, config):
        super().__init__(config, config.cube_reach)

    def gaps(self, env):
        return env.cube_gaps

    def most(self, env):
        return handmade.most_cube_gap(env.preset)

    def set_gaps(self, env, low, high):
        handmade.set_cube_gaps(env, low, high)


class WalkReach(Reach):
    """The hider placed beside a ramp (`curriculum.walk_reach`, with `door_ramp_beside` or
    `ramp_hiders`). It starts `ramp_walk` cells out from beside one of the ramp's faces
    (handmade.draw_walk); a hit is the ramp locked when preparation ends, and the walks stop at
    env.most_ramp_gap (2.4 m, about the way from the room's far corner to its door)."""

    flag, gap_key = "ramp_hider", "ramp_walk"

    def __init__(self, config):
        super().__init__(config, config.walk_reach)

    def gaps(self, env):
        return env.ramp_walks

    def most(self, env):
        return game.most_ramp_gap(env.preset)

    def set_gaps(self, env, low, high):
        handmade.set_ramp_walks(env, low, high)


def first_cube_gaps(config):
    """The gaps (low, high) in cells a run's forts left to finish start from: `cube_gap` and
    the `cube_spread` below it."""
    return max(0, config.cube_gap - config.cube_spread), config.cube_gap


def check_starts(config, preset):
    """The curriculum's starts against the game: `door_forts` and `door_cubes` need a game
    whose hiders start in the room (env.check_door_forts), `cube_gap` a gap that fits in it;
    `ramp_reach` needs forts built for the hiders (it counts climbs into them) and a ramp that
    starts facing the room's wall (it moves that ramp's gap), the game's or `fort_ramps`';
    `fort_ramps` needs those forts and a game whose ramp stands elsewhere; `cube_reach` needs
    forts left to finish, and so does `cube_arc`; `door_ramps` and `ramp_hiders` need a game
    whose hiders start in the room, with a ramp, and `door_ramp_gap` a gap that fits outside
    it, and a hider placed at the door or beside the ramp needs `door_ramps`, one or the
    other; `ramp_walk`, `walk_reach` and `walk_door_side` move a hider placed beside the
    ramp, so they need `door_ramp_beside` or `ramp_hiders`, and the walk must fit outside the
    room as the gap does: a clear error otherwise, before any episode starts."""
    if max(config.door_forts, config.door_cubes, config.door_ramps, config.ramp_hiders) > 0:
        handmade.check_door_forts(preset)
    for name in ("door_ramp_hider", "door_ramp_beside"):
        if getattr(config, name) and config.door_ramps <= 0:
            raise ValueError(f"curriculum.{name} places a hider in the episodes begun with the "
                             f"ramp at the door: it needs curriculum.door_ramps > 0, got "
                             f"{config.door_ramps}")
    for name in ("ramp_walk", "walk_reach", "walk_door_side"):
        if getattr(config, name) > 0 and not (config.door_ramp_beside or config.ramp_hiders > 0):
            raise ValueError(f"curriculum.{name}={getattr(config, name)} moves a hider placed "
                             f"beside the ramp: it needs curriculum.door_ramp_beside=true or "
                             f"curriculum.ramp_hiders > 0")
    if config.ramp_walk > game.most_ramp_gap(preset):
        raise ValueError(f"curriculum.ramp_walk={config.ramp_walk} cells does not fit "
                         f"between the room's wall and the arena's edge in {preset.name!r}: "
                         f"expected at most {game.most_ramp_gap(preset)}")
    if config.door_ramp_hider and config.door_ramp_beside:
        raise ValueError("curriculum.door_ramp_hider (a hider in the doorway) and "
                         "curriculum.door_ramp_beside (a hider beside the ramp): one or the other")
    for name, what in (("door_ramps", "moves the ramp to the room's door"),
                       ("ramp_hiders", "moves a hider beside the ramp")):
        if getattr(config, name) > 0 and preset.ramps < 1:
            raise ValueError(f"curriculum.{name}={getattr(config, name)} {what}: game "
                             f"{preset.name!r} has ramps={preset.ramps}, expected 1 or more")
    if config.door_ramps > 0 and config.door_ramp_gap > game.most_ramp_gap(preset):
        raise ValueError(f"curriculum.door_ramp_gap={config.door_ramp_gap} cells does not fit "
                         f"between the room's wall and the arena's edge in {preset.name!r}: "
                         f"expected at most {game.most_ramp_gap(preset)}")
    if config.ramp_reach > 0 and config.door_forts <= 0:
        raise ValueError(f"curriculum.ramp_reach={config.ramp_reach} counts climbs into the "
                         f"forts built for the hiders: it needs curriculum.door_forts > 0, got "
                         f"{config.door_forts}")
    if config.ramp_reach > 0 and preset.ramp_spawn != "wall" and config.fort_ramps <= 0:
        raise ValueError(f"curriculum.ramp_reach={config.ramp_reach} moves a ramp that starts "
                         f"facing the room's wall: game {preset.name!r} has ramp_spawn "
                         f"{preset.ramp_spawn!r}, expected 'wall' (e.g. ramp-room-nudge), or "
                         f"curriculum.fort_ramps > 0")
    if config.fort_ramps > 0 and (config.door_forts <= 0 or preset.ramp_spawn == "wall"
                                  or preset.ramps < 1):
        raise ValueError(f"curriculum.fort_ramps={config.fort_ramps} sets the ramp of the forts "
                         f"built for the hiders at the room's wall: it needs "
                         f"curriculum.door_forts > 0 and a game with a ramp that is not already "
                         f"there, got door_forts={config.door_forts}, game {preset.name!r} "
                         f"(ramps {preset.ramps}, ramp_spawn {preset.ramp_spawn!r})")
    if config.fort_ramps > 0 and config.fort_ramp_gap > game.most_ramp_gap(preset):
        raise ValueError(f"curriculum.fort_ramp_gap={config.fort_ramp_gap} cells does not fit "
                         f"between the room's wall and the arena's edge in {preset.name!r}: "
                         f"expected at most {game.most_ramp_gap(preset)}")
    if config.fort_ramp_turn > 0 and config.fort_ramps <= 0:
        raise ValueError(f"curriculum.fort_ramp_turn={config.fort_ramp_turn} turns the ramps "
                         f"that curriculum.fort_ramps sets at the room's wall: it needs "
                         f"fort_ramps > 0, got {config.fort_ramps}")
    if config.cube_reach > 0 and config.door_cubes <= 0:
        raise ValueError(f"curriculum.cube_reach={config.cube_reach} counts the forts left to "
                         f"finish that the hiders closed: it needs curriculum.door_cubes > 0, "
                         f"got {config.door_cubes}")
    if config.cube_arc and (config.door_cubes <= 0 or config.hiders_behind):
        raise ValueError(f"curriculum.cube_arc places the cube of a fort left to finish: it "
                         f"needs curriculum.door_cubes > 0 and hiders_behind off (they stand "
                         f"straight behind the cube), got door_cubes={config.door_cubes}, "
                         f"hiders_behind={config.hiders_behind}")
    if config.door_cubes > 0 and config.cube_gap > handmade.most_cube_gap(preset):
        raise ValueError(f"curriculum.cube_gap={config.cube_gap} cells does not fit in the "
                         f"room of {preset.name!r}: expected at most "
                         f"{handmade.most_cube_gap(preset)}")


def main():
    """A walk-through: random play in `ramp` fills a buffer, then half the episodes restart."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--worlds", type=int, default=32)
    args = parser.parse_args()
    worlds = game.HideAndSeek("ramp", args.worlds, seed=0)
    config = CurriculumConfig(share=0.5)
    T, A = worlds.preset.horizon, worlds.n_agents
    curriculum = StartStates(config, [slice(0, args.worlds * A)], A, seed=0)
    rng = np.random.default_rng(0)
    for episode in range(3):
        curriculum.plan(T, [args.worlds])
        for t in range(T):
            curriculum.offer(0, t, worlds)
            actions = rng.integers(0, [11, 11, 11, 2, 2], size=(args.worlds, A, 5))
            _, _, dones, info = worlds.step(actions)
        # random scores stand in for a critic's |advantage| (selfplay.py passes real ones)
        before = len(curriculum)
        curriculum.score(rng.random((T, args.worlds * A)))
        restarted = curriculum.restart(worlds, np.flatnonzero(dones))
        print(f"episode {episode}: {int(info['episodes']['replayed'].sum())} of the "
              f"{int(dones.sum())} episodes that ended had begun from the buffer; it now holds "
              f"{len(curriculum)} states ({len(curriculum) - before} of the {config.offers} "
              f"offered were far enough from the rest); {restarted} worlds begin the next "
              f"episode from it")


if __name__ == "__main__":
    main()
