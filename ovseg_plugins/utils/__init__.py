"""Framework-light helpers: typing aliases, safe weight loading, wrappers."""
from .checkpoint import (SAFE_GLOBALS, UnsafeCheckpointError,
                         WeightsNotFoundError, file_sha256,
                         load_state_dict_strict, load_torch_file)
from .eval_model_wrapper import EvalModelWrapper
from .model_config_hook import StoreModelConfigHook
from .run_input_checks_hook import RunInputChecksHook
from .test_only_runner import TestOnlyRunner
from .typing import (ConfigType, MultiConfig, OptConfigType, OptMultiConfig,
                     OptSampleList, SampleList)

__all__ = [
    'ConfigType', 'OptConfigType', 'MultiConfig', 'OptMultiConfig',
    'SampleList', 'OptSampleList', 'WeightsNotFoundError', 'file_sha256',
    'load_state_dict_strict', 'load_torch_file', 'UnsafeCheckpointError',
    'SAFE_GLOBALS', 'EvalModelWrapper', 'StoreModelConfigHook',
    'RunInputChecksHook',
    'TestOnlyRunner'
]
