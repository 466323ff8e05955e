# Shared test settings of the training-free OV benchmarks (SegEarth-OV
# protocol): long side resized to 448, ground truth loaded after the resize
# (kept at its original size; the models resize their logits back).
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
    # no serialisation: an empty image folder then reaches the input-check
    # hook's clear error instead of numpy's "need at least one array to
    # concatenate" while the dataset is built
    dataset=dict(pipeline=test_pipeline, serialize_data=False))
test_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
