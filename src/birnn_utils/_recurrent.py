"""Any recurrent cell run over a variable-length batch, one layer or a stack: ``Recurrent``.

A cell maps one step's input and the state to the new state, ``cell(x_t, state) ->
new_state``; these modules run it over time. With ``lengths`` the batch shrinks as sequences
end, as packing does: the rows are sorted by length once, on the host, and step ``t`` runs the
``batch_sizes[t]`` sequences still going, so a finished sequence's state is its final state and
padding never enters the cell. A cell is called at each step, except torch's own cells without
hooks: their kernel (``torch.lstm_cell`` ...) is called directly with the weights read once per
call, which computes the same, bit for bit, without the module's per-step call and checks.
(Hoisting their input projections out of the loop into one product bought nothing on the CPU,
and its longer autograd graph made the backward pass slower.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Union, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize
from torch.nn.utils.rnn import PackedSequence

from ._checks import check_tensor, format_shape
from ._hooks import has_hooks
from ._lengths import LengthsLike, PaddingSide, check_lengths, check_padding_side, lengths_tensor

__all__ = ["Recurrent", "StackedRecurrent"]

State = tuple[Tensor, ...]
"""A cell's state inside the runner: always a tuple (one Tensor ``(B, S)`` for a plain state)."""

Step = Callable[[Tensor, State], State]

Hidden = Union[Tensor, tuple[Tensor, ...]]  # noqa: UP007 (a runtime alias on 3.10)

_TORCH_CELLS = (nn.RNNCell, nn.GRUCell, nn.LSTMCell)


class _Plan(NamedTuple):
    """Where each step's rows sit, computed once per call on the host from the lengths.

    The rows that run are in "packed" order: step-major, and within a step the sequences by
    decreasing length (the ``n`` sequences of length > 0), so that step ``t`` is the slice
    ``starts[t] : starts[t] + sizes[t]`` of the packed data, as in a PackedSequence.
    """

    sizes: list[int]
    """The number of sequences running at each step (a PackedSequence's ``batch_sizes``)."""
    starts: list[int]
    """The first packed row of each step."""
    order: Tensor | None
    """``(n,)``: the caller's row of each sorted sequence; None: all rows, in order."""
    source: Tensor | None
    """``(N,)``: each packed row's row in ``input.reshape(-1, D)``; None: the identity."""
    reverse: Tensor | None
    """``(N,)``: the packed row of the same sequence's mirrored step (for backward cells)."""


def _make_plan(
    lens: Tensor | None,
    steps: int,
    batch: int,
    batch_first: bool,
    left: bool,
    device: torch.device,
    need_reverse: bool,
) -> _Plan:
    """The plan for CPU int64 ``lens``, or None: every sequence fills ``steps``.

    Without lengths the input must be time-major; the plan is then plain Python and torch, so
    that the whole run traces (``torch.compile(fullgraph=True)``, ``torch.export``).
    """
    if lens is None:
        assert not batch_first
        rows = steps * batch
        return _Plan(
            sizes=[batch] * steps,
            starts=[step * batch for step in range(steps)],
            order=None,
            source=None,
            reverse=(
                torch.arange(rows, device=device).view(steps, batch).flip(0).reshape(rows)
                if need_reverse
                else None
            ),
        )
    all_lens = lens.numpy()
    order_np = np.argsort(-all_lens, kind="stable")
    sorted_lens = all_lens[order_np]
    running = int(np.count_nonzero(sorted_lens))
    order_np, sorted_lens = order_np[:running], sorted_lens[:running]
    longest = int(sorted_lens[0]) if sorted_lens.size else 0
    sizes = np.bincount(sorted_lens, minlength=steps + 1)[::-1].cumsum()[::-1][1 : longest + 1]
    starts = np.cumsum(sizes) - sizes
    time = np.repeat(np.arange(longest), sizes)
    rows = np.arange(time.shape[0]) - starts[time]
    # Left padding: sequence b's step t sits at T - length + t; the gather moves it right.
    at = time + (steps - sorted_lens[rows]) if left else time
    caller_rows = order_np[rows]
    source_np = caller_rows * steps + at if batch_first else at * batch + caller_rows

    def on_device(array: np.ndarray[Any, Any]) -> Tensor:
        # Non-blocking: a copy from pageable CPU memory does not wait for the device.
        return torch.from_numpy(np.ascontiguousarray(array, dtype=np.int64)).to(
            device, non_blocking=True
        )

    reverse = None
    if need_reverse:
        reverse = on_device(starts[sorted_lens[rows] - 1 - time] + rows)
    return _Plan(
        sizes=sizes.tolist(),
        starts=starts.tolist(),
        order=on_device(order_np),
        source=on_device(source_np),
        reverse=reverse,
    )


