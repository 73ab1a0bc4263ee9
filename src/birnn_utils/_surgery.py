"""Module surgery: one direction of a bidirectional RNN as a module of its own, and back.

A bidirectional ``nn.RNN/GRU/LSTM`` holds, for each layer ``k``, the forward direction's
Parameters ``weight_ih_l{k}``, ``weight_hh_l{k}``, ``bias_ih_l{k}``, ``bias_hh_l{k}`` (with
``bias``) and ``weight_hr_l{k}`` (LSTM with ``proj_size``), and the backward direction's under the
same names with the suffix ``_reverse``. Layer 0 reads the input (``input_size`` features); a
layer above reads the layer below's output, both directions concatenated (``2 * H_out``
features, ``H_out`` being ``proj_size`` or ``hidden_size``).

The reverse module of layer ``k`` is a unidirectional single-layer module holding layer ``k``'s
``_reverse`` weights: fed a sequence reversed within its length, it returns the backward
direction's output reversed, and its ``h_n`` is the backward row of layer ``k`` in the
bidirectional module's ``h_n``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize
from torch.nn.utils.spectral_norm import SpectralNorm
from torch.nn.utils.weight_norm import WeightNorm

from ._checks import check_layer
from ._layout import output_size

__all__ = ["extract_forward_module", "extract_reverse_module", "make_bidirectional"]

_NATIVE: dict[str, type[nn.RNNBase]] = {
    "RNN_TANH": nn.RNN,
    "RNN_RELU": nn.RNN,
    "GRU": nn.GRU,
    "LSTM": nn.LSTM,
}
_NONLINEARITY = {"RNN_TANH": "tanh", "RNN_RELU": "relu"}


def _check_rnn(rnn: object, where: str, name: str) -> nn.RNNBase:
    if not isinstance(rnn, nn.RNNBase):
        raise TypeError(
            f"{where}: `{name}` must be an nn.RNN, nn.GRU or nn.LSTM (an nn.RNNBase), "
            f"got {type(rnn).__name__}"
        )
    return rnn


def _settings(rnn: nn.RNNBase) -> dict[str, Any]:
    """What makes two modules' weights interchangeable, in the order errors report it."""
    # The first Parameter, not `weight_ih_l0`: a parametrisation may compute that one.
    weight = next(rnn.parameters())
    return {
        # torch.nn.utils.parametrize swaps a parametrised module's class for a generated one.
        "class": parametrize.type_before_parametrizations(rnn),
        "mode": rnn.mode,
        "num_layers": rnn.num_layers,
        "bidirectional": rnn.bidirectional,
        "input_size": rnn.input_size,
        "hidden_size": rnn.hidden_size,
        "proj_size": rnn.proj_size,
        "bias": rnn.bias,
        "batch_first": rnn.batch_first,
        "dtype": weight.dtype,
        "device": weight.device,
    }


def _show(value: object) -> str:
    return value.__name__ if isinstance(value, type) else repr(value)


def _build(template: nn.RNNBase, *, input_size: int, bidirectional: bool) -> nn.RNNBase:
    """A fresh single-layer module with ``template``'s settings and class where possible.

    ``type(template)`` is tried with the native keyword arguments; a subclass whose ``__init__``
    takes other arguments (``TypeError``) or does not honour these (say, it fixes
    ``bidirectional=True``) gets the native class of its ``mode`` instead, so that the weights
    always fit.
    """
    expected = _settings(template) | {
        "num_layers": 1,
        "bidirectional": bidirectional,
        "input_size": input_size,
    }
    kwargs: dict[str, Any] = {
        "input_size": input_size,
        "hidden_size": template.hidden_size,
        "num_layers": 1,
        "bias": template.bias,
        "batch_first": template.batch_first,
        # Dropout acts between stacked layers only: a single layer has none to apply (and torch
        # warns when it is asked to).
        "dropout": 0.0,
        "bidirectional": bidirectional,
        "device": expected["device"],
        "dtype": expected["dtype"],
    }
    if template.mode in _NONLINEARITY:
        kwargs["nonlinearity"] = _NONLINEARITY[template.mode]
    if template.mode == "LSTM":
        kwargs["proj_size"] = template.proj_size
    native = _NATIVE[template.mode]
    cls: type[nn.RNNBase] = expected["class"]
    # The new module's random initialisation is overwritten: it must not advance the caller's RNG.
    with _own_rng(expected["device"]):
        if cls is not native:
            try:
                built = cls(**kwargs)
            except Exception:  # any failure of a foreign constructor: fall back
                pass
            else:
                if _settings(built) == expected:
                    return built
        return native(**kwargs)


@contextmanager
def _own_rng(device: torch.device) -> Iterator[None]:
    """Restore the global RNG of the CPU (and of ``device``) on exit."""
    accelerated = device.type not in ("cpu", "meta")
    with torch.random.fork_rng(
        devices=[device] if accelerated else [],
        device_type=device.type if accelerated else "cuda",
    ):
        yield


