"""Command: python -m ocr_viz.bench (the code is in ocr_viz.cost.bench)."""
from .cost.bench import main

if __name__ == "__main__":
    raise SystemExit(main())
