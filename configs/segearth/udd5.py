# SegEarth-OV on udd5 (training-free) with the BILINEAR neck: runs with the
# CLIP weights alone, but it is not the paper's setting. The paper's number is
# reproduced by simfeatup/udd5.py (the authors' SimFeatUp upsampler).
_base_ = [
    '../_base_/datasets/ov_udd5.py', '../_base_/models/segearth_vit-b16.py',
    '../_base_/default_runtime.py', '../_base_/schedules/test_only.py'
]
model = dict(
    class_names='{{fileDirname}}/class_names/udd5.txt',
    prob_thd=0.4,
    bg_idx=4)