_KERNELS: dict[tuple[type[nn.Module], str | None], Callable[..., Any]] = {
    (nn.LSTMCell, None): torch.lstm_cell,
    (nn.GRUCell, None): torch.gru_cell,
    (nn.RNNCell, "tanh"): torch.rnn_tanh_cell,
    (nn.RNNCell, "relu"): torch.rnn_relu_cell,
}
"""The kernel each torch cell's ``forward`` calls on a batched step (``nonlinearity`` for RNN)."""


def _kernel_step(cell: nn.Module, is_tuple: bool) -> Step | None:
    """A torch cell's step as its kernel, for what calling the cell would compute; else None.

    For an ``nn.RNNCell``, ``nn.GRUCell`` or ``nn.LSTMCell`` of exactly that class (or that
    class parametrized) with no hooks: the module's per-step checks and call cost as much as
    the step's kernel on small batches. The weights are read once here, through ``getattr``
    (so a parametrization is evaluated once per call, as ``nn.LSTM`` does), and passed to the
    kernel ``forward`` itself calls, with the same arguments, so the results are the same.
    """
    cls = type(cell)
    if parametrize.is_parametrized(cell):
        cls = cls.__bases__[0]
    # torch.jit.trace records each module call: a traced cell is called.
    tracing: bool = torch.jit.is_tracing()  # type: ignore[no-untyped-call]
    if cls not in _TORCH_CELLS or "forward" in vars(cell) or has_hooks(cell) or tracing:
        return None
    kernel = _KERNELS.get((cls, getattr(cell, "nonlinearity", None)))
    if kernel is None or is_tuple != (cls is nn.LSTMCell):
        return None
    weights = tuple(
        getattr(cell, name) for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    )
    if is_tuple:
        return lambda x, state: tuple(kernel(x, state, *weights))
    return lambda x, state: (kernel(x, state[0], *weights),)


def _stepper(cell: nn.Module, is_tuple: bool) -> Step:
    """The cell as a step on tuple states; a plain state goes to the cell as a Tensor."""
    fast = _kernel_step(cell, is_tuple)
    if fast is not None:
        return fast

    def step(x: Tensor, state: State) -> State:
        new = cell(x, state if is_tuple else state[0])
        return tuple(new) if isinstance(new, (tuple, list)) else (new,)

    return step


def _scan(step: Step, data: Tensor, state: State, sizes: list[int], starts: list[int]) -> Any:
    """Run ``step`` over packed ``data``: ``(outputs (N, H), final state)`` in sorted order.

    ``state`` has ``sizes[0]`` rows. When the batch shrinks, the rows that leave hold their
    sequences' final states; they are set aside and put back together at the end.
    """
    outputs: list[Tensor] = []
    finished: list[State] = []
    running = sizes[0] if sizes else state[0].shape[0]
    for size, start in zip(sizes, starts, strict=True):
        if size < running:
            finished.append(tuple(s[size:running] for s in state))
            state = tuple(s[:size] for s in state)
            running = size
        state = step(data[start : start + size], state)
        outputs.append(state[0])
    if finished:
        finished.append(state)
        state = tuple(torch.cat(parts[::-1]) for parts in zip(*finished, strict=True))
    if not outputs:
        return data.new_zeros(0, state[0].shape[-1]), state
    return torch.cat(outputs), state


class _Result(NamedTuple):
    output: Tensor
    states: list[State]
    layers: list[Tensor] | None


