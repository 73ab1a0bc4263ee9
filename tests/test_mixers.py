"""Bidirectional around stateless sequence mixers: each direction against per-sequence runs.

The toy mixers are written here (no dependency): a causal depthwise convolution, a minGRU-style
scan (a Python loop over time), causal linear attention, and a varlen causal convolution that
resets at each segment boundary. The reference runs each sequence alone, unpadded: the forward
module on it, the backward module on it flipped.
"""

from __future__ import annotations

import copy
import functools
import itertools
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch._dynamo.testing import CompileCounterWithBackend

import birnn_utils.nn
from birnn_utils import (
    Bidirectional,
    Directions,
    MergeMode,
    cu_seqlens_to_seq_idx,
    lengths_to_cu_seqlens,
    padded_to_varlen,
)

from .reference import MERGED

DTYPE = torch.float64
DIM = 3


class CausalConv(nn.Module):
    """A causal depthwise convolution, ``B x T x D``."""

    def __init__(self, dim: int = DIM, kernel: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv1d(dim, dim, kernel, groups=dim, padding=kernel - 1, dtype=DTYPE)

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.conv(x.transpose(1, 2))
        return out[..., : x.shape[1]].transpose(1, 2)


class MinGRU(nn.Module):
    """A minGRU-style scan, ``h_t = (1 - z_t) h_{t-1} + z_t c_t``, a Python loop over time."""

    def __init__(self, dim: int = DIM) -> None:
        super().__init__()
        self.gate = nn.Linear(dim, dim, dtype=DTYPE)
        self.candidate = nn.Linear(dim, dim, dtype=DTYPE)

    def forward(self, x: Tensor, scale: float = 1.0) -> Tensor:
        z, c = torch.sigmoid(self.gate(x)), self.candidate(x) * scale
        h = x.new_zeros(x.shape[0], x.shape[2])
        outputs = []
        for t in range(x.shape[1]):
            h = (1 - z[:, t]) * h + z[:, t] * c[:, t]
            outputs.append(h)
        return torch.stack(outputs, 1) if outputs else x.new_zeros(x.shape)


class LinearAttention(nn.Module):
    """Causal linear attention with the ``elu + 1`` feature map, by cumulative sums."""

    def __init__(self, dim: int = DIM) -> None:
        super().__init__()
        self.qkv = nn.Linear(dim, 3 * dim, dtype=DTYPE)

    def forward(self, x: Tensor) -> Tensor:
        q, k, v = self.qkv(x).chunk(3, -1)
        q, k = F.elu(q) + 1, F.elu(k) + 1
        state = torch.einsum("btd,bte->btde", k, v).cumsum(1)
        numerator = torch.einsum("btd,btde->bte", q, state)
        return numerator / torch.einsum("btd,btd->bt", q, k.cumsum(1)).unsqueeze(-1)


class VarlenCausalConv(nn.Module):
    """A causal depthwise convolution over ``(1, total, D)`` that restarts at each segment."""

    def __init__(self, dim: int = DIM, kernel: int = 3) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(kernel, dim, dtype=DTYPE))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.weight)

    def forward(self, x: Tensor, *, cu_seqlens: Tensor) -> Tensor:
        tokens = x[0]
        total = tokens.shape[0]
        cu = cu_seqlens.long()
        position = torch.arange(total)
        step = position - cu[torch.searchsorted(cu[1:], position, right=True)]
        out = torch.zeros_like(tokens)
        for lag in range(min(self.weight.shape[0], total)):  # a loop over the taps only
            shifted = torch.cat([tokens.new_zeros(lag, tokens.shape[1]), tokens[: total - lag]])
            out = out + torch.where((step >= lag).unsqueeze(1), shifted * self.weight[lag], 0)
        return out.unsqueeze(0)


