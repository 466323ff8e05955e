# WHUDataset test split for training-free OV segmentation (SegEarth-OV
# protocol): long side resized to 448; ground truth kept at its original size.
# Metric: foreground-class IoU (fgIoU) is the headline number.
dataset_type = 'WHUDataset'
data_root = 'data/WHU_Sat_II/1.cropped'
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
        data_prefix=dict(img_path='test/image', seg_map_path='test/label_cvt'),
        img_suffix='.tif',
        seg_map_suffix='.tif',
        pipeline=test_pipeline))
test_evaluator = dict(type='ForegroundIoUMetric', iou_metrics=['mIoU'], foreground_index=1)
