"""Framework-light helpers: typing aliases, torch.load compatibility, weights."""
from .checkpoint import (WeightsNotFoundError, file_sha256, load_state_dict_strict,
                         load_torch_file)
from .compat import allow_runner_checkpoints
from .eval_model_wrapper import EvalModelWrapper
from .test_only_runner import TestOnlyRunner
from .typing import (ConfigType, MultiConfig, OptConfigType, OptMultiConfig,
                     OptSampleList, SampleList)

__all__ = [
    'ConfigType', 'OptConfigType', 'MultiConfig', 'OptMultiConfig',
    'SampleList', 'OptSampleList', 'WeightsNotFoundError', 'file_sha256',
    'load_state_dict_strict', 'load_torch_file', 'allow_runner_checkpoints',
    'EvalModelWrapper', 'TestOnlyRunner'
]
