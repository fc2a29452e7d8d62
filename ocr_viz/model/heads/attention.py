"""Softmax attention over all pixels, shared by the non-local and base-OC heads.

Shapes: b batch, n = h*w pixels, m query pixels, d channels.
The (n x n) attention matrix is never held: attend() builds it a block of query
rows at a time, so memory is O(rows*n), and attention_weights() recomputes only
the rows a caller asks for.
"""
from __future__ import annotations

import torch
from einops import einsum
from torch.utils.checkpoint import checkpoint

# 128 x 128 feature pixels (a 1024 x 1024 image at output stride 8, the paper's
# efficiency setting). The whole matrix would be n^2 * 4 B = 1 GiB per image, plus
# each copy autograd keeps; in chunks of 32 MiB, attention at the cap adds 0.09 GiB
# for a forward and 0.24 GiB for forward + backward (0.27 and 0.53 GiB in chunks of
# 128 MiB; measured: one image, d = 128, CPU, peak RSS). At the app's 60 x 80 maps a
# chunk is a third of the matrix: a served head comparison's buffers 310 -> 215 MB,
# no slower. Time still grows with n^2: about 0.14 TFLOP per image at the cap.
MAX_PIXELS = 128 * 128
CHUNK_FLOATS = 8 * 2**20  # a chunk's (b x rows x n) attention block: 32 MiB of float32


def check_pixels(n: int) -> None:
    """Refuse attention over more than MAX_PIXELS pixels, saying why."""
    if n > MAX_PIXELS:
        raise ValueError(
            f"attention over {n} feature pixels exceeds MAX_PIXELS = {MAX_PIXELS}: its cost grows with n^2, "
            f"so use a smaller image or a crop (at output stride 8, at most {MAX_PIXELS * 64} input pixels)"
        )


def attention_weights(query: torch.Tensor, key: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """a_ij = softmax over all pixels j of scale * q_i . k_j; (b,m,d), (b,n,d) -> (b,m,n), rows sum to 1."""
    # scaling the (m, d) queries is cheaper than scaling the (m, n) logits
    return torch.softmax(einsum(query * scale, key, "b m d, b n d -> b m n"), dim=-1)


def _attend_rows(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, scale: float) -> torch.Tensor:
    return einsum(attention_weights(query, key, scale), value, "b m n, b n d -> b m d")


def attend(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """y_i = sum_j a_ij v_j for every pixel i, (b,n,d) -> (b,n,d), CHUNK_FLOATS of attention at a time."""
    b, n = key.shape[:2]
    check_pixels(n)
    rows = max(1, CHUNK_FLOATS // (b * n))
    if rows >= query.shape[1]:
        return _attend_rows(query, key, value, scale)
    chunks = query.split(rows, dim=1)
    if torch.is_grad_enabled():
        # Otherwise autograd would keep every chunk's softmax for backward, i.e. the
        # whole n x n matrix; checkpointing recomputes it one chunk at a time instead.
        return torch.cat([checkpoint(_attend_rows, q, key, value, scale, use_reentrant=False) for q in chunks], 1)
    return torch.cat([_attend_rows(q, key, value, scale) for q in chunks], dim=1)
