"""Specifications of attention.py: the entity-attention policy and the omniscient critic.

Small networks (a few thousand parameters) so the whole file runs in seconds; only the
parameter-count test builds the paper's sizes.
"""

import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from attention import (ENTITY_TYPES, FULL_GAME_OBS, TEAM_FLAG, ActorCritic,  # noqa: E402
                       FactoredCategorical, MaskedResidualSelfAttention, NetworkSizes,
                       TeamActorCritic, build_model, masked_attention, random_observation)

SMALL = NetworkSizes(lidar_filters=3, embed=16, heads=4, dense=32, lstm=24)
COUNTS = {"agents": 3, "boxes": 4, "ramps": 2}
T, N = 3, 5


def make_model(sizes=SMALL, obs_sizes=FULL_GAME_OBS, seed=0):
    torch.manual_seed(seed)
    return ActorCritic(obs_sizes, sizes).double()   # float64: comparisons limited by math only


def make_obs(steps=T, rows=N, counts=COUNTS, obs_sizes=FULL_GAME_OBS, seed=1):
    obs = random_observation(obs_sizes, counts, steps, rows,
                             generator=torch.Generator().manual_seed(seed))
    return {k: v.double() if v.is_floating_point() else v for k, v in obs.items()}


def run(model, obs, state=None, starts=None):
    steps, rows = obs["self"].shape[:2]
    state = model.initial_state(rows) if state is None else state
    starts = torch.zeros(steps, rows, dtype=torch.bool) if starts is None else starts
    return model(obs, state, starts)


def flat(obs):
    return {k: v.flatten(0, 1) for k, v in obs.items()}


def permute_entities(obs, generator):
    """Shuffle the entities of every type (features and both masks together). Returns the new
    obs and, for the attention set (agents, boxes, ramps, self), the index of each new slot."""
    permuted, order, offset = dict(obs), [], 0
    for kind in ENTITY_TYPES:
        perm = torch.randperm(COUNTS[kind], generator=generator)
        for key in (kind, "visible_" + kind, "exists_" + kind):
            permuted[key] = obs[key][:, :, perm]
        order += (perm + offset).tolist()
        offset += COUNTS[kind]
    return permuted, torch.tensor(order + [offset])   # self stays last


def test_permuting_entities_permutes_their_outputs_and_not_the_pool():
    model, obs = make_model(), make_obs()
    permuted, order = permute_entities(obs, torch.Generator().manual_seed(2))
    before, after = model.policy.encode(flat(obs)), model.policy.encode(flat(permuted))
    torch.testing.assert_close(after.attended, before.attended[:, order])
    torch.testing.assert_close(after.pooled, before.pooled)


def test_permuting_entities_leaves_action_distribution_and_value_unchanged():
    model, obs = make_model(), make_obs()
    permuted, _ = permute_entities(obs, torch.Generator().manual_seed(3))
    (dist, value, _), (dist_p, value_p, _) = run(model, obs), run(model, permuted)
    for logp, logp_p in zip(dist.log_probs, dist_p.log_probs):
        torch.testing.assert_close(logp_p, logp)
    torch.testing.assert_close(value_p, value)


def hide_and_change_box(obs):
    """Box 1 hidden from every agent (it still exists), and its features changed a lot."""
    changed = {k: v.clone() for k, v in obs.items()}
    for o in (obs, changed):
        o["visible_boxes"] = o["visible_boxes"].clone()
        o["visible_boxes"][:, :, 1] = False
    changed["boxes"][:, :, 1] += 5.0 * torch.randn_like(changed["boxes"][:, :, 1])
    return obs, changed


def test_hidden_box_does_not_change_action():
    model = make_model()
    obs, changed = hide_and_change_box(make_obs())
    (dist, _, state), (dist_c, _, state_c) = run(model, obs), run(model, changed)
    for logp, logp_c in zip(dist.log_probs, dist_c.log_probs):
        torch.testing.assert_close(logp_c, logp, rtol=0, atol=1e-12)
    policy_memory = slice(0, 2 * SMALL.lstm)          # policy h and c come first in the state
    torch.testing.assert_close(state_c[:, policy_memory], state[:, policy_memory], rtol=0, atol=0)


