"""SAM 3 through Hugging Face ``transformers`` (vision once, prompts batched)."""
import logging
import os.path as osp
from typing import Dict, List, Optional

import torch
from mmengine.logging import print_log
from mmengine.model import BaseModule
from mmseg.registry import MODELS

from ovseg_plugins.utils.checkpoint import WeightsNotFoundError
from ovseg_plugins.utils.deferred_weights import DeferredWeights
from ovseg_plugins.utils.typing import OptMultiConfig

OUTPUT_KEYS = ('pred_masks', 'pred_logits', 'presence_logits', 'semantic_seg')


def _set_dotted(cfg, key: str, value):
    obj = cfg
    parts = key.split('.')
    for p in parts[:-1]:
        obj = getattr(obj, p)
    if not hasattr(obj, parts[-1]):
        raise KeyError(f'Sam3Config has no field {key!r}')
    setattr(obj, parts[-1], value)


def _check_hub_id(model_id: str) -> None:
    """Before a hub download: the hub answers and knows ``model_id`` (a
    missing local directory would otherwise be tried as a hub id, with
    retries that take half a minute offline)."""
    from ovseg_plugins.utils.open_clip_loader import hub_reachable
    if not hub_reachable():
        raise WeightsNotFoundError(
            f'SAM 3 weights not found: {model_id!r} is not a local directory '
            'and the Hugging Face hub cannot be reached (offline). Give the '
            'local from_pretrained directory of facebook/sam3.')
    try:
        from huggingface_hub import model_info
        model_info(model_id)
    except Exception as e:  # noqa: BLE001
        raise WeightsNotFoundError(
            f'SAM 3 weights not found: {model_id!r} is neither a local '
            f'directory nor a hub model you can access ({type(e).__name__}); '
            "give the local from_pretrained directory, or 'facebook/sam3' "
            '(gated: accept its licence and log in first).') from e