def _weight(source: nn.RNNBase, name: str, *, share: bool, where: str) -> Tensor:
    """``source``'s weight ``name``: its Parameter, or the effective weight that is computed.

    A weight under ``torch.nn.utils.parametrizations.weight_norm``/``spectral_norm`` (or their
    old-style hooks) is computed from other Parameters.

    Raises:
        ValueError: for a computed weight with ``share``: there is no Parameter to share.
    """
    if isinstance(source._parameters.get(name), nn.Parameter):
        return source.get_parameter(name)
    parametrized = parametrize.is_parametrized(source, name)
    if parametrized:
        parametrizations = source.get_submodule(f"parametrizations.{name}")
        computers: list[Any] = list(parametrizations.children())
    else:
        computers = [
            hook
            for hook in source._forward_pre_hooks.values()
            if isinstance(hook, (WeightNorm, SpectralNorm)) and hook.name == name
        ]
    if not computers:
        raise TypeError(
            f"{where}: `rnn.{name}` must be a Parameter or computed by a parametrisation, got "
            f"{type(getattr(source, name, None)).__name__}"
        )
    if share:
        raise ValueError(
            f"{where}: `share_parameters=True` needs Parameters to share, but `{name}` is "
            f"computed by {', '.join(type(c).__name__ for c in computers)}; "
            "share_parameters=False copies its effective weight"
        )
    if not parametrized:
        hook = computers[0]
        if isinstance(hook, SpectralNorm):
            # Without a power-iteration step, which would update the hook's vectors in `source`.
            return hook.compute_weight(source, do_power_iteration=False)
        weight: Tensor = hook.compute_weight(source)
        return weight
    # Read in eval mode: spectral_norm's power iteration in training mode updates its buffers.
    modules = list(parametrizations.modules())
    training = [module.training for module in modules]
    parametrizations.eval()
    try:
        weight = getattr(source, name)
    finally:
        for module, mode in zip(modules, training, strict=True):
            module.training = mode
    return weight


def _transfer(
    source: nn.RNNBase,
    layer: int,
    suffix: str,
    target: nn.RNNBase,
    target_suffix: str,
    *,
    share: bool,
    where: str,
) -> None:
    """Give ``target``'s layer-0 direction ``target_suffix`` the weights of ``source``'s."""
    bases = ["weight_ih", "weight_hh"]
    if source.bias:
        bases += ["bias_ih", "bias_hh"]
    if source.proj_size > 0:
        bases.append("weight_hr")
    for base in bases:
        param = _weight(source, f"{base}_l{layer}{suffix}", share=share, where=where)
        name = f"{base}_l0{target_suffix}"
        if share:
            # RNNBase.__setattr__ also updates the module's `_flat_weights`.
            setattr(target, name, param)
        else:
            own = target.get_parameter(name)
            with torch.no_grad():
                own.copy_(param)
            own.requires_grad_(param.requires_grad)


def _extract(
    rnn: object, layer: int, share_parameters: bool, *, reverse: bool, where: str
) -> nn.RNNBase:
    module = _check_rnn(rnn, where, "rnn")
    if reverse and not module.bidirectional:
        raise ValueError(
            f"{where}: `rnn` must be bidirectional to have a reverse direction, got a "
            f"unidirectional {type(module).__name__}; its only direction is the forward one "
            "(extract_forward_module)"
        )
    layer = check_layer(layer, module.num_layers, where)
    if not isinstance(share_parameters, bool):
        raise TypeError(
            f"{where}: `share_parameters` must be a bool, got {type(share_parameters).__name__}"
        )
    h_out = output_size(module)
    directions = 2 if module.bidirectional else 1
    input_size = module.input_size if layer == 0 else directions * h_out
    extracted = _build(module, input_size=input_size, bidirectional=False)
    suffix = "_reverse" if reverse else ""
    _transfer(module, layer, suffix, extracted, "", share=share_parameters, where=where)
    if not share_parameters:
        extracted.flatten_parameters()
    return extracted