class VarlenRNN(nn.Module):
    """An ``nn.RNN``-style module over ``(1, total, D)``: ``(output, h_n)``, ``h_n`` per sequence.

    A tanh RNN cell restarting at each segment from that sequence's row of ``h`` (``1 x B x D``);
    an empty sequence keeps its row. A Python loop over the tokens: a reference, not a kernel.
    """

    def __init__(self, dim: int = DIM) -> None:
        super().__init__()
        self.cell = nn.RNNCell(dim, dim, dtype=DTYPE)

    def forward(
        self, x: Tensor, h: Tensor | None = None, *, cu_seqlens: Tensor
    ) -> tuple[Tensor, Tensor]:
        tokens, cu = x[0], cu_seqlens.tolist()
        h_0 = x.new_zeros(len(cu) - 1, x.shape[-1]) if h is None else h[0]
        outputs: list[Tensor] = []
        finals = list(h_0.unbind(0))
        for b, (start, end) in enumerate(itertools.pairwise(cu)):
            for t in range(start, end):
                previous = h_0[b] if t == start else outputs[-1]
                outputs.append(self.cell(tokens[t : t + 1], previous.unsqueeze(0))[0])
                finals[b] = outputs[-1]
        output = torch.stack(outputs) if outputs else tokens.new_zeros(0, x.shape[-1])
        return output.unsqueeze(0), (torch.stack(finals) if finals else h_0).unsqueeze(0)


class ToyMamba2(nn.Module):
    """A Mamba2-like block with ``mamba_ssm``'s ``Mamba2.forward`` signature.

    ``in_proj -> causal depthwise conv -> SiLU -> gated linear scan, gated by SiLU(z) ->
    out_proj``. The convolution and the scan both restart where ``seq_idx`` changes, as the
    real block's ``causal_conv1d`` and chunked scan do; without ``seq_idx`` each row of a
    ``B x T x D`` batch is one sequence. The scan is a Python loop over time.
    """

    def __init__(self, dim: int = DIM, kernel: int = 3) -> None:
        super().__init__()
        self.in_proj = nn.Linear(dim, 2 * dim, dtype=DTYPE)
        self.conv_weight = nn.Parameter(torch.randn(kernel, dim, dtype=DTYPE) / kernel)
        self.to_decay = nn.Linear(dim, dim, dtype=DTYPE)
        self.out_proj = nn.Linear(dim, dim, dtype=DTYPE)

    def reset_parameters(self) -> None:
        nn.init.normal_(self.conv_weight, std=1 / self.conv_weight.shape[0])

    def forward(
        self,
        u: Tensor,
        seqlen: int | None = None,
        seq_idx: Tensor | None = None,
        cu_seqlens: Tensor | None = None,
        inference_params: Any = None,
    ) -> Tensor:
        batch, steps = u.shape[:2]
        if seq_idx is None:
            seq_idx = u.new_zeros(batch, steps, dtype=torch.int32)
        assert seq_idx.dtype == torch.int32 and seq_idx.shape == (batch, steps)
        x, z = self.in_proj(u).chunk(2, -1)
        conv = torch.zeros_like(x)
        for lag in range(min(self.conv_weight.shape[0], steps)):  # a loop over the taps
            shifted = F.pad(x, (0, 0, lag, 0))[:, :steps]
            same = seq_idx == F.pad(seq_idx, (lag, 0), value=-1)[:, :steps]
            conv = conv + torch.where(same.unsqueeze(-1), shifted * self.conv_weight[lag], 0)
        x = F.silu(conv)
        decay = torch.sigmoid(self.to_decay(x))
        h, outputs = x.new_zeros(batch, x.shape[-1]), []
        for t in range(steps):
            if t:  # a new sequence starts from zeros
                h = torch.where((seq_idx[:, t] == seq_idx[:, t - 1]).unsqueeze(-1), h, 0)
            h = decay[:, t] * h + (1 - decay[:, t]) * x[:, t]
            outputs.append(h)
        y = torch.stack(outputs, 1) if outputs else torch.zeros_like(x)
        out: Tensor = self.out_proj(y * F.silu(z))
        return out


