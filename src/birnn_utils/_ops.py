"""The custom op that runs a native RNN kernel on right-padded, variable-length sequences.

``torch.compile`` does not trace ``torch.nn``'s RNN modules (a graph break: the module runs
eagerly; an error under ``fullgraph=True``), and packing (``pack_padded_sequence``)
reads the lengths' values, which a graph cannot. ``birnn_utils::packed_rnn`` hides both from the
compiler: one opaque node whose eager implementation packs (``enforce_sorted=False``), runs the
kernel ``torch.nn.RNN/GRU/LSTM.forward`` itself runs (``torch.rnn_tanh``, ``torch.rnn_relu``,
``torch.gru``, ``torch.lstm``, the same functions as ``torch._VF``'s) with the module's flat
weights, and pads back to ``T``. A fake implementation gives the shapes (``T`` and ``B`` may be
symbolic) and the strides: every output, and every gradient of the backward, is contiguous,
whatever layout the kernel gives. The backward is a second op,
``birnn_utils::packed_rnn_backward``, that recomputes the forward with autograd, so its
gradients are those of eager torch on the packed batch. Under ``torch.autocast`` the op runs
wholly in autocast's dtype (its autocast rule casts every floating input), as cuDNN's RNN does;
:func:`run_rnn` and :func:`run_kernel`, the eager paths, do the same, so eager and compiled
agree.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol, cast

import torch
from torch import Tensor
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ._layout import output_size

__all__ = [
    "OP_NAME",
    "Options",
    "RNNLike",
    "check_state",
    "packed_rnn",
    "rnn_options",
    "run_rnn",
    "zero_state",
]

OP_NAME = "birnn_utils::packed_rnn"

_KERNELS: dict[str, Callable[..., Any]] = {
    "RNN_TANH": torch.rnn_tanh,
    "RNN_RELU": torch.rnn_relu,
    "GRU": torch.gru,
    "LSTM": torch.lstm,
}


class RNNLike(Protocol):
    """What :func:`packed_rnn` reads from a module: ``torch.nn.RNNBase``'s attributes."""

    mode: str
    input_size: int
    hidden_size: int
    proj_size: int
    num_layers: int
    bias: bool
    batch_first: bool
    bidirectional: bool
    dropout: float
    training: bool
    _flat_weights_names: list[str]


class Options(NamedTuple):
    """A recurrent module's configuration, as the kernels take it."""

    mode: str
    num_layers: int
    bias: bool
    batch_first: bool
    bidirectional: bool


def rnn_options(rnn: RNNLike) -> Options:
    """The kernel options of ``rnn`` (a ``torch.nn`` or ``birnn_utils.nn`` RNN/GRU/LSTM)."""
    return Options(rnn.mode, rnn.num_layers, rnn.bias, rnn.batch_first, rnn.bidirectional)


def check_state(rnn: RNNLike, hx: object, batch: int, where: str) -> None:
    """Raise unless ``hx`` is ``rnn``'s initial state for ``batch`` sequences (shapes only).

    Raises:
        TypeError: for an LSTM's ``hx`` that is not a pair, another's that is not a Tensor.
        ValueError: for a part of the wrong shape.
    """
    rows = rnn.num_layers * (2 if rnn.bidirectional else 1)
    h_out = output_size(rnn)
    if rnn.mode == "LSTM":
        expected = {"h_0": (rows, batch, h_out), "c_0": (rows, batch, rnn.hidden_size)}
        if not isinstance(hx, tuple) or len(hx) != 2:
            raise TypeError(f"{where}: `hx` must be a tuple (h_0, c_0), got {type(hx).__name__}")
        parts = dict(zip(expected, hx, strict=True))
    else:
        expected = {"h_0": (rows, batch, h_out)}
        if not isinstance(hx, Tensor):
            raise TypeError(f"{where}: `hx` must be a Tensor h_0, got {type(hx).__name__}")
        parts = {"h_0": hx}
    for name, part in parts.items():
        if not isinstance(part, Tensor) or tuple(part.shape) != expected[name]:
            got = tuple(part.shape) if isinstance(part, Tensor) else type(part).__name__
            raise ValueError(
                f"{where}: `hx`'s {name} must have shape {expected[name]} "
                f"(num_layers * num_directions, B, size), got {got}"
            )


