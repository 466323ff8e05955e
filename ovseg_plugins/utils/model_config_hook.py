"""Store a run's model config in its checkpoints as plain data."""
import json

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.registry import HOOKS


def model_cfg_as_data(model_cfg) -> dict:
    """The model config as JSON-compatible data (dicts, lists, strings,
    numbers; tuples become lists).

    Raises:
        TypeError: A value is not plain data (a tensor, a class object).
    """
    cfg = model_cfg.to_dict() if hasattr(model_cfg, 'to_dict') else \
        dict(model_cfg)
    return json.loads(json.dumps(cfg))


@HOOKS.register_module()
class StoreModelConfigHook(Hook):
    """Write ``meta['model_cfg']``: the run's ``model`` config as plain data.

    mmengine stores the whole config as Python text (``meta['cfg']``);
    reading it back would mean executing text found in a file, which
    ``ovseg_plugins`` never does. A loader (e.g. ``GeoPurifyInferencer``
    given a student checkpoint) builds the model from this dict instead.
    Listed in ``default_hooks`` of ``configs/_base_/default_runtime_3d.py``.
    """
    priority = 'VERY_LOW'

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        model_cfg = runner.cfg.get('model')
        if model_cfg is None:
            return
        try:
            data = model_cfg_as_data(model_cfg)
        except (TypeError, ValueError) as e:
            print_log(f'model config not stored in the checkpoint as data '
                      f'({e}); loaders will need the config file.',
                      'current')
            return
        checkpoint.setdefault('meta', {})['model_cfg'] = data
