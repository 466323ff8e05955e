"""Typing aliases as in ``mmseg.utils.typing_utils`` but from mmengine only.

Importing ``mmseg.utils`` pulls ``mmcv.ops``; these aliases keep the light
subpackages (``text``, ``engine``) free of that.
"""
from typing import List, Optional, Sequence, Union

from mmengine.config import ConfigDict
from mmengine.structures import BaseDataElement

ConfigType = Union[ConfigDict, dict]
OptConfigType = Optional[ConfigType]
MultiConfig = Union[ConfigType, Sequence[ConfigType]]
OptMultiConfig = Optional[MultiConfig]
SampleList = List[BaseDataElement]
OptSampleList = Optional[SampleList]
