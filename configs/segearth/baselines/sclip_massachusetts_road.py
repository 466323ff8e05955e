# sclip baseline on massachusetts_road: SegEarth-OV's pipeline with the sclip last
# block, no CLS-token removal, bilinear upsampling.
_base_ = ['../massachusetts_road.py']
model = dict(
    backbone=dict(attn_mode='sclip', ignore_residual=False, drop_ffn=True),
    neck=dict(_delete_=True, type='BilinearUpsampler'),
    decode_head=dict(cls_token_lambda=0.0))
