"""Whether calling a module runs its ``forward`` and nothing else (no hook would be skipped)."""

from __future__ import annotations

from torch import nn
from torch.nn.modules import module as _module

__all__ = ["has_hooks"]


def has_hooks(module: nn.Module) -> bool:
    """Whether calling ``module`` would run a hook: its own or a global one, of any kind.

    The test of ``nn.Module.__call__``'s own fast path. Code that runs a module's computation
    without calling it (a kernel called with the module's weights) must call the module instead
    when this is true, or the hooks would be skipped silently. torch has no public query for
    the global hooks; these are the dicts ``__call__`` itself reads.
    """
    return bool(
        module._forward_hooks
        or module._forward_pre_hooks
        or module._backward_hooks
        or module._backward_pre_hooks
        or _module._global_forward_hooks
        or _module._global_forward_pre_hooks
        or _module._global_backward_hooks
        or _module._global_backward_pre_hooks
    )