MIXERS = {
    "conv": CausalConv,
    "mingru": MinGRU,
    "linear_attention": LinearAttention,
    "mamba2": ToyMamba2,
}
LENGTHS = [3, 6, 1, 0, 6]  # unsorted, with 1, T and 0
STEPS = 6


def make_input(batch: int = len(LENGTHS), steps: int = STEPS) -> Tensor:
    return torch.randn(batch, steps, DIM, generator=torch.Generator().manual_seed(1), dtype=DTYPE)


def wrap(kind: str, tying: str, merge: MergeMode | None = "concat") -> Bidirectional:
    torch.manual_seed(0)
    module = MIXERS[kind]()
    if tying == "untied":
        return Bidirectional(module, merge=merge, batch_first=True)
    return Bidirectional(
        module, module, merge=merge, batch_first=True, batch_directions=tying == "tied"
    )


def per_sequence(
    forward: Callable[[Tensor], Tensor],
    backward: Callable[[Tensor], Tensor],
    x: Tensor,
    lengths: list[int],
    merge: str | None,
) -> Any:
    """Each sequence alone, unpadded; zeros at padding."""
    forward_out, backward_out = torch.zeros_like(x), torch.zeros_like(x)
    for b, n in enumerate(lengths):
        if n:
            row = x[b : b + 1, :n]
            forward_out[b, :n] = forward(row)[0]
            backward_out[b, :n] = backward(row.flip(1)).flip(1)[0]
    return MERGED[merge](forward_out, backward_out)


def as_compared(output: Any) -> Any:
    return tuple(output) if isinstance(output, Directions) else output


@pytest.mark.parametrize("kind", sorted(MIXERS))
@pytest.mark.parametrize("tying", ["untied", "tied", "tied_two_calls"])
@pytest.mark.parametrize("merge", ["concat", "sum", "mean", "mul", "stack", None])
def test_each_direction_equals_per_sequence_runs(
    kind: str, tying: str, merge: MergeMode | None
) -> None:
    bi = wrap(kind, tying, merge)
    x = make_input()
    expected = per_sequence(bi.forward_module, bi.backward_module, x, LENGTHS, merge)
    torch.testing.assert_close(as_compared(bi(x, lengths=LENGTHS)), expected)
    full = per_sequence(bi.forward_module, bi.backward_module, x, [STEPS] * len(LENGTHS), merge)
    torch.testing.assert_close(as_compared(bi(x)), full)


@pytest.mark.parametrize("tying", ["untied", "tied", "tied_two_calls"])
def test_varlen_each_segment_equals_its_own_run(tying: str) -> None:
    torch.manual_seed(0)
    module = VarlenCausalConv()
    bi = (
        Bidirectional(module, batch_first=True)
        if tying == "untied"
        else Bidirectional(module, module, batch_first=True, batch_directions=tying == "tied")
    )
    x = make_input()
    flat, cu = padded_to_varlen(x, LENGTHS, batch_first=True)
    output = bi(flat, cu_seqlens=cu)
    assert output.shape == (1, sum(LENGTHS), 2 * DIM)

    def alone(module: nn.Module, row: Tensor) -> Tensor:
        out: Tensor = module(row.unsqueeze(0), cu_seqlens=torch.tensor([0, row.shape[0]]))
        return out[0]

    expected = []
    for b, n in enumerate(LENGTHS):
        row = x[b, :n]
        backward = alone(bi.backward_module, row.flip(0)).flip(0)
        expected.append(torch.cat([alone(bi.forward_module, row), backward], -1))
    torch.testing.assert_close(output[0], torch.cat(expected))


class Recorder:
    """Counts a module's calls and records the row count and cu_seqlens of each."""

    def __init__(self, module: nn.Module) -> None:
        self.calls: list[tuple[tuple[int, ...], Tensor | None]] = []
        module.register_forward_pre_hook(self.hook, with_kwargs=True)

    def hook(self, module: nn.Module, args: Any, kwargs: Any) -> None:
        x = args[0]
        shape = tuple(x.shape) if isinstance(x, Tensor) else tuple(x.data.shape)
        self.calls.append((shape, kwargs.get("cu_seqlens")))


