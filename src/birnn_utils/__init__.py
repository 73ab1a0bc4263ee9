"""birnn-utils: exact, tested helpers for PyTorch bidirectional RNNs."""

from importlib.metadata import version

from . import nn
from ._bidirectional import Bidirectional
from ._checks import value_checks, value_checks_enabled
from ._encoder import BiRNNEncoder, EncoderOutput
from ._explain import explain_layout
from ._layout import (
    BridgeMode,
    Directions,
    MergeMode,
    State,
    bridge_states,
    final_outputs,
    final_states,
    flatten_states,
    merge_directions,
    split_directions,
    unflatten_states,
)
from ._lengths import LengthsLike, PaddingSide, lengths_to_mask, mask_to_lengths
from ._onnx import onnx_translation_table
from ._packed import run_packed
from ._padding import move_padding
from ._reverse import reverse_sequences
from ._surgery import extract_forward_module, extract_reverse_module, make_bidirectional
from ._varlen import (
    cu_seqlens_to_lengths,
    cu_seqlens_to_seq_idx,
    lengths_to_cu_seqlens,
    packed_to_varlen,
    padded_to_varlen,
    varlen_to_packed,
    varlen_to_padded,
)

__version__ = version("birnn-utils")

__all__ = [
    "BiRNNEncoder",
    "Bidirectional",
    "BridgeMode",
    "Directions",
    "EncoderOutput",
    "LengthsLike",
    "MergeMode",
    "PaddingSide",
    "State",
    "bridge_states",
    "cu_seqlens_to_lengths",
    "cu_seqlens_to_seq_idx",
    "explain_layout",
    "extract_forward_module",
    "extract_reverse_module",
    "final_outputs",
    "final_states",
    "flatten_states",
    "lengths_to_cu_seqlens",
    "lengths_to_mask",
    "make_bidirectional",
    "mask_to_lengths",
    "merge_directions",
    "move_padding",
    "nn",
    "onnx_translation_table",
    "packed_to_varlen",
    "padded_to_varlen",
    "reverse_sequences",
    "run_packed",
    "split_directions",
    "unflatten_states",
    "value_checks",
    "value_checks_enabled",
    "varlen_to_packed",
    "varlen_to_padded",
]
