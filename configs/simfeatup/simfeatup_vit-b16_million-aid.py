# Train SimFeatUp for CLIP ViT-B/16 on a folder of aerial images (the authors
# used the Million-AID test split; COCO-10k works about as well). The saved
# checkpoint loads directly into neck=dict(type='SimFeatUp', checkpoint=...).
_base_ = [
    '../_base_/models/simfeatup_trainer_vit-b16.py',
    '../_base_/datasets/unlabeled_images_224.py',
    '../_base_/default_runtime.py', '../_base_/schedules/simfeatup_nadam_2k.py'
]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10, log_metric_by_epoch=False),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=100,
                    max_keep_ckpts=3),
    visualization=dict(type='SegVisualizationHook', draw=False))