def extract_forward_module(
    rnn: nn.RNNBase, *, layer: int = 0, share_parameters: bool = False
) -> nn.RNNBase:
    """The forward direction of one layer of an RNN, as a unidirectional single-layer module.

    Use it to run, check or reuse one layer's forward direction on its own: fed that layer's
    input, the module returns the forward half of the layer's output and the layer's forward
    row of ``h_n`` (and ``c_n``). ``rnn`` may be bidirectional or not.

    The new module is built as ``type(rnn)`` when that class accepts ``nn.RNN``/``nn.GRU``/
    ``nn.LSTM``'s keyword arguments and honours them (a subclass that adds methods or passes its
    arguments through), and as the native class of ``rnn.mode`` otherwise (its constructor
    raised, or ignored an argument); only the recurrent weights come from ``rnn``, and the global
    random number generators are left as they were. A weight under a parametrisation
    (``torch.nn.utils.parametrizations.weight_norm``, ``spectral_norm``, or their old-style
    hooks ``torch.nn.utils.weight_norm``, ``spectral_norm``) is copied as the effective weight it
    computes, as in eval mode (no power-iteration step), into a plain Parameter of a plain
    module. Its ``dropout`` is 0: torch applies dropout
    between stacked layers only, so to mimic ``rnn`` in training, drop out each layer's output but
    the top one yourself. It is a fresh module, in training mode.

    With ``share_parameters=True`` the new module holds the very Parameter objects of ``rnn``:
    an optimizer step on either changes both, and gradients from both add up. On CUDA with cuDNN
    a Parameter can sit in one module's contiguous weight buffer only: on its first call the new
    module moves the shared ones into its own buffer (``flatten_parameters()``), after which
    ``rnn`` warns that its weights "are not part of single contiguous chunk of memory" and
    compacts them at every call (correct, but slower and using more memory), until
    ``rnn.flatten_parameters()`` moves them back and the new module is the one that compacts.
    Prefer the default copies unless both modules must train the same Parameters. On the CPU
    nothing of this applies.

    Args:
        rnn: an ``nn.RNN``, ``nn.GRU`` or ``nn.LSTM`` (or a subclass of ``nn.RNNBase``).
        layer: which layer, 0 (the bottom one) by default; negative values count from the top.
        share_parameters: ``False`` (default) to copy the weights into new, independent
            Parameters (with the same ``requires_grad``) and call ``flatten_parameters()``;
            ``True`` to hold ``rnn``'s own Parameter objects (see above).

    Returns:
        A unidirectional single-layer module of ``rnn``'s class, or of the native class for
        ``rnn.mode`` when a subclass cannot be built that way (``nn.RNN`` with the same
        nonlinearity, ``nn.GRU``, ``nn.LSTM`` with the same ``proj_size``), with ``rnn``'s
        ``hidden_size``, ``bias``, ``batch_first``, dtype and device, and standard Parameter
        names (``weight_ih_l0``, ...). Its ``input_size`` is ``rnn.input_size`` for layer 0 and
        ``num_directions * H_out`` above. ``rnn`` is left untouched.

    Raises:
        TypeError: if ``rnn`` is not an ``nn.RNNBase``, ``layer`` not an int, or
            ``share_parameters`` not a bool.
        ValueError: with ``share_parameters=True``, if a weight is computed by a
            parametrisation (there is no Parameter to share).
        IndexError: if ``layer`` is out of range.

    Example:
        >>> import torch
        >>> from birnn_utils import extract_forward_module
        >>> lstm = torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True)
        >>> x = torch.randn(5, 2, 3)  # T=5, B=2
        >>> output, (h_n, c_n) = lstm(x)
        >>> forward = extract_forward_module(lstm)  # layer 0
        >>> forward
        LSTM(3, 4)
        >>> # layer 1 reads both directions of layer 0
        >>> extract_forward_module(lstm, layer=1).input_size
        8
        >>> out, (h, c) = forward(x)
        >>> # h_n[0] and c_n[0]: layer 0, forward direction
        >>> torch.allclose(h[0], h_n[0]) and torch.allclose(c[0], c_n[0])
        True
    """
    return _extract(rnn, layer, share_parameters, reverse=False, where="extract_forward_module")


