"""Command: python -m ocr_viz.train (the code is in ocr_viz.training.train)."""
from .training.train import main

if __name__ == "__main__":
    main()
