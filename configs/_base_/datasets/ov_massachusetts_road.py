# RoadValDataset test split for training-free OV segmentation (SegEarth-OV
# protocol): long side resized to 448; ground truth kept at its original size.
# Metric: foreground-class IoU (fgIoU) is the headline number.
dataset_type = 'RoadValDataset'
data_root = 'data/GlobalRoadSet_Val/Massachusetts_test_49'
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
        data_prefix=dict(img_path='img', seg_map_path='label_cvt'),
        pipeline=test_pipeline))
test_evaluator = dict(type='ForegroundIoUMetric', iou_metrics=['mIoU'], foreground_index=1)
