"""python -m ocr_viz.convert SRC [--layout auto|hrnet-ocr|openseg|mmseg] [--dataset NAME] [--out DST.safetensors]"""
from ocr_viz.model.convert import main

if __name__ == "__main__":
    raise SystemExit(main())
