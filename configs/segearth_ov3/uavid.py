# SegEarth-OV3 (SAM 3) on uavid (training-free; no test-time resize: the
# model resizes each image to SAM 3's input itself).
_base_ = [
    '../_base_/datasets/ov_uavid.py', '../_base_/models/segearth_ov3_sam3.py',
    '../_base_/default_runtime.py', '../_base_/schedules/test_only.py'
]
test_dataloader = dict(dataset=dict(pipeline={{_base_.sam3_test_pipeline}}))
test_evaluator = dict(iou_metrics=['mIoU', 'mFscore'])
model = dict(
    class_names='{{fileDirname}}/../segearth/class_names/uavid.txt',
    decode_head=dict(confidence_threshold=0.3),
    prob_thd=0.3,
    bg_idx=0)
