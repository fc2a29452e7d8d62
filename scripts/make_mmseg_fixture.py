"""Make tests/fixtures/mmseg_ocrnet/: what mmsegmentation's own OCRNet code computes from random
weights, for the ocr_viz conversion test (tests/test_official_mmseg.py).

Run it in a separate environment that has mmsegmentation (never the project's own):
    python -m venv --system-site-packages /tmp/mmvenv
    /tmp/mmvenv/bin/pip install mmsegmentation==1.2.2 mmengine==0.10.7 mmcv-lite==2.1.0 ftfy regex
    /tmp/mmvenv/bin/python scripts/make_mmseg_fixture.py
mmcv-lite has no compiled ops; the modules OCRNet uses need none, so `mmcv.ops` is stubbed.
The weights are not stored (ResNet-101 would be 200 MB): `seeded_state` regenerates them from the
stored key list, the seed and torch's generator, here and in the test (same torch version).
"""
from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import torch

OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "mmseg_ocrnet"
CONFIGS = {  # fixture name -> mmsegmentation config (configs/ocrnet/)
    "hr18s": "ocrnet_hr18s_4xb2-40k_cityscapes-512x1024.py",
    "r101": "ocrnet_r101-d8_4xb2-40k_cityscapes-512x1024.py",
}
SEED = 0


def seeded_state(keys: list[tuple[str, tuple[int, ...], str]], seed: int = SEED) -> dict[str, torch.Tensor]:
    """Random weights that keep activations in range: conv ~ N(0, 1/fan_in), 1-D weights (BN
    scales) ~ 1 + N(0, 0.1^2), biases and running means ~ N(0, 0.1^2), running vars ~ U(0.5, 1.5)."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape, dtype in keys:
        if dtype == "int64":
            state[key] = torch.zeros(shape, dtype=torch.int64)
        elif key.endswith("running_var"):
            state[key] = 0.5 + torch.rand(shape, generator=g)
        elif len(shape) == 4:
            fan_in = shape[1] * shape[2] * shape[3]
            state[key] = torch.randn(shape, generator=g) / fan_in ** 0.5
        elif key.endswith("weight"):
            state[key] = 1.0 + 0.1 * torch.randn(shape, generator=g)
        else:
            state[key] = 0.1 * torch.randn(shape, generator=g)
    return state


def read_keys(path: Path) -> list[tuple[str, tuple[int, ...], str]]:
    out = []
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            key, shape, dtype = line.split("\t")
            out.append((key, tuple(int(s) for s in shape.strip("()").split(",") if s.strip()), dtype))
    return out


def stub_mmcv_ops() -> None:
    class Stub(types.ModuleType):
        def __getattr__(self, name):
            if name.startswith("__"):
                raise AttributeError(name)
            return type(name, (), {"__init__": lambda self, *a, **k: None})

    for name in ("mmcv.ops", "mmcv._ext"):
        sys.modules[name] = Stub(name)


def main() -> None:
    stub_mmcv_ops()
    import mmseg
    from mmengine.config import Config
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules

    register_all_modules()
    configs = Path(mmseg.__file__).parent / ".mim" / "configs" / "ocrnet"
    image = torch.from_numpy(np.load(OUT / "image.npy"))
    OUT.mkdir(parents=True, exist_ok=True)
    for name, config in CONFIGS.items():
        cfg = Config.fromfile(configs / config).model
        cfg.backbone.norm_cfg = dict(type="BN", requires_grad=True)  # SyncBN needs a process group; same maths in eval
        for head in cfg.decode_head:
            head.norm_cfg = dict(type="BN", requires_grad=True)
        cfg.pop("data_preprocessor", None)
        cfg.backbone.pop("init_cfg", None)
        cfg.pop("pretrained", None)
        model = MODELS.build(cfg).eval()
        keys = [(k, tuple(v.shape), str(v.dtype).replace("torch.", "")) for k, v in model.state_dict().items()]
        (OUT / f"{name}_keys.txt").write_text(
            f"# mmsegmentation {mmseg.__version__} {config} (norm BN): state_dict key, shape, dtype\n"
            + "".join(f"{k}\t{s}\t{d}\n" for k, s, d in keys))
        model.load_state_dict(seeded_state(keys))
        seen = {}
        ocr = model.decode_head[1]
        ocr.bottleneck.register_forward_hook(lambda m, i, o: seen.__setitem__("x", o))
        ocr.spatial_gather_module.register_forward_hook(lambda m, i, o: seen.__setitem__("f", o))
        block = ocr.object_context_block.bottleneck  # its input is [y; x], its output z
        block.register_forward_hook(lambda m, i, o: seen.update(y=i[0][:, : i[0].shape[1] // 2], z=o))
        with torch.no_grad():
            feats = model.extract_feat(image)
            M = model.decode_head[0].forward(feats)
            logits = ocr.forward(feats, M)
        out = {"M": M, "logits": logits, **seen}
        np.savez_compressed(OUT / f"{name}_io.npz", **{k: v.numpy().astype(np.float32) for k, v in out.items()})
        print(name, {k: tuple(v.shape) for k, v in out.items()})


if __name__ == "__main__":
    main()
