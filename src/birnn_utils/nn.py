"""Drop-in ``torch.nn.RNN``, ``GRU`` and ``LSTM`` that take ``lengths`` and compile and export.

Each holds exactly the Parameters of its ``torch.nn`` counterpart (same names, shapes and
initialisation, so a ``state_dict`` moves both ways with ``strict=True``) and nothing else: every
call reads each weight as ``getattr(module, name)`` and each option (``batch_first``,
``dropout``, ``training``, ...) from the module, so parametrizations, ``torch.func``,
``torch.nn.utils.prune`` and attribute changes work as on ``torch.nn``'s modules. Without
``lengths`` a call runs what ``torch.nn``'s forward runs, the kernel ``torch.lstm`` (``gru``,
``rnn_tanh``, ``rnn_relu``). With ``lengths`` it computes
``pack_padded_sequence(enforce_sorted=False) -> module -> pad_packed_sequence(total_length=T)``.
Under ``torch.compile``/``torch.export`` both go through the custom op
``birnn_utils::packed_rnn``, one graph node. Dynamo does not trace ``torch.nn``'s RNN modules,
nor any subclass of ``torch.nn.RNNBase`` (a graph break; an error under ``fullgraph=True``), so
these are not subclasses of them.
"""

from __future__ import annotations

import math
import types
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, Union

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from ._lengths import LengthsLike, as_lengths
from ._ops import packed_rnn, rnn_options, run_kernel, zero_state
from ._recurrent import Recurrent, StackedRecurrent

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["GRU", "LSTM", "RNN", "Recurrent", "StackedRecurrent"]

NativeT = TypeVar("NativeT", bound=nn.RNNBase)
Hidden = Union[Tensor, tuple[Tensor, Tensor]]  # noqa: UP007 (a runtime alias on 3.10)

# The configuration torch.nn.RNNBase keeps as plain attributes; what cuDNN's flattening reads.
_OPTIONS = (
    "mode",
    "input_size",
    "hidden_size",
    "num_layers",
    "bias",
    "batch_first",
    "dropout",
    "bidirectional",
    "proj_size",
)


def _forward(
    module: _RNNBase[Any], input: Tensor | PackedSequence, hx: Hidden | None, lengths: Any
) -> tuple[Any, Any]:
    return module._run(input, hx, lengths)


# torch.fx traces into modules outside torch.nn, and a forward that branches on the input's rank
# cannot be traced: the call becomes one node, as a torch.nn RNN module's call does.
torch.fx.wrap("_forward")


def _one_buffer(weights: list[Tensor]) -> bool:
    first = weights[0].untyped_storage().data_ptr()
    return all(w.untyped_storage().data_ptr() == first for w in weights)


