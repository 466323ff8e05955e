# SegEarth-OV3 (SAM 3) on openearthmap (training-free; no test-time resize: the
# model resizes each image / 512 window to SAM 3's input itself).
_base_ = [
    '../_base_/datasets/ov_openearthmap.py', '../_base_/models/segearth_ov3_sam3.py',
    '../_base_/default_runtime.py', '../_base_/schedules/test_only.py'
]
test_dataloader = dict(dataset=dict(pipeline={{_base_.sam3_test_pipeline}}))
test_evaluator = dict(iou_metrics=['mIoU', 'mFscore'])
model = dict(
    class_names='{{fileDirname}}/../segearth/class_names/openearthmap.txt',
    decode_head=dict(confidence_threshold=0.1),
    test_cfg=dict(mode='slide', crop_size=(512, 512), stride=(512, 512)),
    prob_thd=0.1,
    bg_idx=0)
