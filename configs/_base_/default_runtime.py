# 2D runtime: mmseg's (default_scope='mmseg', visualizer, log processor, TTA
# model) plus the default hooks that mmseg keeps in its schedule files.
_base_ = ['mmseg::_base_/default_runtime.py']

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=1000),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook', draw=False, interval=1))
