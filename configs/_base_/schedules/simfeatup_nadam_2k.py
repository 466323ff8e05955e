# NAdam lr 1e-3 over downsampler, upsampler, scale net and CRN (the featurizer
# is frozen); iteration-based (leaf configs set the checkpoint interval).
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='NAdam', lr=1e-3))
param_scheduler = []
train_cfg = dict(type='IterBasedTrainLoop', max_iters=2000, val_interval=10**9)
val_cfg = None
val_dataloader = None
val_evaluator = None
test_cfg = None
test_dataloader = None
test_evaluator = None
