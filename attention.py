"""Attention over objects: the hide-and-seek policy and its omniscient critic.

An agent does not see an image; it sees a *set* of objects: the other agents, the boxes, the
ramps, each a short row of numbers (position, velocity, size, lock flags), plus 30 lidar ranges.
The paper's sentence for what the network does with that set is: "each object is embedded and
then passed through a masked residual self-attention block, where the attention is over objects
instead of over time". This file builds that network in PyTorch and explains every word of the
sentence. Paper: Baker et al. 2019, "Emergent Tool Use From Multi-Agent Autocurricula", section 4
and figure 2; the exact layer list is in reference/paper_facts.md, section 5.

Attention in words, for one box. From the box's embedding (128 numbers) each head makes three
short vectors (32 numbers): a *query* ("what am I looking for?"), a *key* ("what do I offer to
whoever is looking?") and a *value* ("what I pass on if someone looks at me"). The box's query is
compared by a dot product with the key of every object in the list, itself included: one score
per object. A softmax turns the scores into weights that are positive and sum to 1, and the box's
new vector is the weighted sum of all the values. After the block, the box's vector can carry
"a seeker is next to me". Four heads do this side by side with their own query, key and value
layers, so one head can look for seekers while another looks for boxes. The *mask* says which
objects this agent may look at: a hidden object's score is set to -inf, so its weight is exactly
0 (see `masked_attention` for why not 0).

Why the order of the objects does not matter. Nothing in the network knows where in the list an
object sits: every box goes through the same box layer, a weighted sum does not care about the
order of its terms, and neither does the mean that pools the set. List the boxes in another order
and the per-object outputs come out in that order too, while the pooled vector and the action do
not change. A language model adds a positional encoding because "dog bites man" is not "man
bites dog"; a set of boxes has no order to encode, so there is none here.

Why a hidden object cannot change the action. The policy receives the features of every object,
seen or not (the critic needs them, and fixed shapes batch well). A hidden object (1) gets
weight 0 as a key, so nothing flows from it into any other object's row; (2) its own row, which
is computed anyway, is left out of the pooling; (3) layer norm works on each object's row alone,
so rows do not mix there either. Its numbers reach nothing after the pool: not the LSTM, not the
action. (The lidar may still feel it as a distance: that is a range sensor, not a leak.) The
critic, the "omniscient value function", reads the existence mask instead and sees it all.

Attention over objects, not over time. In a language model the set is the words of a text: each
word's query looks at the keys of the words before it (a triangular, "causal" mask) and
positions are encoded. Here the set is the objects at one instant: every object may look at
every visible object, the mask comes from what this agent sees (one mask per key, the same for
every query), there are no positions, and memory across time is the LSTM's job.

Read in this order:
  1. `NetworkSizes`             the sizes, the paper's as defaults
  2. `masked_attention`         attention written out as three matrix products and a softmax
  3. `MaskedResidualSelfAttention`  the block: layer norm, queries/keys/values, heads, residual
  4. `masked_mean`              pooling the set into one vector
  5. `EntityTower`              lidar, embeddings, attention, pooling, dense, LSTM: one network
  6. `FactoredCategorical`      the action distribution: 3 x 11 movement bins, grab, lock
  7. `ActorCritic`              the policy tower and the critic tower; `model(obs, state, starts)`
  8. `TeamActorCritic`          optional: one ActorCritic per team (the paper's ablation)
  9. the demo at the bottom     one scene, step by step

Run it:
  python attention.py                  walk-through of one scene; writes attention.png (--out PATH)
  python attention.py --bench          forward and training agent-steps/s at the paper's sizes
  python attention.py --bench --precision bf16     the same with bfloat16 autocast

Axis letters: T time steps, N agent rows (worlds x agents), B = T*N rows processed at once,
E entities in the attention set, D features, K attention heads, C channels per head, H hidden.
"""

import argparse
import contextlib
import math
import time
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ENTITY_TYPES = ("agents", "boxes", "ramps")  # order in the attention set; "self" is appended last
MOVE_PARTS, MOVE_BINS = 3, 11  # x force, y force, torque; 11 bins each, bin 5 is zero force
BUTTON_PARTS = 2               # grab and lock, each 0 (off) or 1 (on)
# Feature sizes of the full game (the contract's; env.py owns the real ones): self and other
# agents have 11 features (cos/sin heading), boxes and ramps 15, lidar 30 rays.
FULL_GAME_OBS = {"self": 11, "agents": 11, "boxes": 15, "ramps": 15, "lidar": 30}
TEAM_FLAG = 9  # column of "self" holding the team flag, 1 hider, 0 seeker (env.AGENT_FEATURES)


@dataclass
class NetworkSizes:
    """Sizes of one tower (the policy and the critic use the same). Defaults are the paper's."""
    lidar_filters: int = 9          # circular 1-D conv channels over the lidar rays
    lidar_kernel: int = 3           # conv width in rays (odd, so padding keeps 30 rays)
    embed: int = 128                # width of every entity embedding = attention width
    heads: int = 4                  # attention heads, each embed // heads = 32 channels wide
    dense: int = 256                # dense layer after pooling
    use_lstm: bool = True           # False: a dense layer replaces the LSTM and the state is empty
    lstm: int = 256                 # LSTM hidden size (or the width of the layer replacing it)
    fused_attention: bool = True    # torch's scaled_dot_product_attention: same math, faster
    per_team: bool = False          # True: one policy and critic per team (`TeamActorCritic`),
    #                                 the paper's ablation; False: one for all, the paper's default

    def __post_init__(self):
        if self.embed % self.heads != 0:
            raise ValueError(f"embed={self.embed} must be a multiple of heads={self.heads}")
        if self.lidar_kernel % 2 != 1:
            raise ValueError(f"lidar_kernel={self.lidar_kernel} must be odd (3 in the paper)")


# --------------------------------------------------------------------------------------------
# Attention over objects
# --------------------------------------------------------------------------------------------