class _RNNBase(nn.Module, Generic[NativeT]):
    """The shared machinery: ``torch.nn.RNNBase``'s attributes and methods, and the forward."""

    _native_type: ClassVar[type[nn.RNNBase]]
    mode: str
    input_size: int
    hidden_size: int
    num_layers: int
    bias: bool
    batch_first: bool
    dropout: float
    bidirectional: bool
    proj_size: int
    _flat_weights_names: list[str]
    _all_weights: list[list[str]]

    def _build(self, device: torch.device | str | None, **kwargs: Any) -> None:
        """Check the arguments and create the Parameters as ``torch.nn``'s class does."""
        # torch's own constructor checks the arguments (its errors and warnings, word for word)
        # and names the weights; on the meta device it allocates and initialises nothing.
        shell = self._native_type(**kwargs, device="meta")
        self._adopt_options(shell)
        for name in shell._flat_weights_names:
            template = shell.get_parameter(name)
            empty = torch.empty(template.shape, dtype=template.dtype, device=device)
            self.register_parameter(name, nn.Parameter(empty))
        self.flatten_parameters()
        self.reset_parameters()

    def _adopt_options(self, native: nn.RNNBase) -> None:
        for name in _OPTIONS:
            setattr(self, name, getattr(native, name))
        if isinstance(native, nn.RNN):
            self.nonlinearity: str = native.nonlinearity
        self._flat_weights_names = list(native._flat_weights_names)
        self._all_weights = [list(names) for names in native._all_weights]

    @classmethod
    def from_module(cls, module: NativeT) -> Self:
        """The module of this class holding ``module``'s very Parameter objects.

        Training ``module`` trains this one and vice versa; ``module`` itself is left as it is
        (its ``training`` flag included).

        Args:
            module: a ``torch.nn`` module of the same kind (``torch.nn.LSTM`` for ``LSTM``),
                whose weights are its own Parameters (not parametrized, pruned or
                weight-normed: apply those to the new module instead).

        Returns:
            The new module, with ``module``'s options and ``training`` flag.

        Raises:
            TypeError: if ``module`` is of another kind.
            ValueError: if a weight of ``module`` is not one of its Parameters.
        """
        if not isinstance(module, cls._native_type):
            raise TypeError(
                f"{cls.__name__}.from_module: `module` must be a torch.nn.{cls.__name__}, "
                f"got {type(module).__name__}"
            )
        missing = [n for n in module._flat_weights_names if n not in module._parameters]
        if missing:
            raise ValueError(
                f"{cls.__name__}.from_module: `module`'s {missing[0]} is not one of its "
                "Parameters (parametrized, pruned or weight-normed?): wrap the plain module, "
                "then apply those to the wrapper"
            )
        result = cls.__new__(cls)
        nn.Module.__init__(result)
        result._adopt_options(module)
        for name in module._flat_weights_names:
            result.register_parameter(name, module._parameters[name])
        result.train(module.training)
        return result

    def reset_parameters(self) -> None:
        """Draw every Parameter from ``U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))``, as torch.

        Example:
            >>> import torch
            >>> from birnn_utils.nn import GRU
            >>> gru = GRU(3, 4)
            >>> gru.reset_parameters()
            >>> bool(gru.weight_hh_l0.abs().max() <= 0.5)
            True
        """
        bound = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            nn.init.uniform_(weight, -bound, bound)

    @property
    def all_weights(self) -> list[list[Tensor]]:
        """The weights of each layer and direction, as ``torch.nn.RNNBase.all_weights``."""
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    def flatten_parameters(self) -> None:
        """Put the weights into one buffer for cuDNN, as ``torch.nn``'s method does.

        On CUDA with cuDNN only; elsewhere a no-op. Called after ``.to()`` and the like, and by
        a call that finds its weights apart (new ones assigned, parametrized, or given to
        ``torch.func.functional_call``), as ``torch.nn``'s modules do.
        """
        weights = [getattr(self, name, None) for name in self._flat_weights_names]
        if all(isinstance(w, Tensor) and w.is_cuda for w in weights):
            self._flatten(weights)  # type: ignore[arg-type]

    def _flatten(self, weights: list[Tensor]) -> None:
        # torch.nn.RNNBase.flatten_parameters reads only these attributes: run torch's own.
        view = types.SimpleNamespace(
            _flat_weights=weights,
            _flat_weights_names=self._flat_weights_names,
            **{name: getattr(self, name) for name in _OPTIONS},
        )
        nn.RNNBase.flatten_parameters(view)  # type: ignore[arg-type]

    def _apply(self, fn: Any, recurse: bool = True) -> Self:
        super()._apply(fn, recurse)  # type: ignore[no-untyped-call]
        self.flatten_parameters()
        return self

    def extra_repr(self) -> str:
        return nn.RNNBase.extra_repr(self)  # type: ignore[arg-type]

    def check_input(self, input: Tensor, batch_sizes: Tensor | None) -> None:
        """Raise unless ``input`` fits the module, as ``torch.nn.RNNBase.check_input``.

        Args:
            input: ``T x B x H_in`` (``B x T x H_in`` with ``batch_first``), or a
                PackedSequence's ``data`` when ``batch_sizes`` are given.
            batch_sizes: the PackedSequence's ``batch_sizes``, or ``None``.

        Raises:
            ValueError: for a dtype other than the weights' (outside autocast).
            RuntimeError: for the wrong rank or number of features.
        """
        weight = getattr(self, self._flat_weights_names[0])
        device = input.device.type
        autocast = torch.amp.is_autocast_available(device) and torch.is_autocast_enabled(device)
        if input.dtype != weight.dtype and not autocast:
            raise ValueError(
                f"RNN input dtype ({input.dtype}) does not match weight dtype ({weight.dtype}). "
                f"Convert input: input.to({weight.dtype}), or convert model: "
                f"model.to({input.dtype})"
            )
        expected_dim = 2 if batch_sizes is not None else 3
        if input.dim() != expected_dim:
            raise RuntimeError(f"input must have {expected_dim} dimensions, got {input.dim()}")
        if self.input_size != input.size(-1):
            raise RuntimeError(
                "input.size(-1) must be equal to input_size. "
                f"Expected {self.input_size}, got {input.size(-1)}"
            )

    def get_expected_hidden_size(
        self, input: Tensor, batch_sizes: Tensor | None
    ) -> tuple[int, int, int]:
        """``h_0``'s shape for ``input``: ``(num_layers * D, B, H_out)``, as torch's method.

        Example:
            >>> import torch
            >>> from birnn_utils.nn import LSTM
            >>> LSTM(3, 4, proj_size=2).get_expected_hidden_size(torch.zeros(5, 7, 3), None)
            (1, 7, 2)
        """
        if batch_sizes is not None:
            mini_batch = int(batch_sizes[0])
        else:
            mini_batch = input.size(0) if self.batch_first else input.size(1)
        rows = self.num_layers * (2 if self.bidirectional else 1)
        return rows, mini_batch, self.proj_size if self.proj_size > 0 else self.hidden_size

    def check_hidden_size(
        self,
        hx: Tensor,
        expected_hidden_size: tuple[int, int, int],
        msg: str = "Expected hidden size {}, got {}",
    ) -> None:
        """Raise a ``RuntimeError`` (``msg``) unless ``hx`` has ``expected_hidden_size``."""
        if hx.size() != expected_hidden_size:
            raise RuntimeError(msg.format(expected_hidden_size, list(hx.size())))

    def check_forward_args(self, input: Tensor, hidden: Hidden, batch_sizes: Tensor | None) -> None:
        """Raise unless ``input`` and ``hidden`` fit the module, as torch's method.

        Args:
            input: as for :meth:`check_input`.
            hidden: ``h_0``, or ``(h_0, c_0)`` for an LSTM.
            batch_sizes: the PackedSequence's ``batch_sizes``, or ``None``.
        """
        self.check_input(input, batch_sizes)
        expected = self.get_expected_hidden_size(input, batch_sizes)
        if isinstance(hidden, tuple):
            self.check_hidden_size(hidden[0], expected, "Expected hidden[0] size {}, got {}")
            cell = (*expected[:2], self.hidden_size)
            self.check_hidden_size(hidden[1], cell, "Expected hidden[1] size {}, got {}")
        else:
            self.check_hidden_size(hidden, expected)

    def permute_hidden(self, hx: Hidden, permutation: Tensor | None) -> Hidden:
        """``hx`` (``(h, c)`` for an LSTM) with its batch reordered by ``permutation``."""
        if permutation is None:
            return hx
        if isinstance(hx, tuple):
            return hx[0].index_select(1, permutation), hx[1].index_select(1, permutation)
        return hx.index_select(1, permutation)

    def forward(
        self,
        input: Tensor | PackedSequence,
        hx: Hidden | None = None,
        *,
        lengths: LengthsLike | None = None,
    ) -> tuple[Any, Any]:
        """Run the module, on ``lengths`` valid steps of each sequence when they are given.

        Args:
            input: ``T x B x H_in`` (``B x T x H_in`` with ``batch_first``), right-padded when
                ``lengths`` are given; without ``lengths`` also what ``torch.nn``'s module takes
                (an unbatched ``T x H_in`` or, in eager mode, a PackedSequence).
            hx: ``h_0`` ``(num_layers * D) x B x H_out``, or ``(h_0, c_0)`` for an LSTM, in the
                caller's batch order (without the ``B`` dim for an unbatched input); ``None``
                for zeros.
            lengths: ``B`` valid lengths in ``[0, T]``, any order: a 1-D integer Tensor (any
                device; copied once to the CPU, where packing reads them) or a list or tuple of
                ints. ``None``: every sequence has ``T`` steps.

        Returns:
            ``(output, h_n)`` (``(output, (h_n, c_n))`` for an LSTM), what torch returns:
            ``output`` ``T x B x D*H_out`` with zeros at padding, the final states at each
            sequence's last valid step; a row of length 0 has zero outputs and keeps its
            ``hx``.

        Raises:
            TypeError: for ``lengths`` with a PackedSequence, a PackedSequence while
                compiling, or non-integer ``lengths``.
            ValueError: for a wrong ``input`` rank or ``lengths`` out of range or of the wrong
                count.
            RuntimeError: without ``lengths``, where ``torch.nn``'s module raises one (an
                ``hx`` of the wrong shape, ``input`` with the wrong number of features).
        """
        return _forward(self, input, hx, lengths)

    def _run(
        self, input: Tensor | PackedSequence, hx: Hidden | None, lengths: LengthsLike | None
    ) -> tuple[Any, Any]:
        where = type(self).__name__
        if lengths is None:
            if isinstance(input, PackedSequence):
                if torch.compiler.is_compiling():
                    raise TypeError(
                        f"{where}: a PackedSequence `input` does not compile: pass the padded "
                        "Tensor and `lengths`"
                    )
                return self._run_packed_sequence(input, hx)
            return self._run_padded(input, hx)
        if isinstance(input, PackedSequence):
            raise TypeError(
                f"{where}: a PackedSequence `input` carries its lengths: pass `lengths` only "
                "with a padded Tensor"
            )
        if not isinstance(input, Tensor):
            raise TypeError(f"{where}: `input` must be a Tensor, got {type(input).__name__}")
        if input.dim() != 3:
            layout = "B x T x H_in" if self.batch_first else "T x B x H_in"
            raise ValueError(f"{where}: `input` must be 3-D ({layout}), got {input.dim()}-D")
        batch_dim = 0 if self.batch_first else 1
        checked = as_lengths(
            lengths,
            batch_size=input.shape[batch_dim],
            max_length=input.shape[1 - batch_dim],
            where=where,
        )
        if torch.compiler.is_compiling():
            return packed_rnn(self, input, checked, hx, where)
        # Eager: the weights packed for cuDNN first, as torch.nn's forward does.
        return packed_rnn(self, input, checked, hx, where, self._weights())

    def _weights(self) -> list[Tensor]:
        """The weights as they are now; on CUDA in one cuDNN buffer, as torch.nn's forward."""
        weights = [getattr(self, name) for name in self._flat_weights_names]
        if weights[0].is_cuda and not _one_buffer(weights):
            self._flatten(weights)
        return weights

    def _zeros(self, input: Tensor, batch: int) -> Hidden:
        h, c = zero_state(self, input, batch)
        return h if c is None else (h, c)

    def _run_packed_sequence(
        self, input: PackedSequence, hx: Hidden | None
    ) -> tuple[PackedSequence, Hidden]:
        data, batch_sizes, sorted_indices, unsorted_indices = input
        # batch_sizes live on the CPU: reading one is no device sync.
        if hx is None:
            hx = self._zeros(data, int(batch_sizes[0]))
        else:
            hx = self.permute_hidden(hx, sorted_indices)
        self.check_forward_args(data, hx, batch_sizes)
        output, hidden = run_kernel(
            data, batch_sizes, hx, self._weights(), rnn_options(self), self.dropout, self.training
        )
        packed = PackedSequence(output, batch_sizes, sorted_indices, unsorted_indices)
        return packed, self.permute_hidden(hidden, unsorted_indices)

    def _run_padded(self, input: Tensor, hx: Hidden | None) -> tuple[Tensor, Hidden]:
        kind = self._native_type.__name__
        if input.dim() not in (2, 3):
            # torch.nn.RNN's message says "tensor", GRU's and LSTM's do not.
            noun = "tensor " if kind == "RNN" else ""
            raise ValueError(
                f"{kind}: Expected input to be 2D or 3D, got {input.dim()}D {noun}instead"
            )
        batched = input.dim() == 3
        batch_dim = 0 if self.batch_first else 1
        if not batched:
            input = input.unsqueeze(batch_dim)
        if hx is not None:
            self._check_hidden_rank(hx, batched)
            if not batched:
                hx = _unsqueeze(hx)
        hx = self._zeros(input, input.size(batch_dim)) if hx is None else hx
        self.check_forward_args(input, hx, None)
        if torch.compiler.is_compiling():
            output, hidden = packed_rnn(self, input, None, hx, type(self).__name__)
        else:
            output, hidden = run_kernel(
                input, None, hx, self._weights(), rnn_options(self), self.dropout, self.training
            )
        if batched:
            return output, hidden
        return output.squeeze(batch_dim), _squeeze(hidden)

    def _check_hidden_rank(self, hx: Hidden, batched: bool) -> None:
        rank, shape = (3, "batched 3-D") if batched else (2, "unbatched 2-D")
        if isinstance(hx, tuple):
            if hx[0].dim() != rank or hx[1].dim() != rank:
                raise RuntimeError(
                    f"For {shape} input, hx and cx should also be {rank}-D but got "
                    f"({hx[0].dim()}-D, {hx[1].dim()}-D) tensors"
                )
        elif hx.dim() != rank:
            raise RuntimeError(
                f"For {shape} input, hx should also be {rank}-D but got {hx.dim()}-D tensor"
            )


