"""Downloads of the cached trace: the whole trace as an .npz (the arrays turned back into a torch
trace by model.arrays.segmentor_trace) and the notebook lines that load it.
"""
from __future__ import annotations

import io

from . import export
from ocr_viz.model.arrays import TraceArrays, segmentor_trace


def npz_bytes(arrays: TraceArrays, meta: dict, compress: bool = True) -> bytes:
    """The whole trace as an .npz file (layout: export.SCHEMA), for a download button."""
    buffer = io.BytesIO()
    export.trace_to_npz(segmentor_trace(arrays), meta, buffer, compress=compress)
    return buffer.getvalue()


def npz_shapes(arrays: TraceArrays) -> dict[str, tuple[int, ...]]:
    """The shape of every array the .npz of this trace holds, by key."""
    return {k: v.shape for k, v in export.trace_arrays(segmentor_trace(arrays)).items()}


def notebook_snippet(file_name: str) -> str:
    """Five lines that load a downloaded trace in a notebook, without pickle."""
    return (
        "import json, numpy as np\n"
        f'z = np.load("{file_name}", allow_pickle=False)\n'
        'meta, schema = json.loads(str(z["meta"])), json.loads(str(z["schema"]))\n'
        'w = z["w"][0].T.reshape(-1, *meta["feature_size"])  # (K,h,w): each region\'s relation map\n'
        'print(meta["classes"], {k: z[k].shape for k in z.files})\n'
    )
