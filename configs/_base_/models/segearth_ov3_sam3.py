# SegEarth-OV3 (training-free): SAM 3 through Hugging Face transformers, the
# dual-head fusion decoder gated by presence. Leaf configs set class_names,
# confidence_threshold, prob_thd, bg_idx (and slide for OpenEarthMap).
# Weights: a local from_pretrained directory of facebook/sam3 (gated on the
# hub; download it on a connected machine with `hf download facebook/sam3`).
custom_imports = dict(imports=['ovseg_plugins.seg2d'], allow_failed_imports=False)
# No test-time resize: the model resizes each image (or window) to SAM 3's
# input itself. Leaves use it as test_dataloader.dataset.pipeline.
sam3_test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]

model = dict(
    type='SAM3Segmentor',
    data_preprocessor=dict(
        type='SegDataPreProcessor',
        mean=[127.5, 127.5, 127.5],
        std=[127.5, 127.5, 127.5],
        bgr_to_rgb=True),
    backbone=dict(type='HFSam3', pretrained='weights/sam3', prompt_chunk=16),
    decode_head=dict(
        type='DualHeadFusionDecoder',
        confidence_threshold=0.5,
        use_sem_seg=True,
        use_transformer_decoder=True,
        use_presence_score=True,
        presence_on_instances='twice'),
    class_names=None,
    resize_mode='square',
    # the authors' SAM 3 input: uint8, antialiased bilinear to 1008, /255,
    # (x-0.5)/0.5 ('float_bilinear': resize the normalised tensor instead)
    input_resize='uint8_antialias',
    # fp32; 'bf16' = the authors' autocast for GPU parity runs (CPU: fp32)
    autocast_dtype=None,
    batched_prompts=True,
    prob_thd=0.0,
    bg_idx=0,
    # the whole image resized to SAM 3's input (leaves may slide instead)
    test_cfg=dict(mode='whole'))