def masked_attention(query, key, value, key_mask):
    """softmax(q k^T / sqrt(C)) v, where every query may only look at keys whose mask is True.

    | Symbol   | Shape        | Description                                           |
    |----------|--------------|-------------------------------------------------------|
    | query    | [B, K, E, C] | what each entity looks for, per head                  |
    | key      | [B, K, E, C] | what each entity offers to be found by                |
    | value    | [B, K, E, C] | what each entity passes on when looked at             |
    | key_mask | [B, E] bool  | True: this agent may look at the entity               |
    | returns  | [B, K, E, C], [B, K, E, E] | mixed values, attention weights (rows sum 1) |

    Why -inf and not 0: the softmax is exp(score) / sum(exp(scores)). A score of 0 gives
    exp(0) = 1, as much weight as any ordinary object. A score of -inf gives exp(-inf) = 0
    exactly, and the remaining weights still sum to 1. (Multiplying the weights by the mask
    after the softmax would leave rows that no longer sum to 1.) The mask is one per key, the
    same for every query: hidden objects are never looked at, whoever looks. The agent itself
    is always in the set and never masked, so no row is all -inf (which would give 0/0 = NaN).
    """
    channels = query.shape[-1]   # dividing by sqrt(C) keeps scores of order 1 for any width
    scores = query @ key.transpose(-2, -1) / math.sqrt(channels)   # [B, K, E, E] query i, key j
    scores = scores.masked_fill(~key_mask[:, None, None, :], float("-inf"))
    weights = torch.softmax(scores, dim=-1)                         # [B, K, E, E]
    return weights @ value, weights                                 # [B, K, E, C]


