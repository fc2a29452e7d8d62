"""Command: python -m ocr_viz.evaluate (the code is in ocr_viz.training.evaluate)."""
from .training.evaluate import main

if __name__ == "__main__":
    main()
