"""Convert a released OCR checkpoint (.pth / .pt / .pth.tar) into an ocr_viz safetensors file.

Three source layouts, read from their code:
  hrnet-ocr  HRNet/HRNet-Semantic-Segmentation, branch HRNet-OCR, lib/models/seg_hrnet_ocr.py
             (keys `model.conv1...`, `model.conv3x3_ocr`, `model.ocr_distri_head`, `model.aux_head`)
  openseg    openseg-group/openseg.pytorch, lib/models/nets/ocrnet.py (SpatialOCRNet, ResNet-101)
             and lib/models/nets/hrnet.py (HRNet_W48_OCR), with torch BatchNorm or InPlace-ABN
             (its configs' bn_type inplace_abn, and always in its HRNet backbone); the ResNet's
             `multi_grid` is taken as its configs' [1, 1, 1] (it changes dilations, not tensors,
             so a file cannot tell)
  mmseg      open-mmlab/mmsegmentation, CascadeEncoderDecoder with decode_head.0 = FCNHead (the
             soft regions) and decode_head.1 = OCRHead (configs/ocrnet/: HR18s, HR18, HR48, R101-d8)

InPlace-ABN (mapillary/inplace_abn, which openseg and HRNet-OCR's torch 0.4 code train with) saves a
BatchNorm without num_batches_tracked and scales by |weight| + eps; with activation "none" /
"identity" the code applies its own ReLU after it, and openseg's BNReLU with it is one module, batch
norm then leaky ReLU 0.01. Both become plain BatchNorm (weight |weight| + eps) and, for the BNReLU,
a leaky ReLU in the head (`relu_slope`).

The file is read with torch.load(weights_only=True) only, so a pickle that would run code is
refused before anything runs. Every source tensor must land in the model and every model
tensor must come from the source; otherwise ConvertError lists what is missing or unused.
"""
from __future__ import annotations

import hashlib
import io
import json
import pickle
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch

from ocr_viz.data import classes as class_tables
from ocr_viz.data.transforms import MEAN, STD
from . import build
from .backbones.hrnet import HRNET_FEATURES, LAYOUTS, HRNetLayout, StageLayout
from .heads.conv_blocks import ABN_SLOPE

SOURCE_LAYOUTS = ("hrnet-ocr", "openseg", "mmseg")


class ConvertError(ValueError):
    """A source file that cannot become a complete model; the message says why."""


# ---------------------------------------------------------------- reading the source safely

def read_source(source: str | Path | bytes) -> dict[str, torch.Tensor]:
    """The flat state dict inside a .pth file, loaded with weights_only=True (no code runs)."""
    raw = source if isinstance(source, (bytes, bytearray)) else Path(source).read_bytes()
    try:
        obj = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConvertError("refused: the file holds more than tensors (a pickle that would construct objects "
                           f"or run code), and it is only ever read with weights_only=True. {first}") from e
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as e:
        raise ConvertError(f"not a readable PyTorch checkpoint (truncated or corrupt?): {str(e).splitlines()[0]}") from e
    return strip_prefixes(unwrap(obj))


def unwrap(obj) -> dict[str, torch.Tensor]:
    """Follow 'state_dict' / 'model' / 'state_dict_ema' nesting down to the dict of tensors."""
    for _ in range(4):
        if not isinstance(obj, dict):
            break
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            return dict(obj)
        inner = next((obj[k] for k in ("state_dict", "model", "model_state", "net") if isinstance(obj.get(k), dict)), None)
        if inner is None:
            break
        obj = inner
    if isinstance(obj, dict):
        tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
        if tensors:
            return tensors
    raise ConvertError(f"no state dict of tensors found (top level: {type(obj).__name__}"
                       + (f" with keys {list(obj)[:6]}" if isinstance(obj, dict) else "") + ")")