def _run_stack(
    cells: Sequence[nn.Module],
    directions: int,
    input: Tensor,
    states: list[State],
    is_tuple: bool,
    plan: _Plan,
    *,
    steps: int,
    batch: int,
    batch_first: bool,
    dropout: float,
    training: bool,
    all_layers: bool,
) -> _Result:
    """The unchecked core: ``cells`` layer-major, on a checked 3-D ``input``.

    ``states``: one initial state per cell, ``B`` rows each, in the caller's order. Returns the
    output (and each layer's output on request) in ``input``'s layout and padding, zeros at
    padding, and each cell's final state in the caller's order.
    """
    data = input.reshape(steps * batch, input.shape[-1])
    if plan.source is not None:
        data = data.index_select(0, plan.source)

    def unpack(packed: Tensor) -> Tensor:
        width = packed.shape[-1]
        if plan.source is None:
            return packed.view(steps, batch, width)
        full = packed.new_zeros(steps * batch, width).index_copy(0, plan.source, packed)
        return full.view((batch, steps, width) if batch_first else (steps, batch, width))

    finals: list[State] = []
    layers: list[Tensor] = []
    num_layers = len(cells) // directions
    for layer in range(num_layers):
        outputs = []
        for direction in range(directions):
            index = layer * directions + direction
            step = _stepper(cells[index], is_tuple)
            initial = states[index]
            order = plan.order
            running = initial if order is None else tuple(s.index_select(0, order) for s in initial)
            inputs = data
            if direction == 1:
                assert plan.reverse is not None
                inputs = inputs.index_select(0, plan.reverse)
            output, final = _scan(step, inputs, running, plan.sizes, plan.starts)
            if direction == 1:
                assert plan.reverse is not None
                output = output.index_select(0, plan.reverse)
            outputs.append(output)
            if order is not None:
                # Sequences of length 0 ran no step: they keep their initial state.
                final = tuple(
                    s.index_copy(0, order, f) for s, f in zip(initial, final, strict=True)
                )
            finals.append(final)
        data = outputs[0] if directions == 1 else torch.cat(outputs, 1)
        if all_layers:
            layers.append(data)
        if dropout > 0 and training and layer < num_layers - 1:
            data = F.dropout(data, dropout, True)
    return _Result(
        unpack(data), finals, [unpack(layer) for layer in layers] if all_layers else None
    )


def _declared_size(cell: nn.Module) -> int | tuple[int, ...] | None:
    """The state size a cell declares: ``state_size`` (an int or a tuple), or ``hidden_size``."""
    for name in ("state_size", "hidden_size"):
        size = getattr(cell, name, None)
        if isinstance(size, int) and not isinstance(size, bool):
            return size
        if isinstance(size, tuple) and size and all(isinstance(s, int) for s in size):
            return size
    return None


def _initial_state(cell: nn.Module, batch: int, like: Tensor, where: str) -> Hidden:
    """The state a cell starts from when ``hx`` is None: ``(B, S)`` or a tuple of them."""
    initial_state = getattr(cell, "initial_state", None)
    if callable(initial_state):
        state = initial_state(batch, like)
        if isinstance(state, list):
            state = tuple(state)
        if not isinstance(state, (Tensor, tuple)):
            raise TypeError(
                f"{where}: `{type(cell).__name__}.initial_state(batch, like)` must return a "
                f"Tensor (B, S) or a tuple of them, got {type(state).__name__}"
            )
        return state
    if isinstance(cell, nn.LSTMCell):
        zeros = like.new_zeros(batch, cell.hidden_size)
        return zeros, zeros
    size = _declared_size(cell)
    if size is None:
        raise TypeError(
            f"{where}: cannot make the initial state of {type(cell).__name__} for hx=None: give "
            "the cell an `initial_state(batch, like)` method, a `state_size` (an int, or a "
            "tuple of ints for a tuple state) or a `hidden_size` attribute, or pass `hx`"
        )
    if isinstance(size, int):
        return like.new_zeros(batch, size)
    return tuple(like.new_zeros(batch, s) for s in size)


def _check_cell(cell: object, where: str, name: str = "cell") -> nn.Module:
    if not isinstance(cell, nn.Module):
        raise TypeError(
            f"{where}: `{name}` must be an nn.Module with `cell(x_t, state) -> new_state`, got "
            f"{type(cell).__name__}"
        )
    return cell