@pytest.mark.parametrize("kind", ["mingru", "varlen"])
def test_a_tied_module_runs_once_on_both_directions(kind: str) -> None:
    torch.manual_seed(0)
    module = VarlenCausalConv() if kind == "varlen" else MinGRU()
    recorder = Recorder(module)
    x = make_input()
    args: dict[str, Any] = {"lengths": LENGTHS}
    if kind == "varlen":
        x, cu = padded_to_varlen(x, LENGTHS, batch_first=True)
        args = {"cu_seqlens": cu}
    one_call = Bidirectional(module, module, batch_first=True)(x, **args)
    assert len(recorder.calls) == 1
    shape, cu_given = recorder.calls[0]
    if kind == "varlen":
        assert shape == (1, 2 * sum(LENGTHS), DIM)
        total = sum(LENGTHS)
        assert cu_given is not None
        assert cu_given.tolist() == cu.tolist() + [total + c for c in cu.tolist()[1:]]
    else:
        assert shape == (2 * len(LENGTHS), STEPS, DIM)
    recorder.calls.clear()
    two_calls = Bidirectional(module, module, batch_first=True, batch_directions=False)(x, **args)
    assert [shape for shape, _ in recorder.calls] == [tuple(x.shape)] * 2
    torch.testing.assert_close(one_call, two_calls)


def test_tying_lists_parameters_once_and_adds_gradients() -> None:
    torch.manual_seed(0)
    module = MinGRU()
    tied = Bidirectional(module, module, batch_first=True)
    assert all(p is q for p, q in zip(tied.parameters(), module.parameters(), strict=True))
    assert sum(p.numel() for p in tied.parameters()) == sum(p.numel() for p in module.parameters())
    untied = Bidirectional(copy.deepcopy(module), copy.deepcopy(module), batch_first=True)
    x = make_input()
    tied(x, lengths=LENGTHS).pow(2).sum().backward()
    untied(x, lengths=LENGTHS).pow(2).sum().backward()
    for name, param in module.named_parameters():
        f, b = (m.get_parameter(name).grad for m in (untied.forward_module, untied.backward_module))
        assert f is not None and b is not None and param.grad is not None
        torch.testing.assert_close(param.grad, f + b)


class Projected(nn.Module):
    """A mixer between input and output projections, which Caduceus shares between directions."""

    def __init__(self, in_proj: nn.Linear, out_proj: nn.Linear) -> None:
        super().__init__()
        self.in_proj, self.out_proj, self.mixer = in_proj, out_proj, CausalConv(2 * DIM)

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.out_proj(self.mixer(self.in_proj(x)))
        return out


def test_partial_tying_shares_the_projections() -> None:
    torch.manual_seed(0)
    in_proj = nn.Linear(DIM, 2 * DIM, dtype=DTYPE)
    out_proj = nn.Linear(2 * DIM, DIM, dtype=DTYPE)
    forward, backward = Projected(in_proj, out_proj), Projected(in_proj, out_proj)
    bi = Bidirectional(forward, backward, merge="sum", batch_first=True)
    shared = sum(p.numel() for p in (*in_proj.parameters(), *out_proj.parameters()))
    conv = sum(p.numel() for p in forward.mixer.parameters())
    assert sum(p.numel() for p in bi.parameters()) == shared + 2 * conv
    x = make_input()
    output = bi(x, lengths=LENGTHS)
    torch.testing.assert_close(output, per_sequence(forward, backward, x, LENGTHS, "sum"))
    output.pow(2).sum().backward()
    separate = Bidirectional(
        copy.deepcopy(forward), copy.deepcopy(backward), merge="sum", batch_first=True
    )
    separate(x, lengths=LENGTHS).pow(2).sum().backward()
    for name in ("in_proj.weight", "out_proj.bias"):
        parts = [m.get_parameter(name).grad for m in separate.children()]
        assert parts[0] is not None and parts[1] is not None
        torch.testing.assert_close(forward.get_parameter(name).grad, parts[0] + parts[1])


