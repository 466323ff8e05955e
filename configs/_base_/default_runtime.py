# 2D runtime: mmseg's (default_scope='mmseg', visualizer, log processor, TTA
# model) plus the default hooks that mmseg keeps in its schedule files.
_base_ = ['mmseg::_base_/default_runtime.py']

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=1000),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook', draw=False, interval=1),
    # empty datasets, class counts, unreadable files, label values, EXIF,
    # checkpoints: clear errors with every tool that builds a Runner from
    # this config (ovseg_plugins/utils/run_input_checks_hook.py)
    input_checks=dict(type='RunInputChecksHook'))
