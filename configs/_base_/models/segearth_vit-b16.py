# SegEarth-OV (training-free): dense CLIP ViT-B/16 with the qq+kk+vv last-block
# surgery, bilinear neck (swap in SimFeatUp by changing `neck`), CLS-token
# removal head (lambda = -0.3). Leaf configs set class_names/prob_thd/bg_idx.
custom_imports = dict(imports=['ovseg_plugins.seg2d'], allow_failed_imports=False)

model = dict(
    type='OVCLIPSegmentor',
    data_preprocessor=dict(
        type='SegDataPreProcessor',
        mean=[122.771, 116.746, 104.094],
        std=[68.501, 66.632, 70.323],
        bgr_to_rgb=True),
    backbone=dict(
        type='DenseCLIPViT',
        model_name='ViT-B-16',
        pretrained='openai',
        attn_mode='segearth',
        ignore_residual=True),
    neck=dict(type='BilinearUpsampler'),
    decode_head=dict(type='CLSRemovalHead', cls_token_lambda=-0.3),
    class_names=None,
    templates='openai_imagenet',
    crop_batch_size=16,
    logit_scale=50.,
    prob_thd=0.,
    bg_idx=0,
    # mmseg's test_cfg: 224 px windows at stride 112 (the authors' slide)
    test_cfg=dict(mode='slide', crop_size=(224, 224), stride=(112, 112)))
