# SegEarth-OV on chn6_cug as in the paper: the authors' SimFeatUp upsampler
# (xclip_jbu_one_million_aid.ckpt, simfeatup_dev/weights/ of
# https://github.com/likyoo/SegEarth-OV) in the neck instead of bilinear.
_base_ = ['../chn6_cug.py']
model = dict(neck=dict(_delete_=True, type='SimFeatUp', feat_dim=512,
                       checkpoint='weights/xclip_jbu_one_million_aid.ckpt'))