def test_omniscient_critic_sees_hidden_box():
    model = make_model()
    obs, changed = hide_and_change_box(make_obs())
    value, value_c = run(model, obs)[1], run(model, changed)[1]
    assert (value_c - value).abs().min() > 1e-6, "every agent's value should react to the box"


def test_only_self_visible_gives_finite_outputs_and_gradients():
    model, obs = make_model(), make_obs()
    for kind in ENTITY_TYPES:
        obs["visible_" + kind] = torch.zeros_like(obs["visible_" + kind])
        obs["exists_" + kind] = torch.zeros_like(obs["exists_" + kind])
    dist, value, state = run(model, obs)
    loss = dist.entropy().sum() + value.sum() + state.sum()
    loss.backward()
    assert all(logp.isfinite().all() for logp in dist.log_probs)
    assert value.isfinite().all() and state.isfinite().all()
    assert all(p.grad.isfinite().all() for p in model.parameters() if p.grad is not None)


@pytest.mark.parametrize("fused", [False, True], ids=["explicit", "fused"])
def test_attention_block_matches_torch_multihead_attention(fused):
    torch.manual_seed(4)
    width, heads, batch, entities = 16, 4, 6, 7
    block = MaskedResidualSelfAttention(width, heads, fused).double()
    reference = torch.nn.MultiheadAttention(width, heads, batch_first=True).double()
    with torch.no_grad():
        reference.in_proj_weight.copy_(block.qkv.weight)
        reference.in_proj_bias.copy_(torch.randn(3 * width))
        block.qkv.bias.copy_(reference.in_proj_bias)
        reference.out_proj.weight.copy_(block.out.weight)
        reference.out_proj.bias.copy_(torch.randn(width))
        block.out.bias.copy_(reference.out_proj.bias)
    x = torch.randn(batch, entities, width, dtype=torch.float64)
    mask = torch.rand(batch, entities) < 0.5
    mask[:, -1] = True                                # self: always visible
    h = block.norm_in(x)
    attended, _ = reference(h, h, h, key_padding_mask=~mask)   # True there means "ignore"
    torch.testing.assert_close(block(x, mask), block.norm_out(x + attended))


def test_masked_keys_get_exactly_zero_weight_and_rows_sum_to_one():
    q, k, v = torch.randn(3, 2, 3, 5, 4, dtype=torch.float64).unbind(0)   # [B=2, K=3, E=5, C=4]
    mask = torch.tensor([[True, False, True, False, True], [False, False, False, False, True]])
    _, weights = masked_attention(q, k, v, mask)
    assert (weights[~mask[:, None, None, :].expand_as(weights)] == 0).all()
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 3, 5, dtype=torch.float64))


def test_split_entity_layer_equals_dense_layer_on_concatenation():
    model, obs = make_model(), flat(make_obs())
    tower = model.policy
    main = tower.main_features(obs)
    entities, _ = tower.embed_entities(main, obs)
    joined = torch.cat([main[:, None, :].expand(-1, COUNTS["boxes"], -1), obs["boxes"]], -1)
    reference = torch.relu(tower.embed["boxes"](joined))           # dense([main ; box])
    start = COUNTS["agents"]
    torch.testing.assert_close(entities[:, start:start + COUNTS["boxes"]], reference)


def test_parameter_count_at_paper_sizes_is_about_1_6_million():
    count = sum(p.numel() for p in ActorCritic(FULL_GAME_OBS, NetworkSizes()).parameters())
    assert abs(count - 1.6e6) <= 0.1 * 1.6e6, f"{count:,} parameters"


def test_state_is_zeroed_where_an_episode_starts():
    model, obs = make_model(), make_obs(steps=6)
    state = torch.randn(N, model.state_size, dtype=torch.float64)
    starts = torch.zeros(6, N, dtype=torch.bool)
    starts[3, :2] = True                                           # rows 0, 1 restart at t=3
    dist, value, new_state = run(model, obs, state, starts)
    tail = {k: v[3:, :2] for k, v in obs.items()}                  # a fresh episode from t=3
    fresh_dist, fresh_value, fresh_state = run(model, tail)
    torch.testing.assert_close(value[3:, :2], fresh_value)
    torch.testing.assert_close(dist.log_probs[0][3:, :2], fresh_dist.log_probs[0])
    torch.testing.assert_close(new_state[:2], fresh_state)