def _check_input(input: object, where: str) -> Tensor:
    if isinstance(input, PackedSequence):
        raise TypeError(
            f"{where}: `input` must be a padded Tensor, got a PackedSequence: pad it "
            "(pad_packed_sequence) and pass its lengths as `lengths`"
        )
    x = check_tensor(input, where, "input")
    if x.dim() not in (2, 3):
        raise ValueError(
            f"{where}: `input` must be 3-D (T x B x D, B x T x D with batch_first) or 2-D "
            f"(unbatched T x D), got shape {format_shape(x)}"
        )
    return x


def _cpu_lengths(lengths: LengthsLike, batch: int, steps: int, where: str) -> Tensor:
    """Checked int64 lengths on the CPU: the one host read of a call."""
    lens = lengths_tensor(lengths, where)
    return check_lengths(lens.to("cpu"), batch, steps, torch.device("cpu"), where)


def _states_from_hx(
    hx: Any, rows: int, batch: int, batched: bool, where: str
) -> tuple[list[State], bool]:
    """``hx`` (``(rows, B, S)``, or ``(rows, S)`` unbatched, or a tuple) as one state per row."""
    is_tuple = isinstance(hx, (tuple, list))
    parts = tuple(hx) if is_tuple else (hx,)
    if not parts:
        raise ValueError(f"{where}: `hx` must hold at least one Tensor, got an empty tuple")
    checked = []
    for part in parts:
        tensor = check_tensor(part, where, "hx")
        expected = (rows, batch) if batched else (rows,)
        if tensor.dim() != len(expected) + 1 or tuple(tensor.shape[:-1]) != expected:
            layout = f"({rows}, B={batch}, S)" if batched else f"({rows}, S)"
            raise ValueError(
                f"{where}: `hx` must be {layout} (or a tuple of them), as torch's RNN modules "
                f"take it, got shape {format_shape(tensor)}"
            )
        checked.append(tensor if batched else tensor.unsqueeze(1))
    return [tuple(t[row] for t in checked) for row in range(rows)], is_tuple


def _check_torch_cell_state(cells: Sequence[nn.Module], states: list[State], where: str) -> None:
    """Check the state sizes of torch's cells here, for a message that names the runner."""
    for cell, state in zip(cells, states, strict=True):
        if isinstance(cell, _TORCH_CELLS):
            count = 2 if isinstance(cell, nn.LSTMCell) else 1
            if len(state) != count or any(s.shape[-1] != cell.hidden_size for s in state):
                shapes = ", ".join(format_shape(s) for s in state)
                raise ValueError(
                    f"{where}: the state of {type(cell).__name__}(hidden_size="
                    f"{cell.hidden_size}) must be {count} Tensor(s) of size {cell.hidden_size}, "
                    f"got {shapes}"
                )


def _stack_states(states: list[State], is_tuple: bool, batched: bool) -> Hidden:
    def one(parts: tuple[Tensor, ...]) -> Tensor:
        stacked = torch.stack(parts)
        return stacked if batched else stacked.squeeze(1)

    merged = tuple(one(parts) for parts in zip(*states, strict=True))
    return merged if is_tuple else merged[0]


