"""python -m ocr_viz.convert SRC [--layout auto|hrnet-ocr|openseg|mmseg] [--dataset NAME] [--out DST.safetensors]"""
from __future__ import annotations

import argparse
from pathlib import Path

import ocr_viz.model.convert
from ocr_viz.data import classes as class_tables
from ocr_viz.model.convert import SOURCE_LAYOUTS, ConvertError, convert, save
from ocr_viz.model.paths import models_dir


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ocr_viz.convert", description=ocr_viz.model.convert.__doc__.split("\n\n")[0])
    p.add_argument("src", help="the released checkpoint (.pth, .pt, .pth.tar)")
    p.add_argument("--layout", default="auto", choices=("auto", *SOURCE_LAYOUTS))
    p.add_argument("--dataset", choices=tuple(class_tables.DATASETS), help="default: from the file name or the class count")
    p.add_argument("--out", help="output .safetensors (default: SRC's name in $OCR_VIZ_MODELS or models/)")
    args = p.parse_args(argv)
    try:
        conversion = convert(args.src, args.layout, args.dataset)
    except (ConvertError, OSError) as e:
        print(f"error: {e}")
        return 2
    out = Path(args.out) if args.out else models_dir() / (Path(args.src).name.split(".")[0] + ".safetensors")
    save(conversion, out)
    meta = conversion.meta
    arch = meta["arch"]
    print(f"{meta['source']['layout']}: {meta['source']['backbone']} + OCR (mid {arch['head_kwargs']['mid_channels']}, "
          f"key {arch['head_kwargs']['key_channels']}), {arch['num_classes']} classes ({meta['dataset']}), "
          f"{conversion.num_params / 1e6:.2f}M parameters, every tensor mapped")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
