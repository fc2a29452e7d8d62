"""Command: python -m ocr_viz.ship (the code is in ocr_viz.training.ship)."""
from .training.ship import main

if __name__ == "__main__":
    main()
