# Training-free methods: only a test loop. Our dataset bases leave train/val
# loaders unset; stock ones (mmseg::_base_/datasets/...) define them, and
# TestOnlyRunner drops the pieces of the None loops (mmengine's Runner wants
# each loop's pieces all None or all set), so both compose with no overrides.
runner_type = 'TestOnlyRunner'
train_cfg = None
val_cfg = None
test_cfg = dict(type='TestLoop')
optim_wrapper = None
param_scheduler = None