def test_kwargs_reach_both_modules() -> None:
    torch.manual_seed(0)
    module = MinGRU()
    x = make_input()
    for bi in (
        Bidirectional(module, batch_first=True),
        Bidirectional(module, module, batch_first=True),
    ):
        forward = functools.partial(bi.forward_module, scale=2.0)
        backward = functools.partial(bi.backward_module, scale=2.0)
        expected = per_sequence(forward, backward, x, LENGTHS, "concat")
        torch.testing.assert_close(bi(x, lengths=LENGTHS, scale=2.0), expected)


def test_tied_recurrent_modules_run_once_and_stay_exact() -> None:
    torch.manual_seed(0)
    gru = nn.GRU(DIM, 4, batch_first=True, dtype=DTYPE)
    recorder = Recorder(gru)
    x = make_input()
    h = torch.randn(2, 1, len(LENGTHS), 4, dtype=DTYPE).unbind(0)
    tied = Bidirectional(gru, gru)(x, Directions(*h), lengths=LENGTHS)
    assert len(recorder.calls) == 1  # the non-empty rows of both directions, packed together
    assert recorder.calls[0][0] == (2 * sum(LENGTHS), DIM)
    recorder.calls.clear()
    twin = copy.deepcopy(gru)
    separate = Bidirectional(gru, twin)(x, Directions(*h), lengths=LENGTHS)
    torch.testing.assert_close(tied[0], separate[0])
    torch.testing.assert_close(tuple(tied[1]), tuple(separate[1]))
    recorder.calls.clear()
    tied = Bidirectional(gru, gru)(x, Directions(*h))  # no lengths: one unpacked call on 2B rows
    assert [shape for shape, _ in recorder.calls] == [(2 * len(LENGTHS), STEPS, DIM)]
    separate = Bidirectional(gru, twin)(x, Directions(*h))
    torch.testing.assert_close(tied[0], separate[0])
    torch.testing.assert_close(tuple(tied[1]), tuple(separate[1]))


def test_gradcheck() -> None:
    bi = wrap("mingru", "tied")
    x = make_input(batch=3, steps=3).requires_grad_()
    assert torch.autograd.gradcheck(lambda x: bi(x, lengths=[3, 0, 2]), (x,))
    torch.manual_seed(0)
    module = VarlenCausalConv()
    varlen = Bidirectional(module, module, batch_first=True)
    cu = lengths_to_cu_seqlens([3, 0, 2])
    flat = torch.randn(1, 5, DIM, dtype=DTYPE, requires_grad=True)
    assert torch.autograd.gradcheck(lambda f: varlen(f, cu_seqlens=cu), (flat,))


def test_does_not_mutate_arguments() -> None:
    bi = wrap("conv", "tied")
    x = make_input()
    lengths = torch.tensor(LENGTHS)
    flat, cu = padded_to_varlen(x, lengths, batch_first=True)
    torch.manual_seed(0)
    module = VarlenCausalConv()
    copies = [t.clone() for t in (x, lengths, flat, cu)]
    bi(x, lengths=lengths)
    Bidirectional(module, module, batch_first=True)(flat, cu_seqlens=cu)
    assert all(torch.equal(a, b) for a, b in zip((x, lengths, flat, cu), copies, strict=True))


