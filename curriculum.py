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
    (env.close_doors: the room's cube locked in its doorway, the hiders inside). Two hiders
    seldom build a fort for two (README "Ramps"), so the seeker seldom meets a closed door and
    never learns what a ramp is for, and the hiders never practise keeping a fort that stands.
    These starts are `replayed` too, and selfplay.py records how they end apart (`door_fort_*`).

    `ramp_reach` (`RampReach`) is ours too: a distance curriculum for the ramp. Where the ramp
    starts facing the room's wall a few cells short of it, the gaps drawn move one cell farther
    each time the seeker has learnt to bring the ramp from the farthest one.

Reading order
    `CurriculumConfig`, then `StartStates`: `plan` (which steps of the rollout to offer),
    `offer` (copy those worlds; note where restored episodes begin), `score` (after the update's
    GAE), `keep` (far enough from the rest?), `restart` (episodes that just ended begin from the
    buffer), and `rms_distance`, the test for "far enough"; then `RampReach`.

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


@dataclass
class CurriculumConfig:
    """The start-state curriculum; `share` 0 (the default) switches it off."""

    share: float = 0.0  # of the episodes that end, the part restarted from the buffer (ZACL
    # 0.7). At 1 no episode starts from the game's own layouts, and nothing is left to record.
    # The curriculum is on when share or door_forts is above 0
    capacity: int = 512  # states kept; the oldest leave first
    offers: int = 64  # visited states offered to the buffer per update (random steps and worlds)
    min_distance: float = 0.5  # m: a state enters only if its bodies lie this far (RMS over
    # bodies) from those of every state in the buffer (ZACL: "far enough"; their value unknown)
    rescore: bool = False  # a state's score becomes the one measured when it is replayed
    door_forts: float = 0.0  # of the episodes that end, the part begun from a fort already
    # built (env.close_doors: the cube locked in the doorway, the hiders in the room); ours, not
    # ZACL's. share + door_forts <= 1; the rest start from the game's own layouts
    ramp_reach: float = 0.0  # ours (`RampReach`): in a game whose wall ramp starts short of the
    # wall (env.py's `ramp_gap`), the share of the forts built for the hiders that the seeker
    # must climb into from the farthest gap drawn before every gap moves one cell (0.2 m)
    # farther; 0 (the default) keeps the game's gaps
    reach_window: int = 256  # door-fort episodes at the farthest gap that share is taken over


def check_curriculum(config):
    """A clear error for a setting out of range."""
    for name in ("share", "door_forts"):
        if not 0.0 <= getattr(config, name) <= 1.0:
            raise ValueError(f"curriculum.{name} must be in [0, 1], got {getattr(config, name)}")
    if config.share + config.door_forts > 1.0:
        raise ValueError(f"curriculum.share + curriculum.door_forts must be <= 1 (the parts of "
                         f"the episodes restarted), got {config.share} + {config.door_forts}")
    if not 0.0 <= config.ramp_reach <= 1.0:
        raise ValueError(f"curriculum.ramp_reach is a share of episodes in [0, 1], got "
                         f"{config.ramp_reach}")
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
        from states drawn in proportion to their scores, and a `door_forts` part from forts
        already built. Returns how many were restarted."""
        share, forts = self.config.share, self.config.door_forts
        if not len(ended) or (not len(self) and not forts):
            return 0
        draws = self.rng.random(len(ended))  # [n] one draw per world: buffer, fort, or own start
        restarted = len(env.close_doors(ended[(draws >= share) & (draws < share + forts)])
                        ) if forts else 0
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


class RampReach:
    """A distance curriculum for the ramp (ours). In the `ramp_spawn="wall"` games the ramp
    starts uphill toward the room's wall, `ramp_gap` cells (0.2 m each) short of it. Once the
    seeker has climbed into the forts built for the hiders (`door_forts`) from the farthest gap
    drawn in a `ramp_reach` share of the last `reach_window` such episodes, every gap drawn
    moves one cell out: (1, 3) -> (2, 4) -> ..., until the farthest fits no more
    (env.most_ramp_gap, 2.4 m). A seeker that learnt to nudge the ramp 0.2 m to the wall
    meets ramps a little farther, then farther still: steps toward a ramp brought from
    anywhere. ZACL's buffer moves the starts toward where the critic errs; this moves one
    body, a fixed step at a time, when a fixed test passes."""

    def __init__(self, config):
        check_curriculum(config)
        self.config = config
        self.climbs = np.zeros(0)  # 1 or 0 per door-fort episode from the farthest gap, newest last

    def update(self, envs, episodes, climbed):
        """After an update. `episodes`: the statistics of the episodes that ended (env.py's,
        with `door_fort`); `climbed`: float [n], 1 where a seeker climbed into the room
        (selfplay.climbed_in). Episodes begun before the gaps last moved count only if their
        gap is the farthest one now. Returns the new gaps (low, high) in cells, or None."""
        low, high = envs[0].rules.ramp_gap_min, envs[0].rules.ramp_gap_max
        cells = np.rint(episodes["ramp_gap"] / game.CELL)  # NaN (no wall ramp) stays NaN
        at_far = episodes["door_fort"] & (cells == high) & np.isfinite(climbed)
        self.climbs = np.append(self.climbs, climbed[at_far])[-self.config.reach_window:]
        if (len(self.climbs) < self.config.reach_window
                or self.climbs.mean() < self.config.ramp_reach
                or high >= game.most_ramp_gap(envs[0].preset)):
            return None
        for env in envs:
            env.set_ramp_gaps(low + 1, high + 1)
        self.climbs = np.zeros(0)  # the new farthest gap is judged afresh
        return low + 1, high + 1

    def share(self):
        """The share of the window's episodes at the farthest gap that the seeker climbed in
        (NaN before the first): what the next move waits on."""
        return float(self.climbs.mean()) if len(self.climbs) else float("nan")

    def state_dict(self):
        return {"climbs": self.climbs}

    def load_state_dict(self, state):
        self.climbs = state["climbs"]


def check_ramp_reach(config, preset):
    """`ramp_reach` needs forts built for the hiders (it counts climbs into them) and a ramp
    that starts facing the room's wall (it moves that ramp's gap): a clear error otherwise."""
    if config.ramp_reach > 0 and config.door_forts <= 0:
        raise ValueError(f"curriculum.ramp_reach={config.ramp_reach} counts climbs into the "
                         f"forts built for the hiders: it needs curriculum.door_forts > 0, got "
                         f"{config.door_forts}")
    if config.ramp_reach > 0 and preset.ramp_spawn != "wall":
        raise ValueError(f"curriculum.ramp_reach={config.ramp_reach} moves a ramp that starts "
                         f"facing the room's wall: game {preset.name!r} has ramp_spawn "
                         f"{preset.ramp_spawn!r}, expected 'wall' (e.g. ramp-room-nudge)")


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
              f"{len(curriculum)} states ({len(curriculum) - before} of the {config.offers} offered "
              f"were far enough from the rest); {restarted} worlds begin the next episode from it")


if __name__ == "__main__":
    main()
