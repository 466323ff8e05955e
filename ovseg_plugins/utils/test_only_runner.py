"""Runner of training-free configs composed with stock dataset configs."""
import copy

from mmengine.logging import print_log
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

# loop -> the pieces mmengine's Runner wants all set or all None with it
_LOOP_PIECES = (
    ('train_cfg', ('train_dataloader', 'optim_wrapper', 'param_scheduler')),
    ('val_cfg', ('val_dataloader', 'val_evaluator')),
)


@RUNNERS.register_module()
class TestOnlyRunner(Runner):
    """An mmengine :class:`Runner` for configs without a training or
    validation loop.

    Stock dataset configs (``mmseg::_base_/datasets/potsdam.py``, ...) define
    train/val dataloaders and a val evaluator; a training-free model's
    schedule (``configs/_base_/schedules/test_only.py``) sets ``train_cfg``
    and ``val_cfg`` to None, and mmengine's Runner refuses the mix ("should
    be either all None or not None"). This runner drops the pieces of a
    loop that is None (logged) and is a plain Runner otherwise, so
    ``_base_ = [<stock dataset>, <our model>, <our runtime>, <test_only>]``
    runs with mmseg's or our ``tools/test.py`` without ``= None`` overrides.
    The test-only schedule selects it with ``runner_type='TestOnlyRunner'``.
    """

    @classmethod
    def from_cfg(cls, cfg) -> 'Runner':
        cfg = copy.deepcopy(cfg)
        dropped = []
        for loop, pieces in _LOOP_PIECES:
            if cfg.get(loop) is None:
                for key in pieces:
                    if cfg.get(key) is not None:
                        cfg[key] = None
                        dropped.append(key)
        runner = super().from_cfg(cfg)
        if dropped:
            print_log(
                f'TestOnlyRunner: no train/val loop in this config, so '
                f'{", ".join(dropped)} (from its dataset/schedule bases) '
                'are not used.', logger='current')
        return runner