def extract_reverse_module(
    rnn: nn.RNNBase, *, layer: int = 0, share_parameters: bool = False
) -> nn.RNNBase:
    """The backward direction of one layer of a bidirectional RNN, as a unidirectional module.

    The *reverse module* computes the backward direction: fed layer ``layer``'s input reversed
    within each sequence's length, it returns the backward half of the layer's output reversed
    the same way, and its ``h_n`` (and ``c_n``) is the layer's backward row of ``rnn``'s. This is
    the classic check of how bidirectional RNNs work, without assigning ``*_reverse``
    Parameters by hand (which aliases them, forgets ``weight_hr_l{k}_reverse`` and breaks
    cuDNN's flat weight buffer).

    The new module's class, ``dropout`` and, with ``share_parameters=True``, its Parameters are
    as described for :func:`extract_forward_module`.

    Args:
        rnn: a bidirectional ``nn.RNN``, ``nn.GRU`` or ``nn.LSTM`` (or a subclass of
            ``nn.RNNBase``).
        layer: which layer, 0 (the bottom one) by default; negative values count from the top.
        share_parameters: ``False`` (default) to copy the weights into new, independent
            Parameters (with the same ``requires_grad``) and call ``flatten_parameters()``;
            ``True`` to hold ``rnn``'s own ``*_reverse`` Parameter objects (see above).

    Returns:
        A unidirectional single-layer module of ``rnn``'s class (or the native class, as for
        :func:`extract_forward_module`), settings, dtype and device, with standard Parameter
        names (``weight_ih_l0``, not ``..._reverse``). Its ``input_size`` is ``rnn.input_size``
        for layer 0 and ``2 * H_out`` above. ``rnn`` is left untouched.

    Raises:
        TypeError: if ``rnn`` is not an ``nn.RNNBase``, ``layer`` not an int, or
            ``share_parameters`` not a bool.
        ValueError: if ``rnn`` is not bidirectional, or, with ``share_parameters=True``, a
            weight is computed by a parametrisation.
        IndexError: if ``layer`` is out of range.

    Example:
        >>> import torch
        >>> from birnn_utils import extract_reverse_module
        >>> gru = torch.nn.GRU(3, 4, bidirectional=True)
        >>> x = torch.randn(5, 2, 3)  # T=5, B=2, all of length 5
        >>> output, h_n = gru(x)
        >>> reverse = extract_reverse_module(gru)
        >>> reverse_output, reverse_h_n = reverse(x.flip(0))
        >>> torch.allclose(reverse_output.flip(0), output[..., 4:])  # the backward half
        True
        >>> torch.allclose(reverse_h_n[0], h_n[1])  # the backward row of h_n
        True
    """
    return _extract(rnn, layer, share_parameters, reverse=True, where="extract_reverse_module")


def make_bidirectional(forward: nn.RNNBase, reverse: nn.RNNBase) -> nn.RNNBase:
    """One bidirectional module from a forward and a reverse unidirectional single-layer module.

    Use it to combine two separately trained RNNs, say a forward and a backward language model,
    into one module that runs both directions in a single native call (one cuDNN kernel on a
    GPU). ``reverse`` is meant to read sequences reversed within their lengths; in the new
    module it reads them in order and its output comes back aligned with the input, as in any
    bidirectional RNN. The inverse of :func:`extract_forward_module` and
    :func:`extract_reverse_module` on a single-layer module.

    Args:
        forward: a unidirectional single-layer ``nn.RNN``, ``nn.GRU`` or ``nn.LSTM`` (or a
            subclass of ``nn.RNNBase``), the forward direction.
        reverse: one of the same class, ``mode`` (for ``nn.RNN``, the nonlinearity),
            ``input_size``, ``hidden_size``, ``proj_size``, ``bias``, ``batch_first``, dtype and
            device, the backward direction.

    Returns:
        A bidirectional single-layer module with those settings, whose ``*_l0`` Parameters are
        copies of ``forward``'s and ``*_l0_reverse`` copies of ``reverse``'s (same
        ``requires_grad``), ``flatten_parameters()`` called. It is built as ``type(forward)``
        when that class accepts and honours the native keyword arguments, as the native class
        otherwise; its ``dropout`` is 0 and it is in training mode. ``forward`` and ``reverse``
        are left untouched.

    Raises:
        TypeError: if either is not an ``nn.RNNBase``.
        ValueError: if either is bidirectional or has more than one layer, or if they differ in
            a setting above (the message names it).

    Example:
        >>> import torch
        >>> from birnn_utils import make_bidirectional
        >>> forward_lm, backward_lm = torch.nn.LSTM(3, 4), torch.nn.LSTM(3, 4)
        >>> bilstm = make_bidirectional(forward_lm, backward_lm)
        >>> bilstm
        LSTM(3, 4, bidirectional=True)
        >>> x = torch.randn(5, 2, 3)
        >>> output, (h_n, c_n) = bilstm(x)
        >>> torch.allclose(output[..., :4], forward_lm(x)[0])
        True
        >>> torch.allclose(output[..., 4:], backward_lm(x.flip(0))[0].flip(0))
        True
    """
    where = "make_bidirectional"
    for name, module in (("forward", forward), ("reverse", reverse)):
        if _check_rnn(module, where, name).bidirectional or module.num_layers != 1:
            raise ValueError(
                f"{where}: `{name}` must be unidirectional with one layer, got "
                f"bidirectional={module.bidirectional}, num_layers={module.num_layers}"
            )
    forward_settings, reverse_settings = _settings(forward), _settings(reverse)
    for field, value in forward_settings.items():
        if reverse_settings[field] != value:
            raise ValueError(
                f"{where}: `forward` and `reverse` must have the same {field}, got "
                f"{_show(value)} and {_show(reverse_settings[field])}"
            )
    bidirectional = _build(forward, input_size=forward.input_size, bidirectional=True)
    _transfer(forward, 0, "", bidirectional, "", share=False, where=where)
    _transfer(reverse, 0, "", bidirectional, "_reverse", share=False, where=where)
    bidirectional.flatten_parameters()
    return bidirectional