def zero_state(rnn: RNNLike, like: Tensor, batch: int) -> tuple[Tensor, Tensor | None]:
    """``rnn``'s zero ``(h_0, c_0)`` for ``batch`` sequences (``c_0`` ``None`` but for an LSTM).

    ``(num_layers * D, B, H_out)`` and ``(num_layers * D, B, H)``, in ``like``'s dtype and on
    its device.
    """
    rows = rnn.num_layers * (2 if rnn.bidirectional else 1)
    h0 = like.new_zeros(rows, batch, output_size(rnn))
    return h0, like.new_zeros(rows, batch, rnn.hidden_size) if rnn.mode == "LSTM" else None


def run_kernel(
    input: Tensor,
    batch_sizes: Tensor | None,
    hx: Tensor | tuple[Tensor, Tensor],
    weights: Sequence[Tensor],
    options: Options,
    dropout: float,
    train: bool,
) -> tuple[Tensor, Tensor | tuple[Tensor, Tensor]]:
    """Call the native kernel exactly as ``torch.nn.RNN/GRU/LSTM.forward`` calls it.

    Under ``torch.autocast`` it follows the op's rule instead: every floating input in autocast's
    dtype, the kernel run with autocast off.

    Args:
        input: ``T x B x D`` (``B x T x D`` with ``batch_first``), or a PackedSequence's
            ``data`` (``N x D``) when ``batch_sizes`` are given.
        batch_sizes: the PackedSequence's ``batch_sizes`` (CPU int64), or ``None``.
        hx: ``h_0``, or ``(h_0, c_0)`` for an LSTM, in the kernel's batch order.
        weights: the flat weights, in ``_flat_weights_names`` order.
        options: the module's configuration.
        dropout: between layers; applied only when ``train``.
        train: whether the module is training.

    Returns:
        ``(output, h_n)``, or ``(output, (h_n, c_n))`` for an LSTM.
    """
    device_type = input.device.type
    dtype = _autocast_dtype(device_type)
    if dtype is not None:
        # The op's autocast rule, here too, so that eager and compiled code agree.
        h0, c0 = hx if isinstance(hx, tuple) else (hx, None)
        input, h0, c0, weights = _autocast_inputs(device_type, dtype, input, h0, c0, weights)
        with torch.autocast(device_type, enabled=False):
            state = h0 if c0 is None else (h0, c0)
            return _call_kernel(input, batch_sizes, state, weights, options, dropout, train)
    return _call_kernel(input, batch_sizes, hx, weights, options, dropout, train)


def _call_kernel(
    input: Tensor,
    batch_sizes: Tensor | None,
    hx: Tensor | tuple[Tensor, Tensor],
    weights: Sequence[Tensor],
    options: Options,
    dropout: float,
    train: bool,
) -> tuple[Tensor, Tensor | tuple[Tensor, Tensor]]:
    """:func:`run_kernel` without its autocast rule: the kernel's two call forms."""
    kernel = _KERNELS[options.mode]
    flat = list(weights)
    common = (options.bias, options.num_layers, dropout, train, options.bidirectional)
    if batch_sizes is None:
        result = kernel(input, hx, flat, *common, options.batch_first)
    else:
        result = kernel(input, batch_sizes, hx, flat, *common)
    return result[0], (result[1], result[2]) if options.mode == "LSTM" else result[1]


