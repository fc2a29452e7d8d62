"""The model: backbones, heads, the segmentor that joins them and records its trace, checkpoints, image input."""