@MODELS.register_module()
class HFSam3(DeferredWeights, BaseModule):
    """SAM 3 image model (``transformers.Sam3Model``) as a grounding backbone.

    :meth:`encode_image` runs the vision tower once per image or crop;
    :meth:`ground` runs the text encoder + DETR grounding for ALL prompts in
    one batched call (``prompt_chunk`` at a time), sharing the vision
    features by broadcasting them, instead of one call per word.

    Weights (:class:`~ovseg_plugins.utils.deferred_weights.DeferredWeights`):
    the model is built with the architecture of the ``from_pretrained``
    directory (its ``config.json`` and tokenizer; a missing directory is
    refused at build); its weights are loaded on first need
    (:meth:`encode_image`, :meth:`ground`, ``init_weights``) unless a
    checkpoint holding the backbone's tensors was loaded first, and are then
    never read.

    Args:
        pretrained (str, optional): Local ``from_pretrained`` directory (or a
            hub id when ``allow_download``), loaded on first need. None =
            random weights built from ``Sam3Config()`` +
            ``config_overrides`` (tests, plumbing checks).
        config_overrides (dict, optional): Dotted ``Sam3Config`` fields, e.g.
            ``{'vision_config.backbone_config.image_size': 224}``.
        allow_download (bool): Allow hub downloads. Defaults to False.
        prompt_chunk (int): Prompts per grounding call. Defaults to 16.
        context_length (int): Text tokens. Defaults to 32.
    """

    def __init__(self,
                 pretrained: Optional[str] = None,
                 config_overrides: Optional[Dict] = None,
                 allow_download: bool = False,
                 prompt_chunk: int = 16,
                 context_length: int = 32,
                 init_cfg: OptMultiConfig = None):
        super().__init__(init_cfg=init_cfg)
        from transformers import Sam3Config, Sam3Model
        self.prompt_chunk = max(1, int(prompt_chunk))
        self.context_length = context_length
        if pretrained is not None:
            # the architecture and tokenizer come from the directory
            if not osp.isdir(pretrained):
                if not allow_download:
                    raise WeightsNotFoundError(
                        f'SAM 3 weights not found: {pretrained!r} is not a '
                        'local from_pretrained directory and downloading is '
                        'off. Give the directory (config.json, '
                        'model.safetensors, tokenizer files) or set '
                        'allow_download=True on a connected machine '
                        '(facebook/sam3 is gated).')
                _check_hub_id(pretrained)
            kw = dict(local_files_only=not allow_download)
            cfg = Sam3Config.from_pretrained(pretrained, **kw)
            from transformers import AutoTokenizer
            self._hf_tokenizer = AutoTokenizer.from_pretrained(pretrained,
                                                               **kw)
        else:
            cfg = Sam3Config()
            for k, v in (config_overrides or {}).items():
                _set_dotted(cfg, k, v)
            self._hf_tokenizer = None
            # random-weight models: the same CLIP BPE from open_clip
            from open_clip.tokenizer import SimpleTokenizer
            self._clip_tokenizer = SimpleTokenizer(
                context_length=context_length)
        self.model = Sam3Model(cfg)
        if pretrained is None:
            print_log('HFSam3: no pretrained weights given; using RANDOM '
                      'weights (plumbing check only).', 'current',
                      logging.WARNING)
        self.defer_weights(
            f'pretrained={pretrained!r}', None if pretrained is None else
            dict(pretrained=pretrained, allow_download=allow_download))
        self.model.eval().requires_grad_(False)
        self.image_size = int(
            self.model.config.vision_config.backbone_config.image_size)

    def load_named_weights(self, pretrained: str,
                           allow_download: bool) -> None:
        """Load the ``from_pretrained`` weights of ``pretrained`` into the
        built model (strict)."""
        from transformers import Sam3Model
        loaded = Sam3Model.from_pretrained(
            pretrained, local_files_only=not allow_download)
        self.model.load_state_dict(loaded.state_dict())
        del loaded

    def init_weights(self) -> None:
        """The named weights (``pretrained``), unless a checkpoint supplied
        them."""
        self.ensure_weights()

    # ------------------------------------------------------------ text
    def tokenize(self, prompts: List[str]):
        """``input_ids, attention_mask`` of shape ``(n, context_length)``."""
        if self._hf_tokenizer is not None:
            t = self._hf_tokenizer(prompts, padding='max_length',
                                   truncation=True,
                                   max_length=self.context_length,
                                   return_tensors='pt')
            return t['input_ids'], t['attention_mask']
        ids = self._clip_tokenizer(prompts)
        return ids, (ids != 0).long()

    # ------------------------------------------------------------ image
    @torch.no_grad()
    def encode_image(self, pixels: torch.Tensor):
        """Vision features of ``(1, 3, S, S)`` pixels normalised to [-1, 1]."""
        if pixels.shape[0] != 1:
            raise ValueError('encode_image takes one image or crop at a time')
        self.ensure_weights()
        return self.model.get_vision_features(pixel_values=pixels)

    @staticmethod
    def _expand(vision_embeds, n: int):
        from transformers.models.sam3.modeling_sam3 import \
            Sam3VisionEncoderOutput
        out = {}
        for k, v in vision_embeds.items():
            if isinstance(v, torch.Tensor):
                out[k] = v.expand(n, *v.shape[1:])
            elif isinstance(v, (list, tuple)):
                out[k] = type(v)(t.expand(n, *t.shape[1:]) for t in v)
            else:
                out[k] = v
        return Sam3VisionEncoderOutput(**out)

    @torch.no_grad()
    def ground(self, vision_embeds, prompts: List[str],
               batched: bool = True) -> Dict[str, torch.Tensor]:
        """Ground every prompt on one image's features.

        Returns:
            dict: ``pred_masks (Q, K, h, w)``, ``pred_logits (Q, K)``,
            ``presence_logits (Q, 1)``, ``semantic_seg (Q, 1, h, w)``.
        """
        self.ensure_weights()
        ids, mask = self.tokenize(prompts)
        device = next(self.model.parameters()).device
        ids, mask = ids.to(device), mask.to(device)
        chunk = self.prompt_chunk if batched else 1
        outs = {k: [] for k in OUTPUT_KEYS}
        for i in range(0, len(prompts), chunk):
            n = min(chunk, len(prompts) - i)
            o = self.model(vision_embeds=self._expand(vision_embeds, n),
                           input_ids=ids[i:i + n],
                           attention_mask=mask[i:i + n])
            for k in OUTPUT_KEYS:
                outs[k].append(o[k].float())
        return {k: torch.cat(v) for k, v in outs.items()}
