"""Pure functions from numpy arrays to plotly figures (and Graphviz source). They import
numpy, plotly and matplotlib only: no torch, no Streamlit."""
from .charts import class_bars, class_bars_spec, matrix_figure, projection_figure, similarity_figure
from .labels import label_figure
from .maps import map_figure, map_grid, map_spec, pca_caption, photo_figure, rgb_figure
from .pipeline import pipeline_dot
from .presentation import large_type
from .scales import KINDS, Scale
from .scores import decimals_apart, score_bars
from .titles import narrow

__all__ = [
    "KINDS", "Scale", "class_bars", "class_bars_spec", "decimals_apart", "label_figure", "large_type", "map_figure", "map_grid", "map_spec", "matrix_figure", "narrow", "photo_figure",
    "pca_caption", "pipeline_dot", "projection_figure", "rgb_figure", "score_bars", "similarity_figure",
]