def test_state_carried_between_calls_equals_one_long_call():
    model, obs = make_model(), make_obs(steps=6)
    starts = torch.rand(6, N, generator=torch.Generator().manual_seed(5)) < 0.2
    _, value, state = run(model, obs, starts=starts)
    first = run(model, {k: v[:4] for k, v in obs.items()}, starts=starts[:4])
    second = run(model, {k: v[4:] for k, v in obs.items()}, first[2], starts[4:])
    torch.testing.assert_close(torch.cat([first[1], second[1]]), value)
    torch.testing.assert_close(second[2], state)


def test_network_without_lstm_has_empty_state():
    sizes = NetworkSizes(lidar_filters=3, embed=16, heads=2, dense=32, use_lstm=False, lstm=24)
    model, obs = make_model(sizes), make_obs()
    state = model.initial_state(N)
    assert state.shape == (N, 0)
    dist, value, new_state = run(model, obs, state)
    assert new_state.shape == (N, 0) and value.shape == (T, N)
    assert dist.sample().shape == (T, N, 5)


def test_lstm_set_from_a_dense_layer_outputs_its_relu_from_an_empty_memory():
    """lstm_from_dense: from zero state h = sigmoid(4) tanh(sigmoid(8 z) tanh(0.03 z)), which
    is sigmoid(4) * 0.03 * relu(z) up to the input gate's soft switch (|z sigmoid(8 z) -
    relu(z)| <= 0.035) and the two tanh's bend (under 2% for |z| < 5), z = W x + b."""
    tower = make_model().policy
    weight = 0.7 * torch.randn(SMALL.lstm, SMALL.dense, dtype=torch.float64)
    bias = 0.5 * torch.randn(SMALL.lstm, dtype=torch.float64)
    tower.lstm_from_dense(weight, bias)
    x = torch.randn(200, SMALL.dense, dtype=torch.float64) / SMALL.dense ** 0.5
    zeros = torch.zeros(200, SMALL.lstm, dtype=torch.float64)
    with torch.no_grad():
        h, _ = tower.memory(x, (zeros, zeros))
    z = x @ weight.T + bias
    assert z.abs().max() < 5 and (z < 0).float().mean() > 0.3   # both sides of the switch
    relu_like = h / (0.03 * torch.sigmoid(torch.tensor(4.0, dtype=torch.float64)))
    assert torch.allclose(relu_like, torch.relu(z), rtol=0.02, atol=0.036)


def test_missing_entity_type_and_empty_entity_list_work():
    obs_sizes = {key: size for key, size in FULL_GAME_OBS.items() if key != "ramps"}
    counts = {"agents": 1, "boxes": 0}
    model, obs = make_model(obs_sizes=obs_sizes), make_obs(counts=counts, obs_sizes=obs_sizes)
    dist, value, _ = run(model, obs)
    assert value.shape == (T, N) and value.isfinite().all()
    assert dist.log_prob(dist.mode()).isfinite().all()


@pytest.mark.parametrize("key, corrupt, message", [
    ("boxes", lambda t: t[..., :-1], r"boxes has shape \[3, 5, 4, 14\], expected \[T, N, E, D\]"),
    ("visible_boxes", lambda t: t[..., :-1], r"visible_boxes has shape \[3, 5, 3\]"),
    ("exists_agents", lambda t: t.float(), r"exists_agents has dtype torch.float\d+, expected "
                                           r"torch.bool"),
    ("lidar", lambda t: t[:, :-1], r"lidar has shape \[3, 4, 30\], expected \[T, N, L\]"),
    ("ramps", None, r"obs is missing 'ramps'"),
])
def test_shape_mismatch_raises_error_naming_tensor_and_expected_shape(key, corrupt, message):
    model, obs = make_model(), make_obs()
    if corrupt is None:
        del obs[key]
    else:
        obs[key] = corrupt(obs[key])
    with pytest.raises(ValueError, match=message):
        run(model, obs)


def test_wrong_state_shape_raises_error():
    model, obs = make_model(), make_obs()
    expected = r"state has shape \[5, 3\], expected \[N, S\] = \[5, 96\]"
    with pytest.raises(ValueError, match=expected):
        run(model, obs, torch.zeros(N, 3, dtype=torch.float64))