def run_rnn(
    input: Tensor,
    lengths: Tensor | None,
    h0: Tensor,
    c0: Tensor | None,
    weights: Sequence[Tensor],
    options: Options,
    dropout: float = 0.0,
    train: bool = False,
) -> tuple[Tensor, Tensor, Tensor | None]:
    """Run the native kernel: on the padded batch (``lengths=None``) or pack, run, pad back.

    Under ``torch.autocast``, every floating input in autocast's dtype, as the op does.

    Args:
        input: ``T x B x D`` (``B x T x D`` with ``batch_first``).
        lengths: CPU int64 ``(B,)`` in ``[0, T]``, any order, or ``None`` for all ``T``.
        h0: ``L*dirs x B x H_out``.
        c0: ``L*dirs x B x H`` for an LSTM, else ``None``.
        weights: the module's flat weights, in ``_flat_weights_names`` order.
        options: the module's configuration.
        dropout: between layers, as the module's; applied only when ``train``.
        train: whether the module is training.

    Returns:
        ``(output, h_n, c_n)`` (``c_n`` ``None`` but for an LSTM), in the caller's batch order:
        zeros at padding, final states at each sequence's last valid step; rows of length 0 get
        zero outputs and keep ``h0``/``c0``.
    """
    device_type = input.device.type
    dtype = _autocast_dtype(device_type)
    if dtype is not None:
        # The op's autocast rule, here too, so that eager and compiled code agree.
        input, h0, c0, weights = _autocast_inputs(device_type, dtype, input, h0, c0, weights)
        with torch.autocast(device_type, enabled=False):
            return run_rnn(input, lengths, h0, c0, weights, options, dropout, train)
    # cuDNN refuses a non-contiguous hx ("rnn: hx is not contiguous"), e.g. a transposed one.
    h0, c0 = h0.contiguous(), None if c0 is None else c0.contiguous()
    if lengths is None:
        output, state = _call_kernel(
            input, None, h0 if c0 is None else (h0, c0), weights, options, dropout, train
        )
        return (output, state, None) if isinstance(state, Tensor) else (output, *state)
    batch_dim = 0 if options.batch_first else 1
    batch, steps = input.shape[batch_dim], input.shape[1 - batch_dim]
    nonempty = lengths > 0
    if bool(nonempty.all()) and batch > 0:
        return _pack_run_pad(input, lengths, h0, c0, weights, options, dropout, train, steps)
    # pack_padded_sequence rejects length 0: run the other rows, give these zeros and h0/c0.
    directions = 2 if options.bidirectional else 1
    output = input.new_zeros(
        (batch, steps, directions * h0.shape[2])
        if options.batch_first
        else (steps, batch, directions * h0.shape[2])
    )
    rows = nonempty.nonzero().squeeze(1)
    if rows.numel() == 0:
        return output, h0.clone(), None if c0 is None else c0.clone()
    on_device = rows.to(input.device)
    sub_output, sub_h, sub_c = _pack_run_pad(
        input.index_select(batch_dim, on_device),
        lengths[rows],
        h0.index_select(1, on_device),
        None if c0 is None else c0.index_select(1, on_device),
        weights,
        options,
        dropout,
        train,
        steps,
    )
    h_n = h0.index_copy(1, on_device, sub_h)
    c_n = None if c0 is None or sub_c is None else c0.index_copy(1, on_device, sub_c)
    return output.index_copy(batch_dim, on_device, sub_output), h_n, c_n


def _pack_run_pad(
    input: Tensor,
    lengths: Tensor,
    h0: Tensor,
    c0: Tensor | None,
    weights: Sequence[Tensor],
    options: Options,
    dropout: float,
    train: bool,
    steps: int,
) -> tuple[Tensor, Tensor, Tensor | None]:
    packed = pack_padded_sequence(
        input, lengths, batch_first=options.batch_first, enforce_sorted=False
    )
    order = cast(Tensor, packed.sorted_indices)
    hx: Tensor | tuple[Tensor, Tensor] = (
        h0.index_select(1, order)
        if c0 is None
        else (h0.index_select(1, order), c0.index_select(1, order))
    )
    data, state = _call_kernel(
        packed.data, packed.batch_sizes, hx, weights, options, dropout, train
    )
    output, _ = pad_packed_sequence(
        packed._replace(data=data), batch_first=options.batch_first, total_length=steps
    )
    back = cast(Tensor, packed.unsorted_indices)
    if isinstance(state, Tensor):
        return output, state.index_select(1, back), None
    return output, state[0].index_select(1, back), state[1].index_select(1, back)


def _no_c(h0: Tensor) -> Tensor:
    # A custom op returns Tensors only: an RNN's or GRU's missing c_n is an empty one.
    return h0.new_empty(0)


