"""From whatever a user uploads to a normalised tensor, with clear messages for bad input.

Size policy: the image is resized (aspect kept) so that its longer side is `long_side`
pixels (default 640: CamVid photos are 480 wide and the model was trained on scales
0.5-2.0, and 640 gives the stride-8 maps 80 columns), the shorter side is at least
MIN_SIDE, and files whose decoded size exceeds MAX_PIXELS are refused before decoding.
"""
from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from ocr_viz.data.transforms import normalize

DEFAULT_LONG_SIDE = 640
MIN_SIDE = 32
# The app refuses uploads whose shorter side is below this: the model would see them upscaled many
# times over (a 1 x 1 PNG became a 640 x 640 flat colour, segmented as 97% Sky).
MIN_UPLOAD_SIDE = 32
MAX_PIXELS = 50_000_000  # refuse larger files (decompression bombs) before decoding them
MAX_FILE_BYTES = 50 * 1024 * 1024


class ImageError(ValueError):
    """An upload that cannot be turned into an RGB image; the message says why."""


def open_image(source: bytes | str | Path) -> Image.Image:
    """Decode fully (so truncated files fail here), apply EXIF orientation, return RGB."""
    if isinstance(source, (bytes, bytearray)):
        if len(source) > MAX_FILE_BYTES:
            raise ImageError(f"file is {len(source) / 2**20:.0f} MB; the limit is {MAX_FILE_BYTES // 2**20} MB")
        fh = io.BytesIO(source)
    else:
        fh = source
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(fh)
            w, h = image.size
            if w * h > MAX_PIXELS:
                raise ImageError(f"image is {w}x{h} = {w * h / 1e6:.0f} megapixels; the limit is {MAX_PIXELS / 1e6:.0f}")
            image.load()
    except ImageError:
        raise
    except UnidentifiedImageError as e:
        raise ImageError("not an image file that Pillow can read (PNG, JPEG, WebP, BMP, TIFF, ...)") from e
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageError(f"image is too large to decode safely ({e})") from e
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageError(f"the image file is corrupt or truncated ({e})") from e
    if min(image.size) < 1:
        raise ImageError("image has no pixels")
    return to_rgb(ImageOps.exif_transpose(image))


def too_small(image: Image.Image, min_side: int = MIN_UPLOAD_SIDE, long_side: int = DEFAULT_LONG_SIDE) -> str | None:
    """Why an image is too small to segment meaningfully (None if it is not): the model would see
    it upscaled into a blur."""
    width, height = image.size
    if min(width, height) >= min_side:
        return None
    seen = model_size(width, height, long_side)
    return (f"the image is only {width} x {height} pixels (shorter side under {min_side}); the model would see it "
            f"upscaled {seen[0] / width:.0f}x to {seen[0]} x {seen[1]}, a blur with nothing to segment. Use an image "
            f"at least {min_side} pixels on each side")


def to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode to 8-bit RGB: 16-bit and float greys rescaled, alpha composited on white."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        a = np.asarray(image, dtype=np.float64)
        lo, hi = (0.0, 65535.0) if image.mode.startswith("I;16") else (float(a.min()), float(a.max()))
        if image.mode in ("I", "F") and hi <= 255 and lo >= 0:
            lo, hi = 0.0, 255.0
        a = np.clip((a - lo) / max(hi - lo, 1e-12) * 255.0, 0, 255).astype(np.uint8)
        image = Image.fromarray(a, "L")
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "RGBa", "La", "PA"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image.convert("RGB")


def model_size(width: int, height: int, long_side: int = DEFAULT_LONG_SIDE) -> tuple[int, int]:
    """(width, height) the model sees: longer side = long_side, shorter side >= MIN_SIDE."""
    s = long_side / max(width, height)
    return max(MIN_SIDE, round(width * s)), max(MIN_SIDE, round(height * s))


def resize_for_model(image: Image.Image, long_side: int = DEFAULT_LONG_SIDE) -> Image.Image:
    size = model_size(*image.size, long_side=long_side)
    return image if size == image.size else image.resize(size, Image.BILINEAR)


def to_tensor(image: Image.Image) -> torch.Tensor:
    """RGB PIL image -> (3,H,W) float in [0,1]."""
    return torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1).float() / 255.0


def preprocess(image: Image.Image, long_side: int = DEFAULT_LONG_SIDE) -> torch.Tensor:
    """Any PIL image -> (1,3,H,W) normalised tensor at the model size (see the module docstring)."""
    return normalize(to_tensor(resize_for_model(to_rgb(ImageOps.exif_transpose(image)), long_side)))[None]
