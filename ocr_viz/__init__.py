"""ocr_viz: the OCR segmentation model (Yuan et al., ECCV 2020) and the heads it is
compared with, computing and recording every stage the paper names."""
from .model.api import UntrainedWarning, default_device, fold_batchnorm, load_model, postprocess
from .model.checkpoints import CheckpointError
from .model.heads.ocr import OCRHeadTrace
from .model.convert import ConvertError
from .model.images import ImageError, open_image, preprocess
from .model.segmentor import Segmentor, Trace

__all__ = [
    "CheckpointError", "ConvertError", "ImageError", "OCRHeadTrace", "Segmentor", "Trace", "UntrainedWarning",
    "default_device", "fold_batchnorm", "load_model", "open_image", "postprocess", "preprocess",
]
