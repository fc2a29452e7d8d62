"""Pure functions from numpy arrays to plotly figures (and Graphviz source). They import
numpy, plotly and matplotlib only: no torch, no Streamlit."""
from .charts import class_bars, matrix_figure, projection_figure, similarity_figure
from .labels import label_figure
from .maps import map_figure, map_grid, pca_caption, photo_figure, rgb_figure
from .pipeline import pipeline_dot
from .scales import KINDS, Scale

__all__ = [
    "KINDS", "Scale", "class_bars", "label_figure", "map_figure", "map_grid", "matrix_figure", "photo_figure",
    "pca_caption", "pipeline_dot", "projection_figure", "rgb_figure", "similarity_figure",
]
