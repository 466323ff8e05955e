# SegEarth-OV on inria (training-free) with the BILINEAR neck: runs with the
# CLIP weights alone, but it is not the paper's setting. The paper's number is
# reproduced by simfeatup/inria.py (the authors' SimFeatUp upsampler).
_base_ = [
    '../_base_/datasets/ov_inria.py', '../_base_/models/segearth_vit-b16.py',
    '../_base_/default_runtime.py', '../_base_/schedules/test_only.py'
]
model = dict(
    class_names='{{fileDirname}}/class_names/inria.txt',
    prob_thd=0.6,
    bg_idx=0)
