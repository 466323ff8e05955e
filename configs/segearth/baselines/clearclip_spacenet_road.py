# clearclip baseline on spacenet_road: SegEarth-OV's pipeline with the clearclip last
# block, no CLS-token removal, bilinear upsampling.
_base_ = ['../spacenet_road.py']
model = dict(
    backbone=dict(attn_mode='clearclip', ignore_residual=True),
    neck=dict(_delete_=True, type='BilinearUpsampler'),
    decode_head=dict(cls_token_lambda=0.0))
