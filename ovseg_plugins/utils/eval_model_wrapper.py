"""A model wrapper for distributed evaluation of (training-free) models."""
import torch.nn as nn
from mmengine.registry import MODEL_WRAPPERS


@MODEL_WRAPPERS.register_module()
class EvalModelWrapper(nn.Module):
    """Marks a model as wrapped for distributed *evaluation* without DDP.

    ``tools/test.py --launcher pytorch`` uses it: evaluation needs no
    gradient synchronisation, and torch's ``DistributedDataParallel``
    refuses models without trainable parameters (training-free SegEarth-OV /
    -OV3). Each rank runs its shard of the data; the evaluator gathers the
    results (mmengine's ``collect_results`` drops the sampler's padding).

    Args:
        module (nn.Module): The model (already on its device).
    """

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    def train_step(self, data, optim_wrapper):
        raise RuntimeError(
            'EvalModelWrapper is for evaluation only (tools/test.py); train '
            'with tools/train.py, which wraps the model in DDP.')

    def val_step(self, data):
        return self.module.val_step(data)

    def test_step(self, data):
        return self.module.test_step(data)