@torch.library.custom_op(OP_NAME, mutates_args=())
def _packed_rnn_op(
    input: Tensor,
    lengths: Tensor | None,
    h0: Tensor,
    c0: Tensor | None,
    weights: list[Tensor],
    mode: str,
    num_layers: int,
    bias: bool,
    batch_first: bool,
    bidirectional: bool,
) -> tuple[Tensor, Tensor, Tensor]:
    options = Options(mode, num_layers, bias, batch_first, bidirectional)
    output, h_n, c_n = run_rnn(input, lengths, h0, c0, weights, options)
    # One layout whatever the kernel and path (cuDNN or not, packed or not, batch_first, rows of
    # length 0, a transposed h0): contiguous, as the fake kernel promises the compiler.
    c_out = _no_c(h0) if c_n is None else c_n
    return output.contiguous(), h_n.contiguous(), c_out.contiguous()


@_packed_rnn_op.register_fake
def _(
    input: Tensor,
    lengths: Tensor | None,
    h0: Tensor,
    c0: Tensor | None,
    weights: list[Tensor],
    *options: object,
) -> tuple[Tensor, Tensor, Tensor]:
    bidirectional = Options(*options).bidirectional  # type: ignore[arg-type]
    width = (2 if bidirectional else 1) * h0.shape[2]
    output = input.new_empty((input.shape[0], input.shape[1], width))
    c_n = _no_c(h0) if c0 is None else c0.new_empty(c0.shape)
    return output, h0.new_empty(h0.shape), c_n