def test_bad_arguments() -> None:
    bi = wrap("conv", "untied")
    x = make_input()
    with pytest.raises(TypeError, match=r"Bidirectional: `hx` must be None for a stateless mixer"):
        bi(x, Directions(torch.zeros(1), torch.zeros(1)))

    class TakesAnything(CausalConv):
        def forward(self, x: Tensor, *args: Any) -> Tensor:
            return super().forward(x)

    with pytest.raises(TypeError, match=r"`hx` must be None for a stateless mixer \(the modules"):
        Bidirectional(TakesAnything(), batch_first=True)(x, Directions(x, x))
    with pytest.raises(
        ValueError,
        match=r"Bidirectional: `batch_first` is None and neither module has .*CausalConv",
    ):
        Bidirectional(CausalConv())
    with pytest.raises(ValueError, match=r"`batch_first` \(=True\) differs from the modules' "):
        Bidirectional(nn.GRU(3, 4), batch_first=True)
    with pytest.raises(TypeError, match=r"Bidirectional: `batch_directions` must be a bool"):
        Bidirectional(CausalConv(), batch_first=True, batch_directions=1)  # type: ignore[arg-type]
    with pytest.raises(
        ValueError, match=r"Bidirectional: pass `lengths` or `cu_seqlens`, not both"
    ):
        bi(x, lengths=LENGTHS, cu_seqlens=torch.tensor([0, 3]))
    flat, cu = padded_to_varlen(x, LENGTHS, batch_first=True)
    with pytest.raises(ValueError, match=r"Bidirectional: `cu_seqlens` must end at the number of"):
        bi(flat, cu_seqlens=cu[:-1])
    with pytest.raises(ValueError, match=r"Bidirectional: a varlen `input` with batch_first=True"):
        bi(flat[0], cu_seqlens=cu)

    class Listed(nn.Module):
        def forward(self, x: Tensor) -> list[Tensor]:
            return [x]

    with pytest.raises(TypeError, match=r"Bidirectional: `forward` returned list; expected a"):
        Bidirectional(Listed(), batch_first=True)(x)

    class Stateful(nn.Module):
        def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
            return x, x[:, -1]  # a state with the batch on dim 0

    module = Stateful()
    with pytest.raises(ValueError, match=r"the tied module's state must have the batch on dim 1"):
        Bidirectional(module, module, batch_first=True)(x)
    _, state = Bidirectional(module, module, batch_first=True, batch_directions=False)(x)
    torch.testing.assert_close(state.backward, x.flip(1)[:, -1])
    with pytest.raises(TypeError, match=r"must follow the same convention"):
        Bidirectional(module, CausalConv(), batch_first=True)(x)


def test_native_modules_take_no_keyword_arguments() -> None:
    bi = Bidirectional(nn.GRU(DIM, 4, batch_first=True, dtype=DTYPE))
    with pytest.raises(
        TypeError, match=r"Bidirectional: GRU takes no keyword arguments, got 'scale'"
    ):
        bi(make_input(), lengths=LENGTHS, scale=2.0)


def tie(module: nn.Module, tying: str) -> Bidirectional:
    """``module`` in a Bidirectional: untied (a fresh copy backwards), tied, or tied in 2 calls."""
    if tying == "untied":
        return Bidirectional(module, batch_first=True)
    return Bidirectional(module, module, batch_first=True, batch_directions=tying == "tied")


def varlen_per_sequence(forward: nn.Module, backward: nn.Module, x: Tensor) -> Tensor:
    """Each sequence of ``x`` (``LENGTHS``) alone, ``(1, n, D)``, without ``seq_idx``, as varlen."""
    parts = [
        torch.cat([forward(row)[0], backward(row.flip(1)).flip(1)[0]], -1)
        for row in (x[b : b + 1, :n] for b, n in enumerate(LENGTHS) if n)
    ]
    return torch.cat(parts).unsqueeze(0)


