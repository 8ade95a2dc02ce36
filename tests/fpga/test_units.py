"""Unit models: cycle and byte algebra derived by hand from edgemoe.md §3, memory narrowing."""

from __future__ import annotations

import math

import pytest

from fpga import units as un
from fpga.board import get_board
from fpga.schedule import dedicated_engine
from fpga.spec import ConventionalMath, Units
from fpga.workload import ViTSpec, attention_macs, linear_macs, total_macs

SPEC = ViTSpec()
U = Units()
MEM = un.memory(get_board("zcu102"), U)


def test_zcu102_port_is_narrowed_to_the_128_bit_hp_port():
    assert MEM.port_bytes == 16.0  # 128-bit HP port, clocked at the 300 MHz kernel clock
    assert MEM.latency == 60  # 200 ns at 300 MHz
    assert MEM.ddr_bytes == pytest.approx(21.3e9 / 300e6)


def test_u280_keeps_the_256_bit_kernel_port():
    assert un.memory(get_board("u280"), U).port_bytes == 32.0


# MACs per image written from edgemoe.md §1 (N = 129 tokens, d = 192, 3 heads of 64, 12 layers,
# 6 dense MLPs 192-768-192, 6 MoE layers of top-2 experts 192-384-192 plus a 16 x 192 gate):
N, D = 129, 192
EMBED = 128 * (3 * 16 * 16) * D  # 16x16x3 patches -> d, for the 128 patches
PER_LAYER = 4 * N * D * D + 2 * 3 * N * N * 64  # Q, K, V, projection; Q.K and A.V per head
DENSE = 2 * N * D * 768
MOE = 2 * (2 * N) * D * 384 + N * D * 16  # 2 token-expert pairs per token, and the gate
CLOSED_FORM_MACS = EMBED + 12 * PER_LAYER + 6 * DENSE + 6 * MOE  # 782,719,488


def test_workload_is_about_0_78_gmacs():
    assert SPEC.tokens == 129
    assert total_macs(SPEC) == CLOSED_FORM_MACS
    assert CLOSED_FORM_MACS == pytest.approx(0.78e9, rel=0.01)  # "about 0.78 G MACs per image"
    assert linear_macs(129, 192, 768) == 129 * 192 * 768
    assert attention_macs(SPEC) == (3 * 129 * 129 * 64, 3 * 129 * 129 * 64)


def test_linear_cycles_tokens_times_blocks():
    call = un.linear_call(U, MEM, 129, 192, 192, (16, 16))
    compute = 129 * 12 * 12  # tokens x ceil(out/16) x ceil(in/16)
    assert call.cycles == compute + 60  # transfers (129*192*4/16 = 6192 cycles) hide
    weight_bytes = 192 * 192 * 2 + 192 * 2
    assert call.load == math.ceil(weight_bytes / 16) + 60
    assert call.load_bytes == weight_bytes


def test_expert_weights_are_about_295_kb():
    fc1 = un.linear_call(U, MEM, 10, 192, 384, (16, 16))
    fc2 = un.linear_call(U, MEM, 10, 384, 192, (16, 16))
    # "about 295 KB per expert" (edgemoe.md §3.1): 192 x 384 + 384 x 192 16-bit weights; the
    # 384 + 192 biases are loaded too (2 bytes each)
    assert fc1.load_bytes + fc2.load_bytes - 2 * (384 + 192) == 2 * 192 * 384 * 2 == 294_912


def test_fused_gelu_ii_stalls_each_output_block():
    plain = un.linear_call(U, MEM, 129, 192, 768, (16, 16))
    slow = un.linear_call(U, MEM, 129, 192, 768, (16, 16), gelu_ii=5)
    assert slow.cycles - plain.cycles == 129 * 48 * 4


def test_reordered_attention_matches_the_paper_loop_counts():
    u = Units(attn_p=4)
    qk = un.attention_call(u, MEM, SPEC, "qk", reorder=True, fused_softmax=True)
    compute = math.ceil((129 + 3) / 4) * 129 * (192 // 8)  # 33 batches x N x d/8
    assert compute == 102_168
    k_bytes = 33 * 129 * 192 * 4
    assert qk.demand == pytest.approx(k_bytes / compute)  # 32 B: one 256-bit beat per cycle
    # The 128-bit port makes the K stream the bound: k_bytes / 16 cycles.
    assert qk.cycles == math.ceil(k_bytes / 16) + 60


@pytest.mark.parametrize("p", [1, 2, 4, 8, 16])
def test_bandwidth_constant_with_reordering_linear_without(p):
    u = Units(attn_p=p)
    with_r = un.attention_call(u, MEM, SPEC, "qk", reorder=True, fused_softmax=True)
    without = un.attention_call(u, MEM, SPEC, "qk", reorder=False, fused_softmax=True)
    beat = U.attn_lanes * U.act_bits / 8  # one 8-lane beat per cycle
    assert with_r.demand == pytest.approx(beat)
    n = SPEC.tokens  # p slots each stream N keys; the last query batch is partial
    assert without.demand == pytest.approx(p * beat * (n / p) / math.ceil(n / p))


def test_exact_gelu_latency_from_operator_chain():
    m = ConventionalMath(fmul=1, fadd=1, fdiv=1, fexp=1, fcvt=1)
    # erf: poly 1+1+1+4*2+1 = 12 > exp branch 2; +mul +add = 14; GELU: 2 cvt + 3 mul + add.
    assert un.exact_gelu_latency(m) == 14 + 2 + 3 + 1
    assert un.exact_gelu_ii(ConventionalMath(pipelined=True)) == 1


def test_three_pass_softmax_sum_pass_is_limited_by_float_accumulation():
    m = ConventionalMath()
    calls = un.three_pass_softmax_calls(U, MEM, SPEC, m)
    elems = 129 * 129 * 3
    assert len(calls) == 3
    assert calls[1].cycles == elems * m.fadd + 60


def test_dedicated_engines_share_the_budget():
    # 256 MACs / 5 engines = 51 -> the largest power of two, 32 MACs = 4 in x 8 out (the output
    # side takes the larger power-of-two factor; 16 x 16 when one engine has the whole budget)
    assert dedicated_engine(Units(), 5) == (4, 8)
    assert dedicated_engine(Units(), 1) == (16, 16)


def test_layer_list_macs_equal_the_closed_form():
    from fpga.workload import Routing, layers

    ops = layers(SPEC, Routing(seed=1))
    assert sum(op.macs for op in ops) == CLOSED_FORM_MACS
    assert {op.cascade for op in ops} == {"linear", "edgemoe-softmax", ""}
    assert sum(op.name == "attention" for op in ops) == SPEC.layers
    experts = [op for op in ops if op.name.endswith("_fc1")]
    assert sum(dict(op.extents)["p"] for op in experts) == 6 * 129 * 2  # 2 pairs per token


def test_ping_pong_hides_loads_behind_the_previous_linear_call_and_what_follows():
    from fpga.schedule import exposed_loads

    free = un.Memory(port_bytes=1.0, ddr_bytes=1.0, latency=0)  # the calls move no bytes
    calls = [un.Call("linear", 100, 0, load=30), un.Call("qk", 50, 0),
             un.Call("linear", 10, 0, load=200), un.Call("linear", 10, 0, load=5)]
    # First load: nothing before it. Second: hidden behind 100 + 50. Third: behind 10.
    assert exposed_loads(calls, ping_pong=True, mem=free) == [30, 0, 50, 0]
    assert exposed_loads(calls, ping_pong=False, mem=free) == [30, 0, 200, 5]
