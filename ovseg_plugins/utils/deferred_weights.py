"""Weights a config names, loaded only when no checkpoint supplied them."""
from typing import Optional

import torch.nn as nn
from mmengine.logging import print_log

__all__ = ['DeferredWeights', 'ensure_model_weights']


class DeferredWeights:
    """Mixin for modules whose config names their own weights (a backbone's
    ``pretrained``).

    The rule every door follows (mmseg's ``init_model`` sets
    ``model.pretrained=None`` when it is given a checkpoint, and its
    ``EncoderDecoder`` loads ``pretrained`` only in ``init_weights``; this is
    the same rule for our components' own keys): the module is built with its
    architecture only; its named weights are resolved and loaded when first
    needed (:meth:`ensure_weights`: first forward, text encoding,
    ``init_weights``), unless a state dict holding the module's tensors was
    loaded into it first (``load_checkpoint``, ``--resume``, ``load_from``,
    ``init_model(config, checkpoint)``, ``MMSegInferencer(weights=...)``).
    Then the named weights are never looked up or downloaded.

    Call :meth:`defer_weights` at the end of ``__init__`` and implement
    :meth:`load_named_weights`.
    """

    _pending_weights: Optional[dict] = None
    _pending_what: str = ''
    weights_source: Optional[str] = None
    #: incremented whenever the module's weights change (named weights
    #: loaded, or a state dict loaded into it): keys derived results (text
    #: embeddings of a vocabulary)
    weights_version: int = 0

    def defer_weights(self, what: str, named: Optional[dict]) -> None:
        """Register the named weights, loaded on first need by
        ``self.load_named_weights(**named)``.

        Args:
            what (str): The weights, for logs (e.g. ``"pretrained='openai'"``).
            named (dict, optional): Arguments of :meth:`load_named_weights`;
                None: nothing is named (random weights).
        """
        assert isinstance(self, nn.Module)
        self._pending_weights = None if named is None else dict(named)
        self._pending_what = what
        self.register_load_state_dict_pre_hook(_weights_from_state_dict)

    @property
    def weights_pending(self) -> bool:
        """Whether the named weights are still to be loaded."""
        return self._pending_weights is not None

    def load_named_weights(self, **named) -> None:
        """Load the named weights in place (implemented by the module)."""
        raise NotImplementedError

    def ensure_weights(self) -> None:
        """Load the named weights now if no checkpoint supplied them (once).

        Raises:
            WeightsNotFoundError: The named weights cannot be had.
        """
        named = self._pending_weights
        if named is None:
            return
        self.load_named_weights(**named)
        self._pending_weights = None
        self.weights_source = self._pending_what
        self.weights_version += 1

    def drop_pending_weights(self) -> None:
        """Run with the weights the module has now (random ones for a
        plumbing check): the named weights are never loaded."""
        self._pending_weights = None


def ensure_model_weights(model: nn.Module) -> None:
    """:meth:`DeferredWeights.ensure_weights` on every submodule of
    ``model`` (after a checkpoint load: only those it did not supply).

    Raises:
        WeightsNotFoundError: Named weights that cannot be had.
    """
    for m in model.modules():
        if isinstance(m, DeferredWeights):
            m.ensure_weights()


def _weights_from_state_dict(module, state_dict, prefix, *args) -> None:
    """Load pre-hook: a state dict with this module's tensors supplies its
    weights, so the named ones are never resolved."""
    if not any(k.startswith(prefix) for k in state_dict):
        return
    if module._pending_weights is not None:
        print_log(f'{type(module).__name__}: weights from the loaded state '
                  f'dict; {module._pending_what} is not loaded.', 'current')
    module._pending_weights = None
    module.weights_source = 'checkpoint'
    module.weights_version += 1
    if getattr(module, 'weights_id', None) is not None:
        module.weights_id = None  # keys caches: no longer these weights
