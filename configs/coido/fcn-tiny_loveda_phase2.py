# CoIDO phase 2 (and the plain baseline): the unchanged small FCN on
# LoveDA-format data, trained on the CoIDO selection. Only the sampler
# differs from ordinary training; it refuses a selected.json made for another
# data list. Full data: sampler=dict(type='InfiniteSampler', shuffle=True).
_base_ = [
    '../_base_/models/coido_tiny_fcn.py', '../_base_/datasets/coido_loveda.py',
    '../_base_/default_runtime.py'
]
custom_imports = dict(imports=['ovseg_plugins.seg2d', 'ovseg_plugins.coido'],
                      allow_failed_imports=False)
coido_files = 'work_dirs/fcn-tiny_loveda_phase1/coido'
train_dataloader = dict(sampler=dict(
    _delete_=True, type='IndexSubsetSampler', shuffle=True,
    indices_file=coido_files + '/selected.json'))
optim_wrapper = dict(type='OptimWrapper',
                     optimizer=dict(type='AdamW', lr=3e-3, weight_decay=1e-4))
param_scheduler = [dict(type='PolyLR', eta_min=1e-5, power=0.9, begin=0,
                        end=500, by_epoch=False)]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=500, val_interval=500)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(logger=dict(interval=100),
                     checkpoint=dict(type='CheckpointHook', by_epoch=False,
                                     interval=500))
randomness = dict(seed=0)