class MaskedResidualSelfAttention(nn.Module):
    """y = LayerNorm(x + dense(attention(LayerNorm(x)))): the paper's one attention block.

    "Self"-attention: queries, keys and values all come from the same set of entities.
    "Residual": the block adds its result to its input, so it starts close to the identity.
    """

    def __init__(self, width, heads, fused=True):
        super().__init__()
        self.heads, self.fused = heads, fused
        self.norm_in = nn.LayerNorm(width)       # before computing queries, keys, values
        self.qkv = nn.Linear(width, 3 * width)   # query, key and value layers, side by side
        self.out = nn.Linear(width, width)       # the "dense" after attention
        self.norm_out = nn.LayerNorm(width)      # post-attention layer norm
        for layer in (self.qkv, self.out):       # paper: Gaussian, std sqrt(0.125 / fan_in)
            nn.init.normal_(layer.weight, std=math.sqrt(0.125 / width))
            nn.init.zeros_(layer.bias)

    def queries_keys_values(self, x):
        """[B, E, D] -> three [B, K, E, C]: every entity's query, key and value in every head."""
        batch, entities, width = x.shape
        qkv = self.qkv(self.norm_in(x))                                 # [B, E, 3D]
        qkv = qkv.view(batch, entities, 3, self.heads, width // self.heads)  # [B, E, 3, K, C]
        return qkv.permute(2, 0, 3, 1, 4).unbind(0)                     # 3 x [B, K, E, C]

    def forward(self, x, mask):
        """x [B, E, D], mask [B, E] bool -> [B, E, D]: each entity updated by what it sees."""
        query, key, value = self.queries_keys_values(x)
        if self.fused:   # one fused kernel; the same arithmetic as the explicit branch
            mixed = F.scaled_dot_product_attention(query, key, value,
                                                   attn_mask=mask[:, None, None, :])
        else:
            mixed, _ = masked_attention(query, key, value, mask)       # [B, K, E, C]
        mixed = mixed.transpose(1, 2).flatten(2)                       # [B, E, D] heads joined
        return self.norm_out(x + self.out(mixed))                      # [B, E, D]

    def weights(self, x, mask):
        """The attention weights [B, K, E, E] that `forward` uses (for the demo and plots)."""
        return masked_attention(*self.queries_keys_values(x), mask)[1]


def masked_mean(x, mask):
    """Average of the entity rows whose mask is True: [B, E, D], [B, E] -> [B, D].

    A mean (not a sum) so the scale does not grow with the number of visible objects; `where`
    (not a multiplication) so that even a non-finite hidden row cannot leak in as NaN.
    """
    kept = torch.where(mask[..., None], x, torch.zeros((), dtype=x.dtype, device=x.device))
    count = mask.sum(dim=1, keepdim=True).to(x.dtype)     # [B, 1], >= 1: self always counts
    return kept.sum(dim=1) / count                        # [B, D]


# --------------------------------------------------------------------------------------------
# One tower: from observation to a feature vector per agent
# --------------------------------------------------------------------------------------------

class Encoding(NamedTuple):
    """What the attention part of a tower computes for B agent rows (kept for tests and demo)."""
    main: torch.Tensor       # [B, D_main] self features and convolved lidar
    entities: torch.Tensor   # [B, E, D] embedded entities: agents, boxes, ramps, self
    mask: torch.Tensor       # [B, E] bool, which entities this tower may look at
    attended: torch.Tensor   # [B, E, D] after the self-attention block
    pooled: torch.Tensor     # [B, D] masked mean over entities


class EntityTower(nn.Module):
    """Lidar conv, entity embeddings, masked residual self-attention, masked mean pooling,
    dense, LSTM. The policy and the critic are two towers of this shape with their own weights;
    they differ only in the mask they read: `visible_*` (policy) or `exists_*` (critic)."""

    def __init__(self, obs_sizes, sizes, mask_prefix):
        super().__init__()
        self.mask_prefix = mask_prefix
        self.entity_types = [kind for kind in ENTITY_TYPES if kind in obs_sizes]
        # Lidar: the 30 rays form a ring (ray 29 is next to ray 0), so the conv wraps around.
        self.lidar_conv = nn.Conv1d(1, sizes.lidar_filters, sizes.lidar_kernel,
                                    padding=sizes.lidar_kernel // 2, padding_mode="circular")
        d_main = obs_sizes["self"] + sizes.lidar_filters * obs_sizes["lidar"]
        # One dense layer per entity type on [main ; entity]; "self" gets one on main alone.
        self.embed = nn.ModuleDict({kind: nn.Linear(d_main + obs_sizes[kind], sizes.embed)
                                    for kind in self.entity_types})
        self.embed["self"] = nn.Linear(d_main, sizes.embed)
        # Not the paper's (env.py's observe_doors): where the room's doors are, added to the
        # self entity's embedding, so a network given them first (--init) can start from zero
        # weights here and act exactly as before.
        self.door_embed = (nn.Linear(obs_sizes["doors"], sizes.embed, bias=False)
                           if "doors" in obs_sizes else None)
        self.attention = MaskedResidualSelfAttention(sizes.embed, sizes.heads,
                                                     sizes.fused_attention)
        self.norm_pooled = nn.LayerNorm(d_main + sizes.embed)
        self.dense = nn.Linear(d_main + sizes.embed, sizes.dense)
        self.norm_dense = nn.LayerNorm(sizes.dense)
        if sizes.use_lstm:
            self.memory = nn.LSTMCell(sizes.dense, sizes.lstm)
        else:
            self.memory = nn.Linear(sizes.dense, sizes.lstm)
        self.norm_memory = nn.LayerNorm(sizes.lstm)
        self.reset_parameters()

    def reset_parameters(self):
        """Paper: Xavier dense layers, zero biases, LSTM forget-gate bias +1."""
        layers = [self.lidar_conv, self.dense, *self.embed.values()]
        if isinstance(self.memory, nn.Linear):
            layers.append(self.memory)
        for layer in layers:
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)
        if self.door_embed is not None:
            nn.init.xavier_uniform_(self.door_embed.weight)
        if isinstance(self.memory, nn.LSTMCell):
            hidden = self.memory.hidden_size
            for name, tensor in self.memory.named_parameters():
                if name.startswith("weight"):
                    nn.init.xavier_uniform_(tensor)
                else:
                    nn.init.zeros_(tensor)
            with torch.no_grad():   # torch orders the gates (input, forget, cell, output)
                self.memory.bias_ih[hidden:2 * hidden] = 1.0

    def main_features(self, obs):
        """Self features joined to the convolved lidar: [B, D_self], [B, L] -> [B, D_main]."""
        lidar = self.lidar_conv(obs["lidar"][:, None, :])        # [B, F, L] F filters per ray
        lidar = torch.relu(lidar).flatten(1)                     # [B, F*L]
        return torch.cat([obs["self"], lidar], dim=-1)           # [B, D_main]

    def embed_entities(self, main, obs):
        """Every entity joined to the agent's own features and embedded by its type's layer.

        Returns the attention set [B, E, D] in the order (agents, boxes, ramps, self) and its
        mask [B, E]. The paper concatenates [main ; entity] and applies a dense layer W. Since
        W [main ; entity] = W_main main + W_entity entity, we multiply the W_main half once per
        agent and add it to every entity, instead of copying main E times: identical numbers,
        less work. The parameters are still the paper's single layer per type.
        """
        d_main = main.shape[-1]
        sets, masks = [], []
        for kind in self.entity_types:                 # a loop over 3 types, not over agents
            layer = self.embed[kind]
            from_main = F.linear(main, layer.weight[:, :d_main], layer.bias)  # [B, D]
            from_entity = F.linear(obs[kind], layer.weight[:, d_main:])       # [B, E_k, D]
            sets.append(torch.relu(from_main[:, None, :] + from_entity))      # [B, E_k, D]
            masks.append(obs[self.mask_prefix + kind])                         # [B, E_k]
        own = self.embed["self"](main)                                         # [B, D]
        if self.door_embed is not None:
            own = own + self.door_embed(obs["doors"])                         # the doors too
        sets.append(torch.relu(own)[:, None, :])                               # [B, 1, D]
        masks.append(torch.ones_like(main[:, :1], dtype=torch.bool))  # self: never masked
        return torch.cat(sets, dim=1), torch.cat(masks, dim=1)        # [B, E, D], [B, E]

    def encode(self, obs):
        """Observation rows -> `Encoding`: embed every entity, attend over objects, pool."""
        main = self.main_features(obs)                     # [B, D_main]
        entities, mask = self.embed_entities(main, obs)    # [B, E, D], [B, E]
        attended = self.attention(entities, mask)          # [B, E, D]
        return Encoding(main, entities, mask, attended, masked_mean(attended, mask))

    def forward(self, obs, steps, h, c, starts):
        """Observation rows [B = T*N, ...] -> features [T, N, H] and the memory after step T-1."""
        encoding = self.encode(obs)
        x = torch.cat([encoding.main, encoding.pooled], dim=-1)         # [B, D_main + D]
        x = self.norm_dense(torch.relu(self.dense(self.norm_pooled(x))))  # [B, dense]
        x = x.view(steps, -1, x.shape[-1])                              # [T, N, dense]
        if isinstance(self.memory, nn.LSTMCell):
            x, h, c = self.unroll_lstm(x, h, c, starts)                 # [T, N, H]
        else:
            x = torch.relu(self.memory(x))                              # [T, N, H], no state
        return self.norm_memory(x), h, c

    def unroll_lstm(self, x, h, c, starts):
        """Run the LSTM along time, zeroing the state of a row where its episode starts.

        A loop over time (10 steps in a training chunk, 1 in a rollout), never over agents.
        `starts[t, n]` True means obs[t] is the first of a new episode for row n: the memory of
        the previous episode is wiped *before* step t is processed.
        """
        outputs = []
        for t in range(x.shape[0]):
            new_episode = starts[t, :, None]                    # [N, 1]
            h = torch.where(new_episode, torch.zeros_like(h), h)
            c = torch.where(new_episode, torch.zeros_like(c), c)
            h, c = self.memory(x[t], (h, c))                    # [N, H] each
            outputs.append(h)
        return torch.stack(outputs), h, c                       # [T, N, H]

    def lstm_from_dense(self, weight, bias, gain=8.0, scale=0.03, gate=4.0):
        """Set this tower's fresh LSTM to do, from an empty memory, what a reactive tower's
        memory layer relu(W x + b) did, up to a scale that the layer norm after it removes.

        Gates (torch's order: input, forget, cell, output), with z = W x + b:
            input  = sigmoid(gain * z)   ~ 1 where z > 0, ~ 0 where z < 0: the relu's switch
            forget = sigmoid(-gate)      ~ 0.02: almost nothing kept from the step before
            cell   = tanh(scale * z)     ~ scale * z (small, so tanh is nearly linear)
            output = sigmoid(gate)       ~ 0.98
        so c = input * cell ~ scale * relu(z) and h = output * tanh(c) ~ 0.98 * scale * relu(z).
        The recurrent weights start at zero: training opens the memory where it pays. Used by
        selfplay.py when `--init` adds the LSTM to a policy trained without one."""
        hidden = self.memory.hidden_size
        i, f, g, o = (slice(k * hidden, (k + 1) * hidden) for k in range(4))
        with torch.no_grad():
            for tensor in (self.memory.weight_ih, self.memory.weight_hh,
                           self.memory.bias_ih, self.memory.bias_hh):
                tensor.zero_()
            self.memory.weight_ih[i], self.memory.bias_ih[i] = gain * weight, gain * bias
            self.memory.bias_ih[f] = -gate
            self.memory.weight_ih[g], self.memory.bias_ih[g] = scale * weight, scale * bias
            self.memory.bias_ih[o] = gate


# --------------------------------------------------------------------------------------------
# The action distribution
# --------------------------------------------------------------------------------------------

class FactoredCategorical:
    """The hide-and-seek action: five independent choices, sampled together.

    x force, y force and torque each pick one of 11 bins (bin 5 is zero); grab and lock each
    pick 0 or 1. The probability of a whole action is the product of the five, so its log is
    the sum of five log-probabilities, and the entropy is the sum of five entropies.

    | Symbol             | Shape        | Description                                  |
    |--------------------|--------------|----------------------------------------------|
    | logits             | [T, N, 37]   | 3 x 11 movement logits, then 2 x 2 for grab, lock |
    | log_prob(actions)  | [T, N]       | actions int64 [T, N, 5]                       |
    | entropy()          | [T, N]       |                                              |
    | sample(), mode()   | [T, N, 5]    | int64: x bin, y bin, torque bin, grab, lock  |
    """

    def __init__(self, logits):
        lead = logits.shape[:-1]
        logits = logits.to(torch.promote_types(logits.dtype, torch.float32))  # bf16 -> fp32
        move, buttons = logits.split([MOVE_PARTS * MOVE_BINS, BUTTON_PARTS * 2], -1)
        self.log_probs = [   # one [T, N, parts, choices] block per group of equal-sized choices
            torch.log_softmax(move.view(*lead, MOVE_PARTS, MOVE_BINS), dim=-1),  # [T, N, 3, 11]
            torch.log_softmax(buttons.view(*lead, BUTTON_PARTS, 2), dim=-1),     # [T, N, 2, 2]
        ]

    def log_prob(self, actions):
        """Sum over the five sub-actions of log p(chosen bin): [T, N, 5] -> [T, N]."""
        expected = (*self.log_probs[0].shape[:-2], MOVE_PARTS + BUTTON_PARTS)
        if tuple(actions.shape) != expected:
            raise ValueError(f"actions has shape {tuple(actions.shape)}, expected {expected} "
                             "(x bin, y bin, torque bin, grab, lock)")
        chosen = actions.split([MOVE_PARTS, BUTTON_PARTS], dim=-1)
        if (actions < 0).any() or (chosen[0] >= MOVE_BINS).any() or (chosen[1] >= 2).any():
            raise ValueError(f"actions out of range: movement bins must be 0..{MOVE_BINS - 1}, "
                             f"grab and lock 0 or 1; got values {actions.unique().tolist()}")
        return sum(logp.gather(-1, a[..., None]).squeeze(-1).sum(-1)
                   for logp, a in zip(self.log_probs, chosen))

    def entropy(self):
        """Sum of the five entropies -sum p log p: [T, N]."""
        return sum(-(logp.exp() * logp).sum(dim=(-2, -1)) for logp in self.log_probs)

    def sample(self):
        """Draw every sub-action from its categorical: [T, N, 5] int64."""
        draws = []
        for logp in self.log_probs:
            flat = logp.exp().reshape(-1, logp.shape[-1])                  # [rows, choices]
            draws.append(torch.multinomial(flat, 1).view(logp.shape[:-1]))  # [T, N, parts]
        return torch.cat(draws, dim=-1)

    def mode(self):
        """The greedy action, each sub-action's most likely choice: [T, N, 5] int64."""
        return torch.cat([logp.argmax(dim=-1) for logp in self.log_probs], dim=-1)


# --------------------------------------------------------------------------------------------
# Policy and omniscient critic
# --------------------------------------------------------------------------------------------

class ActorCritic(nn.Module):
    """The paper's two networks: a policy that sees only what the agent sees, and an
    "omniscient value function" that sees every object that exists. One set of weights drives
    every agent on both teams; the team flag in the self features tells it which side it is on.

    `dist, value, new_state = model(obs, state, starts)`

    | Symbol              | Shape            | Description                                   |
    |---------------------|------------------|-----------------------------------------------|
    | obs["self"]         | [T, N, D_self]   | own features (float)                          |
    | obs["lidar"]        | [T, N, L]        | lidar ranges in metres                        |
    | obs["doors"]        | [T, N, D_doors]  | optional, not the paper's: env observe_doors  |
    | obs[kind]           | [T, N, E_k, D_k] | kind: agents, boxes, ramps (E_k may be 0)     |
    | obs["visible_"kind] | [T, N, E_k] bool | policy mask: in the cone and line of sight    |
    | obs["exists_"kind]  | [T, N, E_k] bool | critic mask: the slot holds a real entity     |
    | state               | [N, S]           | policy h, c, critic h, c; S = 4 * lstm or 0   |
    | starts              | [T, N] bool      | True: obs[t] starts an episode; state zeroed  |
    | dist                | FactoredCategorical | over actions [T, N, 5]                     |
    | value               | [T, N]           | critic's value in normalised units            |
    | new_state           | [N, S]           | state after step T-1                          |
    """

    def __init__(self, obs_sizes, sizes=None):
        super().__init__()
        sizes = sizes or NetworkSizes()
        for key in ("self", "lidar"):
            if key not in obs_sizes:
                raise ValueError(f"obs_sizes {obs_sizes} has no {key!r}; expected keys 'self', "
                                 f"'lidar' and any of {ENTITY_TYPES}")
        self.obs_sizes, self.sizes = dict(obs_sizes), sizes
        self.policy = EntityTower(obs_sizes, sizes, mask_prefix="visible_")
        self.critic = EntityTower(obs_sizes, sizes, mask_prefix="exists_")
        self.action_head = nn.Linear(sizes.lstm, MOVE_PARTS * MOVE_BINS + BUTTON_PARTS * 2)
        self.value_head = nn.Linear(sizes.lstm, 1)
        # Paper: action heads "normalised columns" with scale 0.01, so the first policy is close
        # to uniform over every bin; value head Xavier.
        with torch.no_grad():
            weight = torch.randn_like(self.action_head.weight)        # [37, H]
            self.action_head.weight.copy_(0.01 * weight / weight.norm(dim=1, keepdim=True))
        nn.init.zeros_(self.action_head.bias)
        nn.init.xavier_uniform_(self.value_head.weight)
        nn.init.zeros_(self.value_head.bias)

    @property
    def state_size(self):
        """S: LSTM h and c for the policy and for the critic, or 0 without an LSTM."""
        return 4 * self.sizes.lstm if self.sizes.use_lstm else 0

    def initial_state(self, n):
        """Zeros [n, S]: the memory of an agent at the start of an episode."""
        weight = self.action_head.weight
        return torch.zeros(n, self.state_size, dtype=weight.dtype, device=weight.device)

    def forward(self, obs, state, starts):
        """One call for T steps of N agents; shapes in the class docstring."""
        logits, value, state = self.heads(obs, state, starts)
        return FactoredCategorical(logits), value, state

    def heads(self, obs, state, starts):
        """forward's numbers before they become a distribution: action logits [T, N, 37],
        value [T, N] and the new state [N, S]."""
        steps, rows = check_inputs(obs, state, starts, self.obs_sizes, self.state_size)
        flat = {key: tensor.flatten(0, 1) for key, tensor in obs.items()}  # [B = T*N, ...]
        if self.state_size:
            policy_h, policy_c, critic_h, critic_c = state.chunk(4, dim=-1)  # 4 x [N, lstm]
        else:
            policy_h = policy_c = critic_h = critic_c = state               # [N, 0], unused
        actor, policy_h, policy_c = self.policy(flat, steps, policy_h, policy_c, starts)
        seen, critic_h, critic_c = self.critic(flat, steps, critic_h, critic_c, starts)
        logits = self.action_head(actor)                                   # [T, N, 37]
        dtype = self.value_head.weight.dtype        # float32 results even under bf16 autocast
        value = self.value_head(seen).squeeze(-1).to(dtype)                # [T, N]
        if self.state_size:
            state = torch.cat([policy_h, policy_c, critic_h, critic_c], dim=-1).to(dtype)
        return logits, value, state                                        # state [N, S]


class TeamActorCritic(nn.Module):
    """One ActorCritic per team (`NetworkSizes.per_team`): `hiders` acts and judges for the
    hiders, `seekers` for the seekers, with the same inputs and outputs as one ActorCritic.
    The paper shares one set of weights between both teams and reports that separate ones per
    agent "also reached all six stages but with worse sample efficiency"; we offer this to
    keep what one team has learnt from being overwritten while the other team learns, and to
    start each team from a different checkpoint (selfplay.py's `--init-seekers`).

    Which network reads a row: the team flag of its "self" features (column TEAM_FLAG), above
    zero for hiders. The flag is 1 or 0, and after the observation normaliser (x - mean) / std
    it keeps that order around zero: the mean of a 0/1 flag lies between 0 and 1 once both
    teams have been seen (and is 0 before any update). Each row goes through its team's
    network alone, so a team's loss only moves that team's weights."""

    def __init__(self, obs_sizes, sizes=None):
        super().__init__()
        self.hiders = ActorCritic(obs_sizes, sizes)
        self.seekers = ActorCritic(obs_sizes, sizes)
        self.obs_sizes, self.sizes = self.hiders.obs_sizes, self.hiders.sizes

    @property
    def state_size(self):
        return self.hiders.state_size

    def initial_state(self, n):
        return self.hiders.initial_state(n)

    def forward(self, obs, state, starts):
        """As ActorCritic.forward: each row through its team's network, put back in place."""
        hider = obs["self"][0, :, TEAM_FLAG] > 0                           # [N]: a row's team
        rows, parts = [], []
        for net, mine in ((self.hiders, hider), (self.seekers, ~hider)):
            if mine.any():
                index = mine.nonzero().squeeze(-1)                         # [n] the team's rows
                rows.append(index)
                parts.append(net.heads({key: x[:, index] for key, x in obs.items()},
                                       state[index], starts[:, index]))
        back = torch.argsort(torch.cat(rows))  # row k of the result is row back[k] of the parts
        logits = torch.cat([part[0] for part in parts], dim=1)[:, back]    # [T, N, 37]
        value = torch.cat([part[1] for part in parts], dim=1)[:, back]     # [T, N]
        new_state = torch.cat([part[2] for part in parts], dim=0)[back]    # [N, S]
        return FactoredCategorical(logits), value, new_state


def build_model(obs_sizes, sizes=None):
    """The network for `sizes`: one ActorCritic for every agent, or, with `per_team`, a
    TeamActorCritic."""
    sizes = sizes or NetworkSizes()
    return (TeamActorCritic if sizes.per_team else ActorCritic)(obs_sizes, sizes)


def check_inputs(obs, state, starts, obs_sizes, state_size):
    """Raise a clear error unless every tensor has the shape the network was built for.
    Returns (T, N)."""
    if "self" not in obs or obs["self"].dim() != 3:
        raise ValueError("obs['self'] must exist with shape [T, N, D_self]; got "
                         f"{tuple(obs['self'].shape) if 'self' in obs else 'no such key'}")
    steps, rows = obs["self"].shape[:2]
    expect(obs, "self", (steps, rows, obs_sizes["self"]), "[T, N, D_self]", floating=True)
    expect(obs, "lidar", (steps, rows, obs_sizes["lidar"]), "[T, N, L]", floating=True)
    if "doors" in obs_sizes:
        expect(obs, "doors", (steps, rows, obs_sizes["doors"]), "[T, N, D_doors]", floating=True)
    elif "doors" in obs:
        raise ValueError(f"obs has 'doors' but the network was built without them "
                         f"(obs_sizes {obs_sizes})")
    for kind in ENTITY_TYPES:
        if kind not in obs_sizes:
            if kind in obs:
                raise ValueError(f"obs has {kind!r} but the network was built without it "
                                 f"(obs_sizes {obs_sizes})")
            continue
        count = obs[kind].shape[2] if kind in obs and obs[kind].dim() == 4 else None
        expect(obs, kind, (steps, rows, count, obs_sizes[kind]), "[T, N, E, D]", floating=True)
        for prefix in ("visible_", "exists_"):
            expect(obs, prefix + kind, (steps, rows, count), "[T, N, E]", floating=False)
    expect({"state": state}, "state", (rows, state_size), "[N, S]", floating=True)
    expect({"starts": starts}, "starts", (steps, rows), "[T, N]", floating=False)
    return steps, rows


def expect(tensors, key, shape, letters, floating):
    """Check one tensor's presence, shape and dtype (float features, bool masks)."""
    if key not in tensors:
        raise ValueError(f"obs is missing {key!r}, expected a tensor of shape {letters}")
    tensor = tensors[key]
    if tuple(tensor.shape) != tuple(shape):
        raise ValueError(f"{key} has shape {list(tensor.shape)}, expected {letters} = "
                         f"{['?' if s is None else s for s in shape]}")
    if floating and not tensor.is_floating_point():
        raise ValueError(f"{key} has dtype {tensor.dtype}, expected a float dtype")
    if not floating and tensor.dtype != torch.bool:
        raise ValueError(f"{key} has dtype {tensor.dtype}, expected torch.bool")


def count_parameters(module):
    return sum(p.numel() for p in module.parameters())


# --------------------------------------------------------------------------------------------
# Inputs for tests and benchmarks, and precision settings
# --------------------------------------------------------------------------------------------

def random_observation(obs_sizes, counts, steps, rows, device="cpu", generator=None):
    """A random observation dict [T, N, ...]: features ~ N(0, 1), about half the entities
    visible, all existing. `counts` gives E per entity type, e.g. {"agents": 3, "boxes": 2}."""
    def normal(*shape):
        return torch.randn(*shape, generator=generator).to(device)
    obs = {"self": normal(steps, rows, obs_sizes["self"]),
           "lidar": normal(steps, rows, obs_sizes["lidar"]).abs() * 3.0}   # ranges in metres
    for kind in ENTITY_TYPES:
        if kind in obs_sizes:
            obs[kind] = normal(steps, rows, counts[kind], obs_sizes[kind])
            obs["visible_" + kind] = torch.rand(steps, rows, counts[kind],
                                                generator=generator).to(device) < 0.5
            obs["exists_" + kind] = torch.ones_like(obs["visible_" + kind])
    return obs


def pick_device(name="auto"):
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def precision_context(device, precision):
    """fp32: plain float32. tf32: float32 storage, TensorFloat-32 matmuls on CUDA (set by the
    caller through torch.backends.cuda.matmul.allow_tf32). bf16: autocast runs matrix products
    in bfloat16 (torch keeps precision-sensitive ops such as softmax in float32); the model
    still returns float32 values and state. Measured at init: log-probs move by about 5e-4,
    values by up to 0.05 normalised units, so fp32 stays the CPU default."""
    if precision in ("fp32", "tf32"):
        return contextlib.nullcontext()
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    raise ValueError(f"precision {precision!r} is not one of 'fp32', 'tf32', 'bf16'")


# --------------------------------------------------------------------------------------------
# Benchmark
# --------------------------------------------------------------------------------------------

def time_rate(step, work, seconds, sync):
    """Call `step` repeatedly for about `seconds` after two warm-up calls; return work / s."""
    for _ in range(2):
        step()
    sync()
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step()
        calls += 1
    sync()
    return work * calls / (time.perf_counter() - start)


def benchmark(batch, device, precision, seconds, chunk=10, sizes=None):
    """Agent-steps/s of the actor-critic (paper sizes unless `sizes`) at the full game's largest
    entity counts (3 v 3 agents, 9 boxes, 2 ramps). Forward: policy, critic and sampling for
    one step of `batch` agents, as in a rollout. Training: forward and backward over chunks of
    `chunk` steps (batch // chunk rows), as in PPO."""
    counts = {"agents": 5, "boxes": 9, "ramps": 2}
    model = ActorCritic(FULL_GAME_OBS, sizes or NetworkSizes()).to(device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    torch.backends.cuda.matmul.allow_tf32 = precision != "fp32"   # no effect on the CPU
    print(f"device {device}, precision {precision}, threads {torch.get_num_threads()}, "
          f"parameters {count_parameters(model):,}, entities {counts}")

    obs = random_observation(FULL_GAME_OBS, counts, 1, batch, device)
    state, starts = model.initial_state(batch), torch.zeros(1, batch, dtype=torch.bool,
                                                            device=device)

    def forward():
        with torch.inference_mode(), precision_context(device, precision):
            model(obs, state, starts)[0].sample()

    rows = max(1, batch // chunk)
    train_obs = random_observation(FULL_GAME_OBS, counts, chunk, rows, device)
    train_starts = torch.zeros(chunk, rows, dtype=torch.bool, device=device)
    actions = torch.tensor([MOVE_BINS // 2] * MOVE_PARTS + [0] * BUTTON_PARTS, device=device)
    actions = actions.expand(chunk, rows, -1)                      # the "do nothing" action

    def train():
        with precision_context(device, precision):
            dist, value, _ = model(train_obs, model.initial_state(rows), train_starts)
            loss = -dist.log_prob(actions).mean() + value.square().mean()
        loss.backward()
        model.zero_grad(set_to_none=True)

    train_rate = time_rate(train, chunk * rows, seconds, sync)
    forward_rate = time_rate(forward, batch, seconds, sync)
    print(f"forward+backward agent-steps/s: {train_rate:,.0f}  (chunks of {chunk} x {rows} rows)")
    print(f"policy agent-steps/s: {forward_rate:,.0f}")   # forward, inference: the last line


# --------------------------------------------------------------------------------------------
# Demo: one scene, step by step
# --------------------------------------------------------------------------------------------

# A hand-made scene in the 6 x 6 m arena (no physics needed). Agents: x, y, heading (degrees),
# team (1 hider, 0 seeker). Boxes and ramps: x, y, yaw (degrees), size x, y, z; None = an
# empty padding slot. Viewer: agent 0, a hider looking right.
SCENE_AGENTS = [(1.5, 3.0, 0, 1), (2.2, 1.6, 90, 1), (4.6, 3.4, 180, 0), (0.6, 5.2, -45, 0)]
SCENE_BOXES = [(2.9, 3.5, 0, 0.5, 0.5, 0.5), (3.6, 2.1, 90, 1.65, 0.15, 0.5),
               (0.4, 1.0, 30, 0.5, 0.5, 0.5), None]
SCENE_RAMPS = [(4.3, 4.8, 45, 0.5, 0.5, 0.5)]
CONE_HALF_ANGLE = math.radians(67.5)   # the 135-degree vision cone


def agent_features(x, y, heading_deg, team):
    """x, y, z, cos, sin, vx, vy, vz, spin, team, preparation progress (11)."""
    a = math.radians(heading_deg)
    return [x, y, 0.0, math.cos(a), math.sin(a), 0.0, 0.0, 0.0, 0.0, float(team), 0.5]


def object_features(x, y, yaw_deg, sx, sy, sz):
    """x, y, z, cos, sin, vx, vy, vz, spin, size x, y, z, you/team/object lock (15)."""
    a = math.radians(yaw_deg)
    return [x, y, sz / 2, math.cos(a), math.sin(a), 0, 0, 0, 0, sx, sy, sz, 0, 0, 0]


def in_cone(viewer, x, y):
    """Stand-in for env.py's vision: inside the 135-degree cone (line of sight not checked)."""
    vx, vy, heading, _ = viewer
    bearing = math.atan2(y - vy, x - vx) - math.radians(heading)
    return abs(math.atan2(math.sin(bearing), math.cos(bearing))) <= CONE_HALF_ANGLE


def arena_lidar(x, y, rays=30, size=6.0):
    """Lidar stand-in: distance to the arena's outer wall along each world-frame ray."""
    ranges = []
    for i in range(rays):
        dx, dy = math.cos(2 * math.pi * i / rays), math.sin(2 * math.pi * i / rays)
        hits = [(size - x) / dx if dx > 1e-9 else math.inf, -x / dx if dx < -1e-9 else math.inf,
                (size - y) / dy if dy > 1e-9 else math.inf, -y / dy if dy < -1e-9 else math.inf]
        ranges.append(min(hits))
    return ranges


def scene_observation():
    """The scene as the observation dict [T=1, N=4 agents, ...]; other agents circulantly."""
    rows = {key: [] for key in ("self", "lidar", "agents", "boxes", "ramps", "visible_agents",
                                "visible_boxes", "visible_ramps", "exists_agents",
                                "exists_boxes", "exists_ramps")}
    for i, me in enumerate(SCENE_AGENTS):
        others = [SCENE_AGENTS[(i + k) % len(SCENE_AGENTS)] for k in range(1, len(SCENE_AGENTS))]
        rows["self"].append(agent_features(*me))
        rows["lidar"].append(arena_lidar(me[0], me[1]))
        for kind, items, feats in (("agents", others, agent_features),
                                   ("boxes", SCENE_BOXES, object_features),
                                   ("ramps", SCENE_RAMPS, object_features)):
            rows[kind].append([feats(*o) if o else [0.0] * FULL_GAME_OBS[kind] for o in items])
            rows["exists_" + kind].append([o is not None for o in items])
            rows["visible_" + kind].append([o is not None and in_cone(me, o[0], o[1])
                                            for o in items])
    return {key: torch.tensor([value]) for key, value in rows.items()}   # [1, N, ...]


def entity_names():
    agents = [f"{'hider' if a[3] else 'seeker'} {i}" for i, a in enumerate(SCENE_AGENTS)][1:]
    boxes = [f"box {i}" if b else f"box {i} (pad)" for i, b in enumerate(SCENE_BOXES)]
    return agents + boxes + [f"ramp {i}" for i in range(len(SCENE_RAMPS))] + ["self"]


def print_table(model, flat):
    """Step 1: the entity table of agent 0, the rows the network receives, with both masks."""
    names = entity_names()
    rows = [*flat["agents"][0], *flat["boxes"][0], *flat["ramps"][0], flat["self"][0]]
    visible, exists = model.policy.encode(flat).mask[0], model.critic.encode(flat).mask[0]
    print("\n1. Agent 0's entity table: the rows the network receives (first 5 of D features)")
    print(f"   {'entity':13s} {'x':>5s} {'y':>5s} {'z':>5s} {'cos':>5s} {'sin':>5s} {'D':>3s}"
          "  visible  exists")
    for name, row, vis, ex in zip(names, rows, visible, exists):
        print(f"   {name:13s} " + " ".join(f"{v:5.2f}" for v in row[:5].tolist())
              + f" {len(row):3d}  {int(vis):7d}  {int(ex):6d}")
    print("   visible = policy mask [N, E] row of agent 0 (135-degree cone here; env.py also "
          "checks line\n   of sight); exists = the critic's mask. Self is always 1.")


def print_attention_steps(model, flat):
    """Steps 2-3: shapes through the tower, then one head's scores, mask and softmax."""
    tower, names = model.policy, entity_names()
    encoding = tower.encode(flat)
    query, key, _ = tower.attention.queries_keys_values(encoding.entities)
    print("\n2. Shapes, step by step (B = 4 agents of one world, E = 9 entities incl. self)")
    print(f"   self {list(flat['self'].shape)} + lidar {list(flat['lidar'].shape)} -> circular "
          f"conv -> main {list(encoding.main.shape)}")
    print(f"   each entity joined to main, one dense layer per type -> entities "
          f"{list(encoding.entities.shape)}, mask {list(encoding.mask.shape)}")
    print(f"   queries, keys, values: 3 x {list(query.shape)} [B, K, E, C]; scores [B, K, E, E]")
    print(f"   residual + layer norm -> {list(encoding.attended.shape)}; masked mean -> "
          f"{list(encoding.pooled.shape)}; dense, LSTM -> [T=1, N=4, {model.sizes.lstm}]")
    scores = (query[0, 0, -1] @ key[0, 0].T / math.sqrt(query.shape[-1]))   # [E] head 0
    masked = scores.masked_fill(~encoding.mask[0], float("-inf"))
    print("\n3. Head 0, agent 0's own query against every key")
    print("   " + " " * 8 + "".join(f" {n:>11s}" for n in names))
    for label, row in (("score", scores), ("masked", masked), ("softmax", masked.softmax(-1))):
        print(f"   {label:8s}" + "".join(f"{v:12.3f}" for v in row.tolist()))
    weights = tower.attention.weights(encoding.entities, encoding.mask)[0]   # [K, E, E]
    print("   ... and the weights of the same query in every head:")
    for head in range(weights.shape[0]):
        print(f"   head {head}  " + "".join(f"{w:12.3f}" for w in weights[head, -1].tolist()))
    print("   Hidden and padding keys get exactly 0 (exp(-inf) = 0); each row sums to 1. The "
          "weights are\n   near-uniform because the network is untrained: training sharpens "
          "them.")
    return weights, encoding.mask[0]


def print_promises(model, obs):
    """Show, on the scene, the two promises the tests check: order and hidden objects."""
    state, starts = model.initial_state(4), torch.zeros(1, 4, dtype=torch.bool)
    dist, value, _ = model(obs, state, starts)
    print(f"\n4. The action: greedy action of each agent {dist.mode()[0].tolist()}")
    print(f"   value (normalised) {[round(v, 4) for v in value[0].tolist()]}")
    swapped = {k: v.clone() for k, v in obs.items()}
    for key in ("boxes", "visible_boxes", "exists_boxes"):
        swapped[key] = obs[key].flip(2)                      # reverse the order of the boxes
    order_change = (model(swapped, state, starts)[0].log_probs[0] - dist.log_probs[0]).abs()
    print(f"   boxes listed in reverse order: largest change in log-probs "
          f"{order_change.max():.1e} (zero up to rounding)")
    moved = {k: v.clone() for k, v in obs.items()}
    moved["boxes"][0, 0, 2, :2] += 1.0     # box 2 is behind agent 0: hidden, but it exists
    new_dist, new_value, _ = model(moved, state, starts)
    print(f"   hidden box 2 moved 1 m: agent 0's action log-probs change by "
          f"{(new_dist.log_probs[0] - dist.log_probs[0])[0, 0].abs().max():.1e}, its value by "
          f"{(new_value - value)[0, 0].abs():.1e} (the critic sees it)")


def draw_scene(ax, weights_self):
    """Top-down sketch: agents with heading, viewer's cone, boxes, ramps; lines from agent 0
    to each entity with width proportional to its attention weight (mean over heads)."""
    from matplotlib.patches import Rectangle, Wedge
    from matplotlib.transforms import Affine2D
    arena = ax.add_patch(Rectangle((0, 0), 6, 6, fill=False, lw=2, color="0.3"))
    me = SCENE_AGENTS[0]
    cone = ax.add_patch(Wedge(me[:2], 9.0, me[2] - 67.5, me[2] + 67.5, color="gold", alpha=0.15))
    cone.set_clip_path(arena)
    objects = [(a, "agent") for a in SCENE_AGENTS[1:]] + [(b, "box") for b in SCENE_BOXES] \
        + [(r, "ramp") for r in SCENE_RAMPS]
    for (item, kind), weight, name in zip(objects, weights_self, entity_names()):
        if item is None:
            continue
        visible = in_cone(me, item[0], item[1])
        if weight > 0:
            ax.plot([me[0], item[0]], [me[1], item[1]], color="purple", lw=40 * weight, alpha=0.4)
        if kind == "agent":
            draw_agent(ax, item, alpha=1.0 if visible else 0.35)
        else:
            x, y, yaw, sx, sy, _ = item
            patch = Rectangle((x - sx / 2, y - sy / 2), sx, sy, alpha=0.9 if visible else 0.3,
                              color="saddlebrown" if kind == "box" else "gray",
                              hatch=None if kind == "box" else "//")
            patch.set_transform(Affine2D().rotate_deg_around(x, y, yaw) + ax.transData)
            ax.add_patch(patch)
        ax.annotate(name + ("" if visible else " (hidden)"), item[:2], xytext=(6, 8),
                    textcoords="offset points", fontsize=9)
    draw_agent(ax, me, alpha=1.0)
    ax.annotate("agent 0 (self)", me[:2], xytext=(-20, -22), textcoords="offset points",
                fontsize=9, weight="bold")
    ax.set(xlim=(-0.2, 6.2), ylim=(-0.2, 6.2), aspect="equal", xlabel="x (m)", ylabel="y (m)",
           title="Scene seen by agent 0. Blue: hiders, red: seekers, gold: 135° cone.\n"
                 "Purple line width: attention of agent 0's own query (mean of heads)")


def draw_agent(ax, agent, alpha):
    from matplotlib.patches import Circle
    x, y, heading, team = agent
    color = "tab:blue" if team else "tab:red"
    ax.add_patch(Circle((x, y), 0.15, color=color, alpha=alpha))
    a = math.radians(heading)
    ax.arrow(x, y, 0.3 * math.cos(a), 0.3 * math.sin(a), width=0.03, color=color, alpha=alpha)


def save_figure(weights, mask, path):
    """The scene next to one heatmap per head: row = query entity, column = key entity."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names, heads, cols = entity_names(), weights.shape[0], (weights.shape[0] + 1) // 2
    fig = plt.figure(figsize=(17, 8.5), constrained_layout=True)
    grid = fig.add_gridspec(2, 1 + cols, width_ratios=[1.6] + [1] * cols)
    draw_scene(fig.add_subplot(grid[:, 0]), weights.mean(0)[-1].tolist())
    hidden_key = np.broadcast_to(~mask.numpy(), (len(names),) * 2)     # [E, E] masked columns
    hidden_query = hidden_key.T                                          # rows nobody reads
    for head in range(heads):
        ax = fig.add_subplot(grid[head // cols, 1 + head % cols])
        image = ax.imshow(np.ma.masked_array(weights[head].numpy(), hidden_key), vmin=0)
        ax.imshow(np.where(hidden_key, 1.0, np.nan), cmap="Greys", vmin=0, vmax=3)
        ax.imshow(np.where(hidden_query & ~hidden_key, 0.0, np.nan), cmap="Greys", vmin=0,
                  vmax=1, alpha=0.6)     # white veil: computed, but pooling leaves them out
        ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=8)
        ax.set_yticks(range(len(names)), names, fontsize=8)
        ax.set(title=f"head {head}", xlabel="key (looked at)", ylabel="query (looking)")
        fig.colorbar(image, ax=ax, shrink=0.8, label="attention weight")
    fig.suptitle("Masked self-attention over objects (untrained policy), agent 0. Grey columns: "
                 "hidden or padding keys, weight exactly 0.\nFaded rows: hidden entities' own "
                 "queries, computed but left out of the pooling. Each row sums to 1.", fontsize=13)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def demo(out, seed):
    torch.manual_seed(seed)
    model = ActorCritic(FULL_GAME_OBS, NetworkSizes()).eval()
    print("Entity-attention policy and omniscient critic, paper sizes "
          f"(obs sizes {FULL_GAME_OBS})")
    policy = count_parameters(model.policy) + count_parameters(model.action_head)
    critic = count_parameters(model.critic) + count_parameters(model.value_head)
    print(f"parameters: policy {policy:,}, critic {critic:,}, total {count_parameters(model):,} "
          "(paper: about 1.6M)")
    obs = scene_observation()
    flat = {key: tensor.flatten(0, 1) for key, tensor in obs.items()}   # [B = 1*4, ...]
    with torch.no_grad():
        print_table(model, flat)
        weights, mask = print_attention_steps(model, flat)
        print_promises(model, obs)
    save_figure(weights, mask, out)
    print(f"\nsaved {out}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="attention.png", help="where the demo saves its figure")
    parser.add_argument("--seed", type=int, default=0, help="seed of the untrained weights")
    parser.add_argument("--bench", action="store_true", help="measure agent-steps/s instead")
    parser.add_argument("--batch", type=int, default=None,
                        help="agent rows per call (default 32768 on GPU, 4096 on CPU)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--precision", default=None, choices=["fp32", "tf32", "bf16"],
                        help="default bf16 autocast on GPU, fp32 on CPU")
    parser.add_argument("--seconds", type=float, default=3.0, help="timing per measurement")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's choice, one per core)")
    args = parser.parse_args()
    if args.threads:   # on a busy machine 1 thread can beat 2: idle threads spin-wait
        torch.set_num_threads(args.threads)
    if not args.bench:
        demo(args.out, args.seed)
        return
    device = pick_device(args.device)
    on_gpu = device.type == "cuda"
    benchmark(args.batch or (32768 if on_gpu else 4096), device,
              args.precision or ("bf16" if on_gpu else "fp32"), args.seconds)


if __name__ == "__main__":
    main()