class _Runner(nn.Module):
    """The shared forward of :class:`Recurrent` and :class:`StackedRecurrent`."""

    batch_first: bool
    directions: int
    dropout: float

    def _cells(self) -> Sequence[nn.Module]:
        raise NotImplementedError

    def _run(
        self,
        input: Tensor,
        hx: Any,
        lengths: LengthsLike | None,
        padding_side: str,
        all_layers: bool,
        where: str,
    ) -> tuple[Tensor, Hidden, list[Tensor] | None]:
        if lengths is None:
            return self._run_traced(input, hx, lengths, padding_side, all_layers, where)
        return _run_eagerly(self, input, hx, lengths, padding_side, all_layers, where)

    def _run_traced(
        self,
        input: Tensor,
        hx: Any,
        lengths: LengthsLike | None,
        padding_side: str,
        all_layers: bool,
        where: str,
    ) -> tuple[Tensor, Hidden, list[Tensor] | None]:
        side = check_padding_side(padding_side, where)
        x = _check_input(input, where)
        batched = x.dim() == 3
        if not batched:
            x = x.unsqueeze(1)
        batch_first = self.batch_first and batched
        steps, batch = (x.shape[1], x.shape[0]) if batch_first else (x.shape[0], x.shape[1])
        cells = self._cells()
        lens = None if lengths is None else _cpu_lengths(lengths, batch, steps, where)
        if hx is None:
            initial = [_initial_state(cell, batch, x, where) for cell in cells]
            is_tuple = isinstance(initial[0], tuple)
            states = [_as_state(state) for state in initial]
        else:
            states, is_tuple = _states_from_hx(hx, len(cells), batch, batched, where)
        _check_torch_cell_state(cells, states, where)
        # Without lengths a batch-first input runs transposed: its plan needs no gather.
        moved = batch_first and lens is None
        plan = _make_plan(
            lens,
            steps,
            batch,
            batch_first and not moved,
            side == "left" and lens is not None,
            x.device,
            self.directions == 2,
        )
        result = _run_stack(
            cells,
            self.directions,
            x.transpose(0, 1) if moved else x,
            states,
            is_tuple,
            plan,
            steps=steps,
            batch=batch,
            batch_first=batch_first and not moved,
            dropout=self.dropout,
            training=self.training,
            all_layers=all_layers,
        )
        output, layers = result.output, result.layers
        if moved:
            output = output.transpose(0, 1)
            layers = None if layers is None else [layer.transpose(0, 1) for layer in layers]
        if not batched:
            output = output.squeeze(1)
            layers = None if layers is None else [layer.squeeze(1) for layer in layers]
        return output, _stack_states(result.states, is_tuple, batched), layers


_RunResult = tuple[Tensor, Hidden, Union[list[Tensor], None]]  # noqa: UP007 (runtime alias)


def _run_with_lengths(runner: _Runner, *args: Any) -> _RunResult:
    """``runner`` with lengths, never traced: the batch of each step comes from their values.

    Traced, each new set of lengths would compile anew (the steps' batch sizes are constants
    of a graph) until Dynamo's recompile limit; under ``torch.compile`` this runs eagerly.
    """
    return runner._run_traced(*args)


_run_eagerly = cast(
    Callable[..., _RunResult],
    torch.compiler.disable(_run_with_lengths),  # type: ignore[no-untyped-call]
)


def _as_state(state: Hidden) -> State:
    return state if isinstance(state, tuple) else (state,)


