# ISPRS Potsdam, test split, SegEarth-OV protocol: long side resized to 448,
# ground truth kept at its original size (annotations loaded after Resize).
_base_ = ['mmseg::_base_/datasets/potsdam.py']

test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(448, 448), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
test_dataloader = dict(
    batch_size=1, num_workers=2, dataset=dict(pipeline=test_pipeline))
test_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
train_dataloader = None
val_dataloader = None
val_evaluator = None