def test_log_prob_and_entropy_match_torch_categoricals():
    logits = torch.randn(T, N, 37, dtype=torch.float64)
    dist = FactoredCategorical(logits)
    actions = dist.sample()
    parts = [logits[..., 11 * i:11 * (i + 1)] for i in range(3)] + \
        [logits[..., 33:35], logits[..., 35:37]]
    refs = [torch.distributions.Categorical(logits=p) for p in parts]
    torch.testing.assert_close(dist.log_prob(actions),
                               sum(r.log_prob(actions[..., i]) for i, r in enumerate(refs)))
    torch.testing.assert_close(dist.entropy(), sum(r.entropy() for r in refs))


def test_mode_is_argmax_and_samples_are_valid_bins():
    logits = torch.randn(T, N, 37)
    dist = FactoredCategorical(logits)
    mode = dist.mode()
    assert mode.dtype == torch.int64 and mode.shape == (T, N, 5)
    assert torch.equal(mode[..., 0], logits[..., :11].argmax(-1))
    assert torch.equal(mode[..., 4], logits[..., 35:37].argmax(-1))
    samples = torch.stack([dist.sample() for _ in range(20)])
    assert samples[..., :3].max() <= 10 and samples[..., 3:].max() <= 1 and samples.min() >= 0


def test_bf16_autocast_returns_float32_close_to_float32_run():
    torch.manual_seed(0)
    model = ActorCritic(FULL_GAME_OBS, SMALL)
    obs = random_observation(FULL_GAME_OBS, COUNTS, T, N,
                             generator=torch.Generator().manual_seed(1))
    dist, value, state = run(model, obs)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        dist_bf, value_bf, state_bf = run(model, obs)
    assert value_bf.dtype == state_bf.dtype == dist_bf.log_probs[0].dtype == torch.float32
    torch.testing.assert_close(value_bf, value, rtol=0, atol=0.1)
    torch.testing.assert_close(dist_bf.log_probs[0], dist.log_probs[0], rtol=0, atol=0.01)


def team_obs(hider_rows):
    """make_obs with the team flag set as the normaliser leaves it: above zero for hiders."""
    obs = make_obs(rows=len(hider_rows))
    obs["self"][..., TEAM_FLAG] = torch.where(torch.tensor(hider_rows), 0.7, -1.4).double()
    return obs


def test_team_flag_column_is_envs_team_flag():
    import env
    assert env.AGENT_FEATURES[TEAM_FLAG].startswith("team flag")


def test_per_team_network_gives_each_row_its_own_teams_network():
    torch.manual_seed(0)
    model = build_model(FULL_GAME_OBS, replace(SMALL, per_team=True)).double()
    assert isinstance(model, TeamActorCritic)
    hider = [True, False, False, True, False]
    obs = team_obs(hider)
    state = torch.randn(N, model.state_size, dtype=torch.float64)
    starts = torch.zeros(T, N, dtype=torch.bool)
    dist, value, new_state = model(obs, state, starts)
    for net, rows in ((model.hiders, [0, 3]), (model.seekers, [1, 2, 4])):
        alone = net({k: v[:, rows] for k, v in obs.items()}, state[rows], starts[:, rows])
        for got, want in zip(dist.log_probs, alone[0].log_probs):
            assert torch.allclose(got[:, rows], want)
        assert torch.allclose(value[:, rows], alone[1])
        assert torch.allclose(new_state[rows], alone[2])


def test_per_team_network_moves_only_the_weights_of_the_team_whose_loss_it_is():
    torch.manual_seed(0)
    model = TeamActorCritic(FULL_GAME_OBS, SMALL).double()
    hider = [True, False, True, False, False]
    dist, value, _ = run(model, team_obs(hider))
    (value[:, [0, 2]].sum() + dist.entropy()[:, [0, 2]].sum()).backward()  # hiders' rows only
    assert all(p.grad is not None and p.grad.abs().sum() > 0
               for p in (model.hiders.action_head.weight, model.hiders.value_head.weight))
    assert all(p.grad is None or not p.grad.any() for p in model.seekers.parameters())