def _unsqueeze(hx: Hidden) -> Hidden:
    if isinstance(hx, tuple):
        return hx[0].unsqueeze(1), hx[1].unsqueeze(1)
    return hx.unsqueeze(1)


def _squeeze(hx: Hidden) -> Hidden:
    if isinstance(hx, tuple):
        return hx[0].squeeze(1), hx[1].squeeze(1)
    return hx.squeeze(1)


class RNN(_RNNBase[nn.RNN]):
    """``torch.nn.RNN`` (tanh or relu) with ``lengths``, ready for compile, export and ONNX.

    Takes ``torch.nn.RNN``'s constructor arguments and holds its Parameters; see
    :meth:`LSTM.forward` for the call. ``from_module(rnn)`` shares an existing module's
    Parameters.

    Args:
        input_size: ``H_in``, the number of features of ``input``.
        hidden_size: ``H``, the number of features of the hidden state.
        num_layers: the number of stacked layers.
        nonlinearity: ``"tanh"`` or ``"relu"``.
        bias: whether the layers have bias weights.
        batch_first: ``input`` and ``output`` are ``B x T x *`` instead of ``T x B x *``.
        dropout: the dropout probability on each layer's output but the last.
        bidirectional: whether to run a backward direction too (``D = 2``).
        device: where to create the Parameters.
        dtype: the Parameters' dtype.
        **kwargs: refused as ``torch.nn.RNN`` refuses them (``proj_size``: ``ValueError``).

    Raises:
        ValueError: where ``torch.nn.RNN`` raises one (an unknown ``nonlinearity``, a
            ``dropout`` outside ``[0, 1]``, a size of zero, any ``proj_size``).
        TypeError: where ``torch.nn.RNN`` raises one (a non-bool ``bias``, a non-int size).

    Example:
        >>> import torch
        >>> from birnn_utils.nn import RNN
        >>> rnn = RNN(3, 4, nonlinearity="relu", bidirectional=True)
        >>> output, h_n = rnn(torch.randn(5, 2, 3), lengths=[5, 2])
        >>> output.shape, h_n.shape
        (torch.Size([5, 2, 8]), torch.Size([2, 2, 4]))
    """

    _native_type = nn.RNN
    nonlinearity: str

    def __init__(  # noqa: D107 (the arguments are documented in the class docstring)
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        self._build(
            device,
            input_size=input_size,
            hidden_size=hidden_size,
            num_layers=num_layers,
            nonlinearity=nonlinearity,
            bias=bias,
            batch_first=batch_first,
            dropout=dropout,
            bidirectional=bidirectional,
            dtype=dtype,
            **kwargs,
        )


class GRU(_RNNBase[nn.GRU]):
    """``torch.nn.GRU`` with ``lengths``, ready for compile, export and ONNX.

    Takes ``torch.nn.GRU``'s constructor arguments and holds its Parameters; see
    :meth:`LSTM.forward` for the call. ``from_module(gru)`` shares an existing module's
    Parameters.

    Args:
        input_size: ``H_in``, the number of features of ``input``.
        hidden_size: ``H``, the number of features of the hidden state.
        num_layers: the number of stacked layers.
        bias: whether the layers have bias weights.
        batch_first: ``input`` and ``output`` are ``B x T x *`` instead of ``T x B x *``.
        dropout: the dropout probability on each layer's output but the last.
        bidirectional: whether to run a backward direction too (``D = 2``).
        device: where to create the Parameters.
        dtype: the Parameters' dtype.
        **kwargs: refused as ``torch.nn.GRU`` refuses them (``proj_size``: ``ValueError``).

    Raises:
        ValueError: where ``torch.nn.GRU`` raises one (a ``dropout`` outside ``[0, 1]``, a
            size of zero, any ``proj_size``).
        TypeError: where ``torch.nn.GRU`` raises one (a non-bool ``bias``, a non-int size).

    Example:
        >>> import torch
        >>> from birnn_utils.nn import GRU
        >>> gru = GRU(3, 4, num_layers=2, batch_first=True)
        >>> output, h_n = gru(torch.randn(2, 5, 3), lengths=torch.tensor([0, 3]))
        >>> output.shape, bool(output[0].eq(0).all()), bool(h_n[:, 0].eq(0).all())
        (torch.Size([2, 5, 4]), True, True)
    """

    _native_type = nn.GRU

    def __init__(  # noqa: D107 (the arguments are documented in the class docstring)
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        self._build(
            device,
            input_size=input_size,
            hidden_size=hidden_size,
            num_layers=num_layers,
            bias=bias,
            batch_first=batch_first,
            dropout=dropout,
            bidirectional=bidirectional,
            dtype=dtype,
            **kwargs,
        )


class LSTM(_RNNBase[nn.LSTM]):
    """``torch.nn.LSTM`` with ``lengths``, ready for compile, export and ONNX.

    A drop-in replacement: the same constructor arguments (``proj_size`` included), the same
    initialisation and Parameter names, so ``state_dict``s move both ways with ``strict=True``.
    ``LSTM.from_module(lstm)`` holds an existing ``torch.nn.LSTM``'s very Parameters.
    ``lstm(x, lengths=lengths)`` equals ``pack_padded_sequence(x, lengths,
    enforce_sorted=False) -> torch.nn.LSTM -> pad_packed_sequence(total_length=T)``, gradients
    included, also under ``torch.compile(fullgraph=True, dynamic=True)`` and ``torch.export``.

    Args:
        input_size: ``H_in``, the number of features of ``input``.
        hidden_size: ``H``, the number of features of the hidden state.
        num_layers: the number of stacked layers.
        bias: whether the layers have bias weights.
        batch_first: ``input`` and ``output`` are ``B x T x *`` instead of ``T x B x *``.
        dropout: the dropout probability on each layer's output but the last.
        bidirectional: whether to run a backward direction too (``D = 2``).
        proj_size: if positive, ``H_out = proj_size``: ``h_t`` projected to this size.
        device: where to create the Parameters.
        dtype: the Parameters' dtype.

    Raises:
        ValueError: where ``torch.nn.LSTM`` raises one (a ``dropout`` outside ``[0, 1]``, a
            size of zero, ``proj_size`` negative or not below ``hidden_size``).
        TypeError: where ``torch.nn.LSTM`` raises one (a non-bool ``bias``, a non-int size).

    Example:
        >>> import torch
        >>> from birnn_utils.nn import LSTM
        >>> native = torch.nn.LSTM(3, 4, bidirectional=True)
        >>> lstm = LSTM.from_module(native)
        >>> lstm.weight_ih_l0 is native.weight_ih_l0
        True
        >>> output, (h_n, c_n) = lstm(torch.randn(5, 2, 3), lengths=[2, 5])
        >>> output.shape, h_n.shape
        (torch.Size([5, 2, 8]), torch.Size([2, 2, 4]))
        >>> bool(output[2:, 0].eq(0).all())  # padding
        True
    """

    _native_type = nn.LSTM

    def __init__(  # noqa: D107 (the arguments are documented in the class docstring)
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self._build(
            device,
            input_size=input_size,
            hidden_size=hidden_size,
            num_layers=num_layers,
            bias=bias,
            batch_first=batch_first,
            dropout=dropout,
            bidirectional=bidirectional,
            proj_size=proj_size,
            dtype=dtype,
        )

    def get_expected_cell_size(
        self, input: Tensor, batch_sizes: Tensor | None
    ) -> tuple[int, int, int]:
        """``c_0``'s shape for ``input``: ``(num_layers * D, B, hidden_size)``, as torch's."""
        rows, mini_batch, _ = self.get_expected_hidden_size(input, batch_sizes)
        return rows, mini_batch, self.hidden_size