class Recurrent(_Runner):
    """Run a recurrent cell over a variable-length batch: one layer, one direction.

    Keras's ``RNN(cell)`` and Flax's ``nn.RNN(cell)`` for PyTorch. The cell is torch's
    ``nn.RNNCell``, ``nn.GRUCell`` or ``nn.LSTMCell``, unchanged, or any module with the
    protocol ``cell(x_t, state) -> new_state``: ``x_t`` is ``(B, D)`` and the state a Tensor
    ``(B, S)`` or a tuple of them, as ``nn.LSTMCell``'s ``(h, c)``. The output at each step is
    ``new_state``, or its first element for a tuple. The cell is called at each step, hooks and
    all, except torch's three cells of exactly those classes without hooks: their kernel runs
    directly, with what the cell would compute, and a parametrization of their weights is
    evaluated once per call (as ``nn.LSTM`` does), not at each step.

    For ``hx=None`` the initial state is, in this order: ``cell.initial_state(batch, like)``
    when the cell has that method (``like`` is the input, for its dtype and device); zeros
    ``(h, c)`` for an ``nn.LSTMCell``; zeros ``(B, S)`` for a ``state_size`` attribute ``S``
    (a tuple of zeros for a tuple of sizes), or for a ``hidden_size`` attribute.

    ``lengths`` mean what packing means: at each valid step the output equals running that
    sequence alone, outputs at padding are zeros, ``h_n`` is the state at each sequence's last
    valid step, and a sequence of length 0 keeps its ``hx``. The batch shrinks as sequences
    end, as in a PackedSequence: padding never enters the cell, and the lengths are read once
    per call, never per step. With torch's cells holding a native module's weights this equals
    ``pack_padded_sequence -> nn.RNN/GRU/LSTM -> pad_packed_sequence``.
    :class:`~birnn_utils.Bidirectional` passes its ``lengths`` on to this module.

    Args:
        cell: the cell, an ``nn.Module`` (its parameters are this module's, as ``cell``).
        batch_first: whether ``input`` is ``B x T x D`` rather than ``T x B x D``.

    Attributes:
        cell: the cell, as given.
        batch_first: as given.

    Raises:
        TypeError: if ``cell`` is not an ``nn.Module``.

    Example:
        >>> import torch
        >>> from birnn_utils.nn import Recurrent
        >>> rnn = Recurrent(torch.nn.LSTMCell(3, 4), batch_first=True)
        >>> x, lengths = torch.randn(2, 5, 3), torch.tensor([5, 2])
        >>> output, (h_n, c_n) = rnn(x, lengths=lengths)
        >>> output.shape, h_n.shape
        (torch.Size([2, 5, 4]), torch.Size([1, 2, 4]))
        >>> torch.equal(output[1, 1], h_n[0, 1]), output[1, 2:].abs().sum().item()
        (True, 0.0)
    """

    directions = 1
    dropout = 0.0

    def __init__(self, cell: nn.Module, *, batch_first: bool = False) -> None:
        super().__init__()
        self.cell = _check_cell(cell, "Recurrent")
        if not isinstance(batch_first, bool):
            raise TypeError(
                f"Recurrent: `batch_first` must be a bool, got {type(batch_first).__name__}"
            )
        self.batch_first = batch_first

    def _cells(self) -> Sequence[nn.Module]:
        return [self.cell]

    def forward(
        self,
        input: Tensor,
        hx: Hidden | None = None,
        *,
        lengths: LengthsLike | None = None,
        padding_side: PaddingSide = "right",
    ) -> tuple[Tensor, Hidden]:
        """Run the cell over each sequence's valid steps.

        Args:
            input: ``T x B x D`` (``B x T x D`` with ``batch_first``), or unbatched ``T x D``.
            hx: the initial state in torch's layout, ``(1, B, S)`` (``(1, S)`` unbatched), or a
                tuple of them for a tuple state; ``None`` for the cell's initial state (see the
                class).
            lengths: ``B`` valid lengths in ``[0, T]``, any order: a 1-D integer Tensor (any
                device; read once on the host), a list or tuple of ints, or a numpy array.
                ``None``: every sequence has ``T`` steps.
            padding_side: ``"right"``, or ``"left"`` (sequence ``b`` at steps
                ``T - lengths[b] .. T - 1``; its output is left-padded too).

        Returns:
            ``(output, h_n)``: ``output`` ``T x B x H`` (as ``input`` is laid out), each step's
            output, zeros at padding; ``h_n`` the final state in ``hx``'s layout.

        Raises:
            TypeError: for an ``input`` that is not a Tensor (a PackedSequence included), a
                non-integer ``lengths``, an ``hx`` that is not a Tensor or tuple of them, or a
                cell that declares no initial state with ``hx=None``.
            ValueError: for an ``input`` that is neither 2-D nor 3-D, ``lengths`` out of range
                or of the wrong count, an ``hx`` of the wrong shape, or a ``padding_side``
                other than ``"left"`` or ``"right"``.
        """
        output, h_n, _ = self._run(input, hx, lengths, padding_side, False, "Recurrent")
        return output, h_n


_MODES = {
    "RNN_TANH": (nn.RNNCell, {"nonlinearity": "tanh"}),
    "RNN_RELU": (nn.RNNCell, {"nonlinearity": "relu"}),
    "GRU": (nn.GRUCell, {}),
    "LSTM": (nn.LSTMCell, {}),
}


def _output_size(cell: nn.Module) -> int:
    hidden = getattr(cell, "hidden_size", None)
    if isinstance(hidden, int) and not isinstance(hidden, bool):
        return hidden
    size = _declared_size(cell)
    if size is None:
        raise TypeError(
            f"StackedRecurrent: `make_cell` returned {type(cell).__name__}, which has no "
            "`hidden_size` or `state_size` attribute: the next layer's input size is unknown"
        )
    return size if isinstance(size, int) else size[0]


