"""Compatibility shims for the OpenMMLab stack on current torch."""
import os


def allow_runner_checkpoints() -> None:
    """Let mmengine 0.10.7 load the checkpoints its own Runner saves.

    torch >= 2.6 defaults ``torch.load(weights_only=True)`` and mmengine 0.10.7
    does not pass ``weights_only``; a Runner checkpoint holds ``HistoryBuffer``
    objects and numpy scalars in ``message_hub``, so ``load_from``, ``--resume``
    and ``tools/test.py ckpt.pth`` fail with ``Unsupported global``. torch reads
    ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` at each call, so setting it is enough.
    Only call this in entry points (tools, tests) that load trusted files.
    """
    os.environ.setdefault('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
