"""Drop-in ``torch.nn.RNN``, ``GRU`` and ``LSTM`` that take ``lengths`` and compile and export.

Each holds exactly the Parameters of its ``torch.nn`` counterpart (same names, shapes and
initialisation, so a ``state_dict`` moves both ways with ``strict=True``). Without ``lengths`` it
calls ``torch.nn``'s forward on those Parameters. With ``lengths`` it computes
``pack_padded_sequence(enforce_sorted=False) -> module -> pad_packed_sequence(total_length=T)``;
under ``torch.compile``/``torch.export`` through the custom op ``birnn_utils::packed_rnn``, one
graph node: ``torch.compile`` refuses ``torch.nn``'s RNN modules, so these are not subclasses of
them.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, Union

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from ._lengths import LengthsLike, as_lengths
from ._ops import packed_rnn
from ._recurrent import Recurrent, StackedRecurrent

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["GRU", "LSTM", "RNN", "Recurrent", "StackedRecurrent"]

NativeT = TypeVar("NativeT", bound=nn.RNNBase)
Hidden = Union[Tensor, tuple[Tensor, Tensor]]  # noqa: UP007 (a runtime alias on 3.10)

# Attributes copied from the native module; the constructor arguments of each class.
_OPTIONS = ("input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout")


class _RNNBase(nn.Module, Generic[NativeT]):
    """The shared machinery: Parameters adopted from a ``torch.nn`` module, and the forward."""

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
    _native: NativeT

    @classmethod
    def from_module(cls, module: NativeT) -> Self:
        """The module of this class holding ``module``'s very Parameter objects.

        Training ``module`` trains this one and vice versa; ``module`` itself is left as it is
        (its ``training`` flag included).

        Args:
            module: a ``torch.nn`` module of the same kind (``torch.nn.LSTM`` for ``LSTM``).

        Returns:
            The new module, with ``module``'s options and ``training`` flag.

        Raises:
            TypeError: if ``module`` is of another kind.
        """
        if not isinstance(module, cls._native_type):
            raise TypeError(
                f"{cls.__name__}.from_module: `module` must be a torch.nn.{cls.__name__}, "
                f"got {type(module).__name__}"
            )
        kwargs: dict[str, Any] = {name: getattr(module, name) for name in _OPTIONS}
        kwargs["bidirectional"] = module.bidirectional
        if isinstance(module, nn.LSTM):
            kwargs["proj_size"] = module.proj_size
        if isinstance(module, nn.RNN):
            kwargs["nonlinearity"] = module.nonlinearity
        # A shell on the meta device (no memory, no initialisation) receives the Parameters;
        # the user was warned about its dropout when building `module`.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            shell = cls._native_type(**kwargs, device="meta")
        for name in module._flat_weights_names:
            setattr(shell, name, getattr(module, name))
        result = cls.__new__(cls)
        nn.Module.__init__(result)
        result._adopt(shell)
        result.train(module.training)
        return result

    def _adopt(self, native: nn.RNNBase) -> None:
        for name in (*_OPTIONS, "mode", "bidirectional", "proj_size", "_flat_weights_names"):
            object.__setattr__(self, name, getattr(native, name))
        if isinstance(native, nn.RNN):
            object.__setattr__(self, "nonlinearity", native.nonlinearity)
        for name in native._flat_weights_names:
            self.register_parameter(name, native._parameters[name])
        # Not a submodule: its Parameters are ours, under our names, in our state_dict.
        object.__setattr__(self, "_native", native)

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if name in self.__dict__.get("_flat_weights_names", ()):
            setattr(self._native, name, value)

    def _apply(self, fn: Any, recurse: bool = True) -> Self:
        # The native module converts the shared Parameters and regroups them for cuDNN.
        self._native._apply(fn, recurse)  # type: ignore[no-untyped-call]
        for name in self._flat_weights_names:
            self._parameters[name] = self._native._parameters[name]
        return self

    def flatten_parameters(self) -> None:
        """Regroup the weights into one buffer for cuDNN, as ``torch.nn``'s method does."""
        self._native.flatten_parameters()

    def extra_repr(self) -> str:
        return self._native.extra_repr()

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
                caller's batch order; ``None`` for zeros.
            lengths: ``B`` valid lengths in ``[0, T]``, any order: a 1-D integer Tensor (any
                device; copied once to the CPU, where packing reads them) or a list or tuple of
                ints. ``None``: every sequence has ``T`` steps.

        Returns:
            ``(output, h_n)`` (``(output, (h_n, c_n))`` for an LSTM), what torch returns:
            ``output`` ``T x B x D*H_out`` with zeros at padding, the final states at each
            sequence's last valid step; a row of length 0 has zero outputs and keeps its
            ``hx``.

        Raises:
            TypeError: for ``lengths`` with a PackedSequence, or non-integer ``lengths``.
            ValueError: for a wrong ``input`` rank or ``lengths`` out of range or of the wrong
                count.
        """
        where = type(self).__name__
        if lengths is None and not torch.compiler.is_compiling():
            self._native.training = self.training
            return self._native(input, hx)  # type: ignore[no-any-return]
        if isinstance(input, PackedSequence):
            raise TypeError(
                f"{where}: a PackedSequence `input` carries its lengths: pass `lengths` only "
                "with a padded Tensor (a PackedSequence works in eager mode, without `lengths`)"
            )
        if not isinstance(input, Tensor):
            raise TypeError(f"{where}: `input` must be a Tensor, got {type(input).__name__}")
        if input.dim() != 3:
            layout = "B x T x H_in" if self.batch_first else "T x B x H_in"
            raise ValueError(f"{where}: `input` must be 3-D ({layout}), got {input.dim()}-D")
        batch_dim = 0 if self.batch_first else 1
        checked = (
            None
            if lengths is None
            else as_lengths(
                lengths,
                batch_size=input.shape[batch_dim],
                max_length=input.shape[1 - batch_dim],
                where=where,
            )
        )
        return packed_rnn(self, input, checked, hx, where)


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
    ) -> None:
        super().__init__()
        self._adopt(
            nn.RNN(
                input_size,
                hidden_size,
                num_layers,
                nonlinearity=nonlinearity,
                bias=bias,
                batch_first=batch_first,
                dropout=dropout,
                bidirectional=bidirectional,
                device=device,
                dtype=dtype,
            )
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
    ) -> None:
        super().__init__()
        self._adopt(
            nn.GRU(
                input_size,
                hidden_size,
                num_layers,
                bias=bias,
                batch_first=batch_first,
                dropout=dropout,
                bidirectional=bidirectional,
                device=device,
                dtype=dtype,
            )
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
        self._adopt(
            nn.LSTM(
                input_size,
                hidden_size,
                num_layers,
                bias=bias,
                batch_first=batch_first,
                dropout=dropout,
                bidirectional=bidirectional,
                proj_size=proj_size,
                device=device,
                dtype=dtype,
            )
        )