class StackedRecurrent(_Runner):
    """A stack of recurrent cells with the contract of a native multi-layer ``nn.LSTM``.

    Layer ``k`` reads layer ``k - 1``'s output (both directions' outputs concatenated when
    ``bidirectional``), with dropout in between in training, as ``nn.RNN``/``nn.GRU``/
    ``nn.LSTM`` do; ``lengths`` mean what they mean for :class:`Recurrent`, in every layer and
    both directions (the backward cell reads each sequence from its last valid step).
    :meth:`from_module` builds one from a native module, sharing its Parameters.

    Args:
        make_cell: ``make_cell(input_size)`` returns a cell (see :class:`Recurrent`); called
            once per layer and direction, layer-major (forward then backward). The cell must
            have a ``hidden_size`` or a ``state_size`` attribute (its output size, for the next
            layer's ``input_size``) unless ``num_layers`` is 1.
        input_size: the input's feature size ``D``.
        num_layers: the number of layers.
        bidirectional: whether each layer has a backward cell too.
        dropout: the dropout probability between layers, in training only.
        batch_first: whether ``input`` is ``B x T x D`` rather than ``T x B x D``.

    Attributes:
        cells: the cells, an ``nn.ModuleList``, layer-major: cell ``2k`` is layer ``k``'s
            forward cell and ``2k + 1`` its backward cell when ``bidirectional``, as the rows
            of ``h_n``.
        input_size: as given.
        num_layers: as given.
        bidirectional: as given.
        dropout: as given.
        batch_first: as given.
        hidden_size: the first cell's output size ``H``.

    Raises:
        TypeError: if ``make_cell`` returns something else than an ``nn.Module``, or a cell of
            a lower layer declares no output size.
        ValueError: for ``num_layers`` < 1 or ``dropout`` outside ``[0, 1]``.

    Example:
        >>> import torch
        >>> from birnn_utils.nn import StackedRecurrent
        >>> def make_cell(size):
        ...     return torch.nn.GRUCell(size, 4)
        >>> stack = StackedRecurrent(make_cell, 3, num_layers=2, bidirectional=True)
        >>> x, lengths = torch.randn(5, 2, 3), [5, 2]
        >>> output, h_n, layers = stack(x, lengths=lengths, return_all_layers=True)
        >>> output.shape, h_n.shape, [layer.shape[-1] for layer in layers]
        (torch.Size([5, 2, 8]), torch.Size([4, 2, 4]), [8, 8])
    """

    def __init__(
        self,
        make_cell: Callable[[int], nn.Module],
        input_size: int,
        num_layers: int = 1,
        *,
        bidirectional: bool = False,
        dropout: float = 0.0,
        batch_first: bool = False,
    ) -> None:
        super().__init__()
        where = "StackedRecurrent"
        if not isinstance(num_layers, int) or num_layers < 1:
            raise ValueError(f"{where}: `num_layers` must be an int >= 1, got {num_layers!r}")
        if not isinstance(dropout, (int, float)) or not 0 <= dropout <= 1:
            raise ValueError(f"{where}: `dropout` must be in [0, 1], got {dropout!r}")
        self.input_size = input_size
        self.num_layers = num_layers
        self.bidirectional = bool(bidirectional)
        self.directions = 2 if bidirectional else 1
        self.dropout = float(dropout)
        self.batch_first = bool(batch_first)
        cells: list[nn.Module] = []
        size = input_size
        for layer in range(num_layers):
            for _ in range(self.directions):
                cells.append(_check_cell(make_cell(size), where, "make_cell(...)"))
            if layer < num_layers - 1:
                size = _output_size(cells[-1]) * self.directions
        self.cells = nn.ModuleList(cells)
        hidden = getattr(cells[0], "hidden_size", None)
        self.hidden_size = hidden if isinstance(hidden, int) else _declared_size(cells[0])

    def _cells(self) -> Sequence[nn.Module]:
        return list(self.cells)

    @classmethod
    def from_module(cls, rnn: nn.Module) -> StackedRecurrent:
        """The stack of torch cells computing what ``rnn`` computes, sharing its Parameters.

        Training either trains both: each cell's ``weight_ih``, ``weight_hh``, ``bias_ih`` and
        ``bias_hh`` are ``rnn``'s very ``weight_ih_l{k}[_reverse]`` ... Parameter objects (a
        later *reassignment* of one of ``rnn``'s Parameters is not followed).

        Args:
            rnn: a ``torch.nn`` or ``birnn_utils.nn`` ``RNN`` (tanh or relu), ``GRU`` or
                ``LSTM``, without ``proj_size``.

        Returns:
            The stack, with ``rnn``'s options (``dropout`` and ``batch_first`` included) and
            ``training`` flag.

        Raises:
            TypeError: for another kind of module.
            ValueError: for an LSTM with ``proj_size``.

        Example:
            >>> import torch
            >>> from birnn_utils.nn import StackedRecurrent
            >>> lstm = torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True)
            >>> stack = StackedRecurrent.from_module(lstm)
            >>> stack.cells[1].weight_hh is lstm.weight_hh_l0_reverse
            True
            >>> x = torch.randn(5, 2, 3)
            >>> torch.allclose(stack(x)[0], lstm(x)[0], atol=1e-6)
            True
        """
        where = "StackedRecurrent.from_module"
        mode = getattr(rnn, "mode", None)
        if (
            not isinstance(rnn, nn.Module)
            or mode not in _MODES
            or not hasattr(rnn, "_flat_weights_names")
        ):
            raise TypeError(
                f"{where}: `rnn` must be a torch.nn or birnn_utils.nn RNN, GRU or LSTM, got "
                f"{type(rnn).__name__}"
            )
        if getattr(rnn, "proj_size", 0):
            raise ValueError(
                f"{where}: an LSTM with proj_size (={rnn.proj_size}) has no nn.LSTMCell "
                "counterpart: build it with proj_size=0"
            )
        native: Any = rnn
        cell_type, options = _MODES[mode]
        hidden, bias = native.hidden_size, native.bias

        def make_cell(size: int) -> nn.Module:
            # On the meta device: no memory and no initialisation for weights replaced below.
            cell: nn.Module = cell_type(size, hidden, bias=bias, device="meta", **options)
            return cell

        stack = cls(
            make_cell,
            native.input_size,
            native.num_layers,
            bidirectional=native.bidirectional,
            dropout=native.dropout,
            batch_first=native.batch_first,
        )
        names = (
            ("weight_ih", "weight_hh", "bias_ih", "bias_hh") if bias else ("weight_ih", "weight_hh")
        )
        for index, cell in enumerate(stack.cells):
            layer, direction = divmod(index, stack.directions)
            suffix = f"_l{layer}" + ("_reverse" if direction else "")
            for name in names:
                setattr(cell, name, getattr(native, name + suffix))
        stack.train(native.training)
        return stack

    def forward(
        self,
        input: Tensor,
        hx: Hidden | None = None,
        *,
        lengths: LengthsLike | None = None,
        padding_side: PaddingSide = "right",
        return_all_layers: bool = False,
    ) -> Any:
        """Run the stack over each sequence's valid steps.

        Args:
            input: ``T x B x D`` (``B x T x D`` with ``batch_first``), or unbatched ``T x D``.
            hx: the initial states in torch's layout, ``(num_layers * dirs, B, S)``
                (``(num_layers * dirs, S)`` unbatched), layer-major, or a tuple of them
                (``(h_0, c_0)`` for LSTM cells); ``None`` for each cell's initial state (see
                :class:`Recurrent`).
            lengths: ``B`` valid lengths in ``[0, T]``, any order (see :class:`Recurrent`).
            padding_side: ``"right"``, or ``"left"`` (see :class:`Recurrent`).
            return_all_layers: also return every layer's output.

        Returns:
            ``(output, h_n)``: ``output`` ``T x B x dirs*H`` (as ``input`` is laid out), the
            last layer's output, zeros at padding; ``h_n`` the final states in ``hx``'s layout,
            ``(num_layers * dirs, B, H)`` (``(h_n, c_n)`` for LSTM cells). With
            ``return_all_layers``, ``(output, h_n, layers)``: ``layers`` a list of each layer's
            output, first layer first, before dropout (``layers[-1]`` is ``output``).

        Raises:
            TypeError: see :meth:`Recurrent.forward`.
            ValueError: see :meth:`Recurrent.forward`.
        """
        output, h_n, layers = self._run(
            input, hx, lengths, padding_side, return_all_layers, "StackedRecurrent"
        )
        return (output, h_n, layers) if return_all_layers else (output, h_n)
