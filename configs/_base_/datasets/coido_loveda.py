# LoveDA-format training data (img_dir/train, ann_dir/train: 0 = no-data,
# v = class v-1) at 64x64 crops, for the small CoIDO example. A plain mmseg
# dataset config: tools/coido/run.py adds `sample_idx` to the pack transform
# itself, and the feature bank uses the test pipeline (no augmentation).
dataset_type = 'LoveDADataset'
data_root = 'data/loveda_coido'
crop_size = (64, 64)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=1.0),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    batch_size=8, num_workers=0, persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root,
                 data_prefix=dict(img_path='img_dir/train',
                                  seg_map_path='ann_dir/train'),
                 # empty folders: the input-check hook's error (see
                 # ov_test_common.py)
                 serialize_data=False, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=0, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root,
                 data_prefix=dict(img_path='img_dir/val',
                                  seg_map_path='ann_dir/val'),
                 serialize_data=False, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
