# SegEarth-OV on spacenet_road (training-free) with the BILINEAR neck: runs
# with the CLIP weights alone, but it is not the paper's setting. The paper's
# number is reproduced by simfeatup/spacenet_road.py (the authors' SimFeatUp
# upsampler).
_base_ = [
    '../_base_/datasets/ov_spacenet_road.py', '../_base_/models/segearth_vit-b16.py',
    '../_base_/default_runtime.py', '../_base_/schedules/test_only.py'
]
model = dict(
    class_names='{{fileDirname}}/class_names/roadval.txt',
    prob_thd=0.7,
    bg_idx=0)
