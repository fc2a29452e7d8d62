"""Command: python -m ocr_viz.results (the code is in ocr_viz.training.results)."""
from .training.results import main

if __name__ == "__main__":
    main()