def _in_fresh_thread(fn: Callable[[], list[Tensor]], device: torch.device) -> list[Tensor]:
    """``fn()`` in a new thread, on the caller's CUDA stream.

    A custom op's kernel runs with autograd switched off in the dispatcher's thread-local state
    (``torch.func.vjp`` cannot take the RNN kernels either); a new thread starts with autograd on.
    """
    stream = torch.cuda.current_stream(device) if device.type == "cuda" else None
    box: list[list[Tensor]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            if stream is None:
                box.append(fn())
            else:
                with torch.cuda.stream(stream):
                    box.append(fn())
        except BaseException as error:  # re-raised in the caller's thread
            errors.append(error)

    thread = threading.Thread(target=run, name="birnn_utils packed_rnn backward")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return box[0]


@torch.library.custom_op(OP_NAME + "_backward", mutates_args=())
def _packed_rnn_backward_op(
    grad_output: Tensor,
    grad_h: Tensor,
    grad_c: Tensor,
    input: Tensor,
    lengths: Tensor | None,
    h0: Tensor,
    c0: Tensor | None,
    weights: list[Tensor],
    mode: str,
    num_layers: int,
    bias: bool,
    batch_first: bool,
    bidirectional: bool,
) -> list[Tensor]:
    options = Options(mode, num_layers, bias, batch_first, bidirectional)
    leaves = [input, h0, *([] if c0 is None else [c0]), *weights]
    grads = [grad_output, grad_h, *([] if c0 is None else [grad_c])]

    def recompute() -> list[Tensor]:
        with torch.enable_grad():
            copies = [leaf.detach().requires_grad_() for leaf in leaves]
            x, h, *rest = copies
            c, flat = (None, rest) if c0 is None else (rest[0], rest[1:])
            # train=True: cuDNN computes a backward only after a training-mode forward.
            output, h_n, c_n = run_rnn(x, lengths, h, c, flat, options, train=True)
            outputs = [output, h_n, *([] if c_n is None else [c_n])]
            # With B = 0 or every length 0 the output is new zeros, independent of the leaves.
            pairs = [(o, g) for o, g in zip(outputs, grads, strict=True) if o.requires_grad]
            found: Sequence[Tensor | None] = (
                torch.autograd.grad(
                    [o for o, _ in pairs], copies, [g for _, g in pairs], allow_unused=True
                )
                if pairs
                else [None] * len(copies)
            )
        # Contiguous, as the fake kernel promises: the kernels' own gradient layouts vary
        # (a batch_first input's is transposed on the padded path, not on the packed one).
        # A row of length 0 passes grad_h through to h0's gradient: an op may not return its
        # input, so that one is copied.
        given = {g.untyped_storage().data_ptr() for g in grads}
        result = []
        for g, leaf in zip(found, leaves, strict=True):
            if g is None:
                result.append(leaf.new_zeros(leaf.shape))
                continue
            g = g.contiguous()
            passed_through = g.untyped_storage().data_ptr() in given  # or empty, B = 0
            result.append(g.clone() if passed_through else g)
        return result

    result = _in_fresh_thread(recompute, input.device)
    if c0 is None:
        result.insert(2, _no_c(h0))
    return result


@_packed_rnn_backward_op.register_fake
def _(
    grad_output: Tensor,
    grad_h: Tensor,
    grad_c: Tensor,
    input: Tensor,
    lengths: Tensor | None,
    h0: Tensor,
    c0: Tensor | None,
    weights: list[Tensor],
    *options: object,
) -> list[Tensor]:
    leaves = [input, h0, _no_c(h0) if c0 is None else c0, *weights]
    return [leaf.new_empty(leaf.shape) for leaf in leaves]


def _setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
    input, lengths, h0, c0, weights, *options = inputs
    ctx.save_for_backward(input, h0, *([] if c0 is None else [c0]), *weights)
    ctx.lengths, ctx.lstm, ctx.options = lengths, c0 is not None, options


def _backward(
    ctx: Any, grad_output: Tensor, grad_h: Tensor, grad_c: Tensor
) -> tuple[Tensor | list[Tensor] | None, ...]:
    input, h0, *rest = ctx.saved_tensors
    c0, weights = (rest[0], rest[1:]) if ctx.lstm else (None, rest)
    grads = _packed_rnn_backward_op(
        grad_output, grad_h, grad_c, input, ctx.lengths, h0, c0, list(weights), *ctx.options
    )
    grad_c0 = grads[2] if ctx.lstm else None
    return (grads[0], None, grads[1], grad_c0, grads[3:], *[None] * len(ctx.options))


_packed_rnn_op.register_autograd(_backward, setup_context=_setup_context)


def _autocast_dtype(device_type: str) -> torch.dtype | None:
    """The dtype autocast runs the op in on ``device_type``, or ``None`` outside autocast."""
    # The meta device (and others) have no autocast; asking would raise.
    if not torch.amp.is_autocast_available(device_type):
        return None
    if not torch.is_autocast_enabled(device_type):
        return None
    return torch.get_autocast_dtype(device_type)


def _cast(tensor: Tensor, device_type: str, dtype: torch.dtype) -> Tensor:
    # autocast's own eligibility rule: floating, on the autocast device, and not float64.
    eligible = (
        tensor.is_floating_point()
        and tensor.device.type == device_type
        and tensor.dtype is not torch.float64
    )
    return tensor.to(dtype) if eligible else tensor


def _autocast_inputs(
    device_type: str,
    dtype: torch.dtype,
    input: Tensor,
    h0: Tensor,
    c0: Tensor | None,
    weights: Sequence[Tensor],
) -> tuple[Tensor, Tensor, Tensor | None, list[Tensor]]:
    """The op's autocast rule: every floating input in autocast's ``dtype``.

    What autocast does with cuDNN's RNN on CUDA, and what ``torch.nn.LSTM`` (and, measured with
    torch 2.13, ``torch.nn.RNN``) do on the CPU without packing; the kernel then runs with
    autocast off. Unlike ``register_autocast``'s fixed dtype, ``dtype`` is the one in force.
    """
    return (
        _cast(input, device_type, dtype),
        _cast(h0, device_type, dtype),
        None if c0 is None else _cast(c0, device_type, dtype),
        [_cast(w, device_type, dtype) for w in weights],
    )


def _autocast_kernel(device_type: str) -> Callable[..., Any]:
    """The op's kernel for autocast's dispatch key on ``device_type``."""

    def kernel(
        input: Tensor, lengths: Tensor | None, h0: Tensor, c0: Tensor | None,
        weights: list[Tensor], *options: Any,
    ) -> tuple[Tensor, Tensor, Tensor]:  # fmt: skip
        dtype = torch.get_autocast_dtype(device_type)
        input, h0, c0, weights = _autocast_inputs(device_type, dtype, input, h0, c0, weights)
        with torch.autocast(device_type, enabled=False):
            result = torch.ops.birnn_utils.packed_rnn.default(
                input, lengths, h0, c0, weights, *options
            )
        return cast(tuple[Tensor, Tensor, Tensor], result)

    return kernel


_LIBRARY = torch.library.Library("birnn_utils", "IMPL")  # type: ignore[no-untyped-call]
for _device_type, _key in (("cpu", "AutocastCPU"), ("cuda", "AutocastCUDA")):
    _kernel = _autocast_kernel(_device_type)
    _LIBRARY.impl("packed_rnn", _kernel, _key)  # type: ignore[no-untyped-call]


def packed_rnn(
    rnn: RNNLike,
    input: Tensor,
    lengths: Tensor | None,
    hx: Tensor | tuple[Tensor, Tensor] | None,
    where: str,
    weights: Sequence[Tensor] | None = None,
) -> tuple[Tensor, Tensor | tuple[Tensor, Tensor]]:
    """Run ``rnn`` (a ``torch.nn`` or ``birnn_utils.nn`` RNN/GRU/LSTM) on padded sequences.

    Under ``torch.compile``/``torch.export`` it calls the custom op; in eager mode it calls the
    op's implementation directly, so that autograd records torch's own kernel.

    What ``pack_padded_sequence(enforce_sorted=False) -> rnn ->
    pad_packed_sequence(total_length=T)`` computes, as one node a compiler or exporter can take:
    the module's own Parameters are the op's weights (so gradients reach them), and its forward
    is never called.

    Args:
        rnn: the module, read for its options and weights only.
        input: ``T x B x D`` (``B x T x D`` with ``rnn.batch_first``).
        lengths: int64 ``(B,)`` in ``[0, T]``, any order, or ``None`` for all ``T``; copied to
            the CPU if elsewhere (packing reads them there).
        hx: ``h_0`` (``(h_0, c_0)`` for an LSTM) in the caller's batch order, or ``None`` for
            zeros.
        where: the public caller's name, for error messages.
        weights: the module's flat weights as its caller read them (a ``birnn_utils.nn``
            module packs them for cuDNN first), or ``None`` to read them here.

    Returns:
        ``(output, h_n)`` or ``(output, (h_n, c_n))``, as the module returns them.

    Raises:
        TypeError: for an ``hx`` of the wrong structure.
        ValueError: for input that is not 3-D or has not ``rnn.input_size`` features, an
            ``hx`` of the wrong shape, or, while compiling, dropout between layers in training
            mode (the backward recomputes the forward and could not draw the same masks).
    """
    if input.dim() != 3:
        raise ValueError(f"{where}: `input` must be 3-D with `lengths`, got {input.dim()}-D")
    if input.shape[2] != rnn.input_size:
        raise ValueError(
            f"{where}: `input` must have the module's input_size ({rnn.input_size}) features "
            f"on its last dim, got {input.shape[2]}"
        )
    options = rnn_options(rnn)
    if weights is None:
        weights = [getattr(rnn, name) for name in rnn._flat_weights_names]
    lstm = options.mode == "LSTM"
    if hx is None:
        h0, c0 = zero_state(rnn, input, input.shape[0 if options.batch_first else 1])
    else:
        check_state(rnn, hx, input.shape[0 if options.batch_first else 1], where)
        h0, c0 = hx if isinstance(hx, tuple) else (hx, None)
    # The one copy of the lengths: packing reads them on the CPU (cuDNN's packed path too).
    cpu_lengths = None if lengths is None else lengths.to("cpu", torch.int64)
    if torch.compiler.is_compiling():
        if rnn.training and options.num_layers > 1 and rnn.dropout > 0:
            raise ValueError(
                f"{where}: dropout between layers (`dropout`={rnn.dropout}) is not supported "
                "while training under torch.compile or torch.export; set dropout=0 or .eval()"
            )
        output, h_n, c_opt = _packed_rnn_op(input, cpu_lengths, h0, c0, weights, *options)
        c_n: Tensor | None = c_opt
    else:
        # Eager: the same function without the op, so autograd records the native kernel.
        output, h_n, c_n = run_rnn(
            input, cpu_lengths, h0, c0, weights, options, rnn.dropout, rnn.training
        )
    return output, h_n if c_n is None or not lstm else (h_n, c_n)