@pytest.mark.parametrize("tying", ["untied", "tied", "tied_two_calls"])
def test_a_mamba2_like_block_gets_each_call_s_seq_idx(tying: str) -> None:
    """#20: a Mamba2 block finds the sequences of a varlen batch in ``seq_idx``, not cu_seqlens."""
    torch.manual_seed(0)
    bi = tie(ToyMamba2(), tying)
    x = make_input()
    flat, cu = padded_to_varlen(x, LENGTHS, batch_first=True)
    seen: list[Tensor] = []

    def record(module: nn.Module, args: Any, kwargs: dict[str, Any]) -> None:
        seen.append(kwargs["seq_idx"])

    hooks = {bi.forward_module, bi.backward_module}
    handles = [m.register_forward_pre_hook(record, with_kwargs=True) for m in hooks]
    output = bi(flat, cu_seqlens=cu)
    for handle in handles:
        handle.remove()
    expected = varlen_per_sequence(bi.forward_module, bi.backward_module, x)
    torch.testing.assert_close(output, expected)
    total, batch = sum(LENGTHS), len(LENGTHS)
    if tying == "tied":  # one call on 2 * total tokens: the second copy's sequences are B..2B-1
        index = [b for b, n in enumerate(LENGTHS) for _ in range(n)]
        assert [s.tolist() for s in seen] == [[index + [b + batch for b in index]]]
        doubled = torch.cat([cu, cu[1:] + total])
        assert torch.equal(seen[0], cu_seqlens_to_seq_idx(doubled))
    else:
        assert len(seen) == 2 and all(torch.equal(s, cu_seqlens_to_seq_idx(cu)) for s in seen)
    # The test can fail: without seq_idx the block reads the tokens as one sequence.
    assert not torch.allclose(bi.forward_module(flat), output[..., :DIM])


def test_seq_idx_is_derived_from_cu_seqlens_never_passed() -> None:
    torch.manual_seed(0)
    module = ToyMamba2()
    x = make_input()
    flat, cu = padded_to_varlen(x, LENGTHS, batch_first=True)
    message = (
        r"Bidirectional: `seq_idx` must not be passed: Bidirectional derives each call's "
        r"`seq_idx` from `cu_seqlens`"
    )
    for bi in (tie(module, "tied"), tie(module, "untied")):
        with pytest.raises(ValueError, match=message):
            bi(flat, cu_seqlens=cu, seq_idx=cu_seqlens_to_seq_idx(cu))
        with pytest.raises(ValueError, match=message):
            bi(x, lengths=LENGTHS, seq_idx=None)

    class TakesAnyKeyword(VarlenCausalConv):
        """``**kwargs`` is not a ``seq_idx`` parameter: such a module gets none."""

        def forward(self, x: Tensor, **kwargs: Any) -> Tensor:
            assert set(kwargs) == {"cu_seqlens"}
            return super().forward(x, cu_seqlens=kwargs["cu_seqlens"])

    conv = TakesAnyKeyword()
    Bidirectional(conv, conv, batch_first=True)(flat, cu_seqlens=cu)


@pytest.mark.parametrize("with_hx", [False, True])
def test_tied_varlen_recurrent_states_are_split_per_sequence(with_hx: bool) -> None:
    """#18: the tied call's states were split at the token count, not the sequence count."""
    torch.manual_seed(0)
    module = VarlenRNN()
    x = make_input()
    flat, cu = padded_to_varlen(x, LENGTHS, batch_first=True)
    batch = len(LENGTHS)
    h = torch.randn(2, 1, batch, DIM, dtype=DTYPE) if with_hx else torch.zeros(2, 1, batch, DIM)
    hx = Directions(h[0], h[1]) if with_hx else None
    for bi in (tie(module, "tied"), tie(module, "tied_two_calls")):
        output, states = bi(flat, hx, cu_seqlens=cu)
        assert states.forward.shape == states.backward.shape == (1, batch, DIM)
        parts = []
        for b, n in enumerate(LENGTHS):
            row, alone = x[b : b + 1, :n], torch.tensor([0, n])
            out_f, h_f = module(row, h[0][:, b : b + 1].to(DTYPE), cu_seqlens=alone)
            out_b, h_b = module(row.flip(1), h[1][:, b : b + 1].to(DTYPE), cu_seqlens=alone)
            parts.append(torch.cat([out_f[0], out_b.flip(1)[0]], -1))
            torch.testing.assert_close(states.forward[:, b], h_f[:, 0])
            torch.testing.assert_close(states.backward[:, b], h_b[:, 0])
        torch.testing.assert_close(output[0], torch.cat(parts))


