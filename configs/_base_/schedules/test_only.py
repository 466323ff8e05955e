# Training-free methods: only a test loop. Dataset bases for them leave
# train/val loaders unset (Runner wants them all None or all set).
train_cfg = None
val_cfg = None
test_cfg = dict(type='TestLoop')
optim_wrapper = None
param_scheduler = None