def strip_prefixes(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop 'module.' (DataParallel) and 'model.' (the HRNet-OCR release's FullModel) while
    every key carries it."""
    changed = True
    while changed and state:
        changed = False
        for prefix in ("module.", "model."):
            if all(k.startswith(prefix) for k in state):
                state = {k[len(prefix):]: v for k, v in state.items()}
                changed = True
    return state


def sha256(source: str | Path | bytes) -> str:
    raw = source if isinstance(source, (bytes, bytearray)) else Path(source).read_bytes()
    return hashlib.sha256(raw).hexdigest()


# ---------------------------------------------------------------- key renaming per layout

OCB = "object_context_block."


def attention_rules(src: str, style: str) -> list[tuple[str, str]]:
    """The object-attention block and g, from `src` (e.g. 'ocr_distri_head.') to our head."""
    if style == "mmseg":
        b = src + OCB
        return [(b + "query_project.0.conv.", "head.phi.0.0."), (b + "query_project.0.bn.", "head.phi.0.1."),
                (b + "query_project.1.conv.", "head.phi.1.0."), (b + "query_project.1.bn.", "head.phi.1.1."),
                (b + "key_project.0.conv.", "head.psi.0.0."), (b + "key_project.0.bn.", "head.psi.0.1."),
                (b + "key_project.1.conv.", "head.psi.1.0."), (b + "key_project.1.bn.", "head.psi.1.1."),
                (b + "value_project.conv.", "head.delta.0."), (b + "value_project.bn.", "head.delta.1."),
                (b + "out_project.conv.", "head.rho.0."), (b + "out_project.bn.", "head.rho.1."),
                (b + "bottleneck.conv.", "head.g.0.0."), (b + "bottleneck.bn.", "head.g.0.1.")]
    b = src + OCB  # HRNet-OCR and openseg: f_pixel = phi, f_object = psi, f_down = delta, f_up = rho
    return [(b + "f_pixel.0.", "head.phi.0.0."), (b + "f_pixel.1.0.", "head.phi.0.1."),
            (b + "f_pixel.2.", "head.phi.1.0."), (b + "f_pixel.3.0.", "head.phi.1.1."),
            (b + "f_object.0.", "head.psi.0.0."), (b + "f_object.1.0.", "head.psi.0.1."),
            (b + "f_object.2.", "head.psi.1.0."), (b + "f_object.3.0.", "head.psi.1.1."),
            (b + "f_down.0.", "head.delta.0."), (b + "f_down.1.0.", "head.delta.1."),
            (b + "f_up.0.", "head.rho.0."), (b + "f_up.1.0.", "head.rho.1."),
            (src + "conv_bn_dropout.0.", "head.g.0.0."), (src + "conv_bn_dropout.1.0.", "head.g.0.1.")]


def rules_for(layout: str, backbone: str) -> list[tuple[str, str]]:
    """(source prefix, our prefix) pairs; the first that matches a key renames it."""
    if layout == "hrnet-ocr":
        return [("conv3x3_ocr.0.", "head.conv3x3.0."), ("conv3x3_ocr.1.", "head.conv3x3.1."),
                ("aux_head.0.", "head.aux_head.0.0."), ("aux_head.1.", "head.aux_head.0.1."), ("aux_head.3.", "head.aux_head.1."),
                *attention_rules("ocr_distri_head.", "hrnet-ocr"), ("cls_head.", "head.classifier."),
                *[(p, "backbone." + p) for p in ("conv1.", "bn1.", "conv2.", "bn2.", "layer1.", "transition", "stage")]]
    if layout == "openseg" and backbone == "hrnet":
        return [("conv3x3.0.", "head.conv3x3.0."), ("conv3x3.1.0.", "head.conv3x3.1."),
                ("aux_head.0.", "head.aux_head.0.0."), ("aux_head.1.0.", "head.aux_head.0.1."), ("aux_head.2.", "head.aux_head.1."),
                *attention_rules("ocr_distri_head.", "openseg"), ("cls_head.", "head.classifier."), ("backbone.", "backbone.")]
    if layout == "openseg":
        # the deep stem is `resinit` in current openseg, `prefix` in older versions
        stem = [(f"backbone.{name}.{src}.", f"backbone.stem.{dst}.") for name in ("resinit", "prefix")
                for src, dst in (("conv1", 0), ("bn1", 1), ("conv2", 3), ("bn2", 4), ("conv3", 6), ("bn3", 7))]
        return [*stem, ("backbone.layer", "backbone.layer"),
                ("conv_3x3.0.", "head.conv3x3.0."), ("conv_3x3.1.0.", "head.conv3x3.1."),
                ("dsn_head.0.", "head.aux_head.0.0."), ("dsn_head.1.0.", "head.aux_head.0.1."), ("dsn_head.3.", "head.aux_head.1."),
                *attention_rules("spatial_ocr_head.", "openseg"), ("head.", "head.classifier.")]
    if layout == "mmseg":
        return [("decode_head.0.convs.0.conv.", "head.aux_head.0.0."), ("decode_head.0.convs.0.bn.", "head.aux_head.0.1."),
                ("decode_head.0.conv_seg.", "head.aux_head.1."),
                ("decode_head.1.bottleneck.conv.", "head.conv3x3.0."), ("decode_head.1.bottleneck.bn.", "head.conv3x3.1."),
                *attention_rules("decode_head.1.", "mmseg"), ("decode_head.1.conv_seg.", "head.classifier."),
                ("backbone.", "backbone.")]
    raise ConvertError(f"unknown layout {layout!r}; known: {', '.join(SOURCE_LAYOUTS)}")


def rename(state: dict[str, torch.Tensor], rules: list[tuple[str, str]]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """(renamed tensors, source keys no rule matched)."""
    out, unmatched = {}, []
    for key, value in state.items():
        for src, dst in rules:
            if key.startswith(src):
                out[dst + key[len(src):]] = value
                break
        else:
            unmatched.append(key)
    return out, unmatched


# ---------------------------------------------------------------- detecting the architecture

def detect_layout(state: dict[str, torch.Tensor]) -> str:
    keys = set(state)
    if "conv3x3_ocr.0.weight" in keys and "ocr_distri_head.conv_bn_dropout.0.weight" in keys:
        return "hrnet-ocr"
    if "decode_head.1.object_context_block.query_project.0.conv.weight" in keys:
        return "mmseg"
    if "spatial_ocr_head.conv_bn_dropout.0.weight" in keys or "ocr_distri_head.conv_bn_dropout.0.weight" in keys:
        return "openseg"
    if any(k.startswith("asp_ocr_head.") for k in keys):
        raise ConvertError("this is openseg's ASP-OCR (spatial_asp_ocrnet / hrnet_w48_asp_ocr: asp_ocr_head.*), whose head "
                           "(SpatialOCR_ASP_Module, OCR as one branch of ASPP) is not built here; only its OCRNet and "
                           "HRNet-W48-OCR convert")
    first = list(state)[:8]  # in the file's order: what the user would see printing it
    raise ConvertError(f"unrecognised layout: not HRNet-OCR, openseg or mmsegmentation OCRNet "
                       f"({len(keys)} tensors; first keys: {', '.join(first)})")


def count(keys, pattern: str) -> int:
    """How many distinct integers fill the {} of `pattern` among `keys`."""
    rx = re.compile("^" + re.escape(pattern).replace(r"\{\}", r"(\d+)") + r"\.")
    return len({m.group(1) for k in keys if (m := rx.match(k))})


def detect_hrnet(state: dict[str, torch.Tensor], prefix: str) -> str:
    """The name of the HRNet layout (LAYOUTS) the backbone tensors describe."""
    keys = [k[len(prefix):] for k in state if k.startswith(prefix)]
    try:
        stages = []
        for n in (2, 3, 4):
            branches = count(keys, f"stage{n}.0.branches.{{}}")
            stages.append(StageLayout(
                count(keys, f"stage{n}.{{}}"),
                tuple(count(keys, f"stage{n}.0.branches.{b}.{{}}") for b in range(branches)),
                tuple(state[f"{prefix}stage{n}.0.branches.{b}.0.conv1.weight"].shape[0] for b in range(branches))))
        found = HRNetLayout(count(keys, "layer1.{}"), state[prefix + "layer1.0.conv1.weight"].shape[0], tuple(stages))
    except KeyError as e:
        raise ConvertError(f"HRNet backbone tensors incomplete: {e} is missing") from e
    for name, layout in LAYOUTS.items():
        if layout == found:
            return name
    raise ConvertError(f"HRNet backbone of an unknown layout (widths {found.widths}, modules "
                       f"{[s.modules for s in found.stages]}); known: {', '.join(LAYOUTS)}")


# openseg's input, from its configs' "data.input_mode" and "normalize" (H_48_D_4.json, R_101_D_8.json):
# BGR channels, divided by div_value, then mean and std subtracted and divided in that channel order
OPENSEG_INPUT = {
    "hrnet": {"order": "BGR", "div": 255.0, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
    "resnet101": {"order": "BGR", "div": 1.0, "mean": [102.9801, 115.9465, 122.7717], "std": [1.0, 1.0, 1.0]},
}


def is_hrnet(state: dict[str, torch.Tensor], layout: str) -> bool:
    return layout == "hrnet-ocr" or "backbone.stage4.0.branches.0.0.conv1.weight" in state


# ---------------------------------------------------------------- InPlace-ABN

BN_EPS = 1e-5  # torch BatchNorm's and InPlace-ABN's default, which every source keeps


def openseg_bn_relus(hrnet: bool) -> list[str]:
    """Where openseg builds ModuleHelper.BNReLU (nets/hrnet.py, nets/ocrnet.py, spatial_ocr_block.py):
    Sequential(BatchNorm2d, ReLU) with torchbn, one InPlaceABNSync (leaky ReLU 0.01) with inplace_abn."""
    src = "ocr_distri_head." if hrnet else "spatial_ocr_head."
    b = src + OCB
    return ["conv3x3.1" if hrnet else "conv_3x3.1", "aux_head.1" if hrnet else "dsn_head.1",
            b + "f_pixel.1", b + "f_pixel.3", b + "f_object.1", b + "f_object.3", b + "f_down.1", b + "f_up.1",
            src + "conv_bn_dropout.1"]


def openseg_head_activation(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], float]:
    """(state with each InPlace-ABN BNReLU renamed as torchbn's BatchNorm at `.0`, the head's ReLU slope:
    0 for torchbn, 0.01 for InPlace-ABN). A mixture, or a one-module BNReLU with torch's
    num_batches_tracked, is no model openseg's code builds: ConvertError naming the keys."""
    positions = openseg_bn_relus(is_hrnet(state, "openseg"))
    torch_style = [p for p in positions if p + ".0.weight" in state]
    abn = [p for p in positions if p + ".weight" in state]
    if torch_style and abn:
        raise ConvertError("unsupported InPlace-ABN layout: openseg builds every BNReLU of the head with one bn_type, "
                           f"but these are InPlace-ABN modules: {', '.join(p + '.weight' for p in abn)}; and these "
                           f"torch BatchNorm + ReLU: {', '.join(p + '.0.weight' for p in torch_style)}")
    if not abn:
        return state, 0.0
    tracked = [p + ".num_batches_tracked" for p in abn if p + ".num_batches_tracked" in state]
    if tracked:
        raise ConvertError("unsupported InPlace-ABN layout: these one-module BNReLUs carry torch BatchNorm's "
                           f"num_batches_tracked, which InPlace-ABN never saves: {', '.join(tracked)}")
    renamed = {}
    for key, value in state.items():
        owner = next((p for p in abn if key.startswith(p + ".")), None)
        renamed[key if owner is None else owner + ".0." + key[len(owner) + 1:]] = value
    return renamed, ABN_SLOPE


def inplace_abn_as_batch_norm(state: dict[str, torch.Tensor], layout: str) -> tuple[dict[str, torch.Tensor], list[str]]:
    """(state in torch BatchNorm's terms, the norms that were InPlace-ABN). A norm saved without
    num_batches_tracked is InPlace-ABN where the source's code builds one (openseg; HRNet-OCR under
    torch 0.4, lib/models/bn_helper.py): its scale |weight| + eps becomes the weight. mmsegmentation
    never builds one: there the buffer is just absent (an older torch) and becomes 0, unused in eval."""
    norms = [k[: -len("running_var")] for k in state if k.endswith("running_var")]
    bare = [p for p in norms if p + "num_batches_tracked" not in state]
    if not bare:
        return state, []
    part = (lambda p: "backbone" if p.startswith("backbone.") else "head") if layout != "hrnet-ocr" else (lambda p: "model")
    for group in sorted({part(p) for p in norms}):
        mine = [p for p in norms if part(p) == group]
        without = [p for p in mine if p in bare]
        if without and len(without) < len(mine):
            tracked = [p for p in mine if p not in bare]
            raise ConvertError(f"unsupported InPlace-ABN layout: in the {group}, {len(without)} BatchNorms have no "
                               f"num_batches_tracked (InPlace-ABN) and {len(tracked)} have it (torch BatchNorm), which "
                               f"{layout}'s code never mixes; without: {', '.join(p + 'weight' for p in without[:4])}"
                               f"{' ...' if len(without) > 4 else ''}; with: {', '.join(p + 'num_batches_tracked' for p in tracked[:4])}"
                               f"{' ...' if len(tracked) > 4 else ''}")
    out = dict(state)
    for p in bare:
        if layout != "mmseg" and p + "weight" in out:
            out[p + "weight"] = out[p + "weight"].abs() + BN_EPS
        out[p + "num_batches_tracked"] = torch.zeros((), dtype=torch.int64)
    return out, ([] if layout == "mmseg" else bare)


def detect_arch(state: dict[str, torch.Tensor], layout: str) -> dict:
    """The ocr_viz architecture of a source state dict (renamed to our keys)."""
    hrnet = is_hrnet(state, layout)
    renamed, _ = rename(state, rules_for(layout, "hrnet" if hrnet else "resnet101"))

    def shape(key: str) -> tuple[int, ...]:
        if key not in renamed:
            raise ConvertError(f"the {layout} checkpoint lacks the tensor that becomes {key}")
        return tuple(renamed[key].shape)

    num_classes = shape("head.classifier.weight")[0]
    aux = shape("head.aux_head.0.0.weight")
    head = {"mid_channels": shape("head.conv3x3.0.weight")[0], "key_channels": shape("head.phi.0.0.weight")[0],
            "dropout": 0.05 if layout != "mmseg" else 0.0, "temperature": 1.0,
            "conv_bias": "head.conv3x3.0.bias" in renamed, "aux_bias": "head.aux_head.0.0.bias" in renamed,
            "attention_bias": "head.phi.0.0.bias" in renamed, "context_first": True,
            "aux_channels": aux[0], "aux_kernel": aux[-1]}
    if shape("head.aux_head.1.weight")[0] != num_classes:
        raise ConvertError(f"the soft-region head predicts {shape('head.aux_head.1.weight')[0]} classes, "
                           f"the classifier {num_classes}")
    if hrnet:
        arch = {"backbone": "hrnet", "hrnet_layout": detect_hrnet(renamed, "backbone."), "feature_names": list(HRNET_FEATURES)}
    else:
        stem = {64: "openseg", 32: "mmseg"}.get(shape("backbone.stem.0.weight")[0])
        if stem is None or count(renamed, "backbone.layer3.{}") != 23:
            raise ConvertError(f"ResNet backbone is not the dilated ResNet-101 with a deep stem "
                               f"(stem width {shape('backbone.stem.0.weight')[0]}, layer3 blocks {count(renamed, 'backbone.layer3.{}')})")
        arch = {"backbone": "resnet101", "resnet_stem": stem, "feature_names": ["layer4"], "aux_feature": "layer3"}
    if layout == "openseg":  # its configs read BGR with cv2 and normalise per backbone (configs/cityscapes/*.json)
        arch["source_input"] = OPENSEG_INPUT["hrnet" if hrnet else "resnet101"]
    # HRNet-OCR and openseg resize with align_corners=True, mmsegmentation with False
    return {**arch, "align_corners": layout != "mmseg", "head": "ocr", "num_classes": num_classes, "head_kwargs": head}


# ---------------------------------------------------------------- metadata

def releases() -> list[dict]:
    return json.loads((Path(class_tables.__file__).with_name("tables") / "releases.json").read_text())["releases"]


# The input size each source evaluates at, per dataset (width, height), read from its configs:
# HRNet-OCR experiments/*/ TEST.IMAGE_SIZE (Cityscapes 2048x1024, LIP 473x473, the rest 520x520);
# mmsegmentation test_pipeline Resize scale (2048x1024, 2048x512 keeping the aspect ratio).
EVAL_SIZES = {
    "hrnet-ocr": {"cityscapes": [2048, 1024], "lip": [473, 473], "ade20k": [520, 520], "pascal_context_59": [520, 520],
                  "pascal_context_60": [520, 520], "cocostuff": [520, 520]},
    "openseg": {"cityscapes": [2048, 1024]},
    "mmseg": {"cityscapes": [2048, 1024], "ade20k": [2048, 512], "voc": [2048, 512]},
}
REPOSITORIES = {"hrnet-ocr": "HRNet/HRNet-Semantic-Segmentation (branch HRNet-OCR)",
                "openseg": "openseg-group/openseg.pytorch", "mmseg": "open-mmlab/mmsegmentation"}


def choose_dataset(num_classes: int, dataset: str | None, file_name: str | None) -> str:
    """--dataset if given (it must agree with the class count), else the release's, else the
    only dataset with that many classes."""
    release = next((r for r in releases() if r["file"] == file_name), None) if file_name else None
    if dataset is not None:
        expected = class_tables.DATASETS.get(dataset)
        if expected is None:
            raise ConvertError(f"unknown dataset {dataset!r}; known: {', '.join(class_tables.DATASETS)}")
        if expected != num_classes:
            raise ConvertError(f"--dataset {dataset} has {expected} classes but the checkpoint predicts {num_classes}")
        return dataset
    if release is not None:
        return release["dataset"]
    candidates = class_tables.datasets_with(num_classes)
    if len(candidates) == 1:
        return candidates[0]
    raise ConvertError(f"the checkpoint predicts {num_classes} classes, which matches "
                       + (f"{' and '.join(candidates)}; choose one with --dataset" if candidates
                          else f"none of the known datasets ({', '.join(f'{k} {v}' for k, v in class_tables.DATASETS.items())})"))


def metadata(arch: dict, layout: str, dataset: str, file_name: str | None, digest: str | None) -> dict:
    table = class_tables.dataset_table(dataset)
    release = next((r for r in releases() if r["file"] == file_name), None) if file_name else None
    if release is None:  # not a file name we know: the release of this layout and dataset, if there is one
        same = [r for r in releases() if r["layout"] == layout and r["dataset"] == dataset]
        reported = None if not same else {"miou": None, "note": "file name not recognised; releases of this layout "
                                          "and dataset report " + "; ".join(f"{r['miou']} ({r['file']})" for r in same[:3])}
    else:
        reported = {"miou": release["miou"], "setting": release["setting"], "release": release["file"]}
    layout_name = arch.get("hrnet_layout") or f"resnet101 ({arch.get('resnet_stem')} stem)"
    return {
        "name": Path(file_name).stem if file_name else f"{layout}-{dataset}",
        "arch": arch, "trained": True, "dataset": dataset, "dataset_title": table["title"],
        "classes": table["classes"], "palette": table["palette"],
        # [0, 1] minus the ImageNet mean over its std (HRNet-OCR's base_dataset.input_transform,
        # mmseg's SegDataPreProcessor with bgr_to_rgb: RGB). openseg's configs read images with cv2
        # and keep them BGR (data.input_mode): the model's SourceInput converts the app's input to that
        "normalization": ({"mean": list(MEAN), "std": list(STD), "input": "RGB / 255"} if "source_input" not in arch else
                          {"mean": arch["source_input"]["mean"], "std": arch["source_input"]["std"],
                           "input": f"{arch['source_input']['order']} / {arch['source_input']['div']:g}"}),
        "channel_order": arch.get("source_input", {}).get("order", "RGB"),
        **({"input_note": "openseg's configs feed cv2's BGR images, divided by div_value, minus a mean over a std "
                          "in that channel order; the model converts the app's RGB input to that before its backbone "
                          "(SourceInput)"} if layout == "openseg" else {}),
        "align_corners": arch["align_corners"], "eval_size": EVAL_SIZES.get(layout, {}).get(dataset),
        "reported": reported,
        "source": {"layout": layout, "repository": REPOSITORIES[layout], "file": file_name, "sha256": digest,
                   "backbone": layout_name},
        "converted_by": "python -m ocr_viz.convert",
    }


# ---------------------------------------------------------------- the conversion

@dataclass
class Conversion:
    tensors: dict[str, torch.Tensor]
    meta: dict
    unused: list[str]  # source keys deliberately not needed (none today; kept for the report)

    @property
    def num_params(self) -> int:
        return sum(v.numel() for k, v in self.tensors.items() if "running_" not in k and "num_batches" not in k)


def convert_state(state: dict[str, torch.Tensor], layout: str = "auto", dataset: str | None = None,
                  file_name: str | None = None, digest: str | None = None) -> Conversion:
    """Map a flat source state dict onto the ocr_viz model; raise ConvertError unless every
    tensor on both sides is accounted for with the right shape."""
    if layout == "auto":
        layout = detect_layout(state)
    elif layout not in SOURCE_LAYOUTS:
        raise ConvertError(f"unknown layout {layout!r}; known: auto, {', '.join(SOURCE_LAYOUTS)}")
    state, relu_slope = openseg_head_activation(state) if layout == "openseg" else (state, 0.0)
    state, abn = inplace_abn_as_batch_norm(state, layout)
    arch = detect_arch(state, layout)
    if relu_slope:
        arch["head_kwargs"]["relu_slope"] = relu_slope
    renamed, unmatched = rename(state, rules_for(layout, arch["backbone"]))
    with torch.device("meta"):  # shapes only, no memory
        expected = build.build(arch).state_dict()
    missing = sorted(set(expected) - set(renamed))
    extra = sorted(set(renamed) - set(expected))
    wrong = [f"{k} {tuple(renamed[k].shape)} vs {tuple(v.shape)}" for k, v in expected.items()
             if k in renamed and renamed[k].shape != v.shape]
    problems = []
    for label, items in (("unmapped source tensors", unmatched + extra), ("model tensors missing", missing),
                         ("shape mismatches", wrong)):
        if items:
            problems.append(f"{len(items)} {label}: " + ", ".join(items[:6]) + (" ..." if len(items) > 6 else ""))
    if problems:
        raise ConvertError(f"the {layout} checkpoint does not map completely; " + "; ".join(problems))
    dataset = choose_dataset(arch["num_classes"], dataset, file_name)
    tensors = {k: renamed[k].detach().float().contiguous() if renamed[k].is_floating_point() else renamed[k].contiguous()
               for k in expected}
    meta = metadata(arch, layout, dataset, file_name, digest)
    meta["source"]["norm"] = {"inplace_abn": len(abn), "batch_norm": sum(k.endswith("running_var") for k in tensors) - len(abn),
                              "head_relu": f"leaky ReLU {relu_slope:g} (InPlace-ABN BNReLU)" if relu_slope else "ReLU"}
    return Conversion(tensors, meta, unused=[])


def convert(source: str | Path | bytes, layout: str = "auto", dataset: str | None = None,
            file_name: str | None = None) -> Conversion:
    """Read a released checkpoint (path or the bytes of an upload) and convert it."""
    if file_name is None and not isinstance(source, (bytes, bytearray)):
        file_name = Path(source).name
    return convert_state(read_source(source), layout, dataset, file_name, sha256(source))


def save(conversion: Conversion, path: str | Path) -> None:
    from safetensors.torch import save_file

    from .checkpoints import META_KEY

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_file(conversion.tensors, str(path), metadata={META_KEY: json.dumps(conversion.meta)})


def to_model(conversion: Conversion, device: str | torch.device = "cpu"):
    """(Segmentor in eval mode, meta) straight from a conversion, without writing a file."""
    model = build.build(conversion.meta["arch"])
    model.load_state_dict(conversion.tensors)
    return model.to(device).eval(), conversion.meta