def _padded_module(kind: str) -> nn.Module:
    if kind == "gru":
        return nn.GRU(DIM, 4, batch_first=True, dtype=DTYPE)
    if kind == "library_lstm":
        return birnn_utils.nn.LSTM(DIM, 4, batch_first=True, dtype=DTYPE)
    mixer: nn.Module = MIXERS[kind]()
    return mixer


@pytest.mark.parametrize("kind", ["gru", "library_lstm", "mingru", "mamba2"])
def test_a_tied_module_takes_an_empty_batch(kind: str) -> None:
    """#18: B = 0 failed in the tied call (``split`` of an empty batch gives one piece)."""
    torch.manual_seed(0)
    module = _padded_module(kind)
    x = make_input(batch=0)
    recurrent = kind in ("gru", "library_lstm")
    width = 2 * (4 if recurrent else DIM)
    hx: Any = None
    if recurrent:
        h = torch.zeros(1, 0, 4, dtype=DTYPE)
        hx = Directions((h, h), (h, h)) if kind == "library_lstm" else Directions(h, h)
    no_lengths: list[int] = []
    for lengths in (None, no_lengths):
        for initial in (None, hx):
            results = [
                Bidirectional(module, module, batch_directions=one_call)(
                    x, initial, lengths=lengths
                )
                if recurrent
                else Bidirectional(module, module, batch_first=True, batch_directions=one_call)(
                    x, lengths=lengths
                )
                for one_call in (True, False)
            ]
            for result in results:
                output = result[0] if recurrent else result
                assert output.shape == (0, STEPS, width)
            if recurrent:
                tied, two_calls = (tuple(r[1]) for r in results)
                assert [p.shape for p in flat_states(tied)] == [
                    p.shape for p in flat_states(two_calls)
                ]


def flat_states(states: tuple[Any, ...]) -> list[Tensor]:
    return [p for s in states for p in (s if isinstance(s, tuple) else (s,))]


@pytest.mark.parametrize("kind", ["conv", "rnn", "mamba2"])
@pytest.mark.parametrize("batch", [0, 2])
def test_a_tied_module_takes_a_varlen_batch_of_no_token(kind: str, batch: int) -> None:
    """#18: a varlen total of 0 failed in the tied call."""
    torch.manual_seed(0)
    module = {"conv": VarlenCausalConv, "rnn": VarlenRNN, "mamba2": ToyMamba2}[kind]()
    flat, cu = torch.zeros(1, 0, DIM, dtype=DTYPE), torch.zeros(batch + 1, dtype=torch.int32)
    for one_call in (True, False):
        bi = Bidirectional(module, module, batch_first=True, batch_directions=one_call)
        result = bi(flat, cu_seqlens=cu)
        output = result[0] if kind == "rnn" else result
        assert output.shape == (1, 0, 2 * DIM)
        if kind == "rnn":
            assert tuple(result[1].forward.shape) == tuple(result[1].backward.shape)
            assert result[1].forward.shape == (1, batch, DIM) and not result[1].forward.any()


def test_seq_idx_compiles() -> None:
    """The seq_idx path (the signature read, the indices built, offset when tied): one graph."""
    torch.manual_seed(0)
    bi = tie(ToyMamba2(), "tied")
    flat, cu = padded_to_varlen(make_input(batch=3, steps=3), [3, 0, 2], batch_first=True)
    torch.compiler.reset()
    counter = CompileCounterWithBackend("aot_eager")
    compiled = torch.compile(
        lambda f, c: bi(f, cu_seqlens=c), fullgraph=True, dynamic=False, backend=counter
    )
    torch.testing.assert_close(compiled(flat, cu), bi(flat, cu_seqlens=cu))
    assert counter.frame_count == 1
