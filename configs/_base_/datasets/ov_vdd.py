# VDDDataset test split for training-free OV segmentation (SegEarth-OV
# protocol): long side resized to 448; ground truth kept at its original size.
# Metric: mIoU over all classes.
dataset_type = 'VDDDataset'
data_root = 'data/VDD'
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(448, 448), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='test/src', seg_map_path='test/gt'),
        pipeline=test_pipeline))
test_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
