# SegEarth-OV on xbd (training-free, GBA off: lambda = 0) with the BILINEAR
# neck: runs with the CLIP weights alone, but it is not the paper's setting.
# The paper's number is reproduced by simfeatup/xbd.py (the authors' SimFeatUp
# upsampler).
_base_ = [
    '../_base_/datasets/ov_xbd.py', '../_base_/models/segearth_vit-b16.py',
    '../_base_/default_runtime.py', '../_base_/schedules/test_only.py'
]
model = dict(
    class_names='{{fileDirname}}/class_names/xbd.txt',
    decode_head=dict(cls_token_lambda=0.0),
    prob_thd=0.0,
    bg_idx=0)
