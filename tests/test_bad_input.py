"""Bad and unusual uploads: each gives a correct RGB image or a clear ImageError, and in the
app a clear st.error while the app keeps working."""
import io
import struct
import zlib

import numpy as np
import pytest
from app_helpers import figure_titles, open_page, problems, start
from PIL import Image

import ocr_viz
from ocr_viz.app import session
from ocr_viz.model.images import MAX_FILE_BYTES, too_small


def encode(image: Image.Image, format: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **params)
    return buffer.getvalue()


def png_claiming_size(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height pixels, with a tiny (wrong) body: Pillow reads
    the size from the header, so only a check before decoding stops such a file."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def corrupt(data: bytes) -> bytes:
    """Flip 40 bytes in the middle of the file (inside the compressed pixels)."""
    middle = len(data) // 2
    return data[:middle] + bytes(b ^ 0xFF for b in data[middle : middle + 40]) + data[middle + 40 :]


def photo(width: int = 64, height: int = 48) -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "RGB")


REFUSED = {
    "not an image": (b"%PDF-1.4 this is a document", "not an image file"),
    "empty file": (b"", "not an image file"),
    "truncated JPEG": (encode(photo(256, 256), "JPEG")[:1500], "corrupt or truncated"),
    "PNG with corrupt image data": (corrupt(encode(photo(), "PNG")), "corrupt or truncated"),
    "huge image (60 megapixels)": (png_claiming_size(10_000, 6_000), "megapixels"),
    "decompression bomb (2.5 gigapixels)": (png_claiming_size(50_000, 50_000), "too large|megapixels"),
}


@pytest.mark.parametrize("case", REFUSED)
def test_refused_with_a_clear_message(case):
    data, words = REFUSED[case]
    with pytest.raises(ocr_viz.ImageError, match=words):
        ocr_viz.open_image(data)


def test_a_file_over_the_size_limit_is_refused_before_decoding():
    with pytest.raises(ocr_viz.ImageError, match="MB"):
        ocr_viz.open_image(b"\x00" * (MAX_FILE_BYTES + 1))


def test_every_upload_format_opens():
    for format in ("PNG", "JPEG", "WEBP", "BMP", "TIFF", "GIF"):
        image = ocr_viz.open_image(encode(photo(), format))
        assert image.mode == "RGB" and image.size == (64, 48), format


@pytest.mark.parametrize("size, model_size", [((1, 1), (640, 640)), ((1, 2000), (32, 640)), ((5000, 20), (640, 32))])
def test_tiny_and_extreme_sizes_reach_the_model_size(size, model_size):
    image = ocr_viz.open_image(encode(Image.new("RGB", size, (10, 200, 30)), "PNG"))
    x = ocr_viz.preprocess(image)
    assert x.shape == (1, 3, model_size[1], model_size[0])


def test_16_bit_greyscale_is_rescaled_not_clipped():
    ramp = np.linspace(0, 65535, 256, dtype=np.uint16)[None].repeat(8, 0)
    image = ocr_viz.open_image(encode(Image.fromarray(ramp), "PNG"))
    rgb = np.asarray(image)
    assert image.mode == "RGB" and rgb[0, 0, 0] == 0 and rgb[0, -1, 0] == 255 and rgb[0, 128, 0] in (127, 128)


def test_cmyk_jpeg_keeps_its_colours():
    red_in_cmyk = Image.new("CMYK", (32, 32), (0, 255, 255, 0))
    rgb = np.asarray(ocr_viz.open_image(encode(red_in_cmyk, "JPEG", quality=95)))
    assert rgb[16, 16, 0] > 230 and rgb[16, 16, 1] < 30 and rgb[16, 16, 2] < 30


def test_palette_with_transparency_and_rgba_are_composited_on_white():
    palette = Image.new("P", (8, 8), 0)
    palette.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    palette.putpixel((0, 0), 1)
    rgb = np.asarray(ocr_viz.open_image(encode(palette, "PNG", transparency=0)))
    assert tuple(rgb[0, 0]) == (0, 0, 255) and tuple(rgb[4, 4]) == (255, 255, 255)

    half_red = Image.new("RGBA", (8, 8), (255, 0, 0, 128))
    rgb = np.asarray(ocr_viz.open_image(encode(half_red, "PNG")))
    assert tuple(rgb[0, 0]) == (255, 127, 127) or tuple(rgb[0, 0]) == (255, 128, 128)


def test_exif_rotated_photos_are_turned_upright():
    wide = Image.new("RGB", (40, 20), (0, 0, 0))
    wide.paste((255, 255, 255), (0, 0, 20, 20))  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    image = ocr_viz.open_image(encode(wide, "JPEG", exif=exif.tobytes(), quality=95))
    assert image.size == (20, 40)
    rgb = np.asarray(image)
    assert rgb[5, 10].mean() > 200 and rgb[35, 10].mean() < 50  # the white half is now on top


def test_greyscale_and_float_images_become_rgb():
    grey = ocr_viz.open_image(encode(Image.new("L", (16, 16), 90), "PNG"))
    assert grey.mode == "RGB" and np.asarray(grey)[0, 0].tolist() == [90, 90, 90]
    floats = Image.fromarray(np.linspace(-1, 1, 64, dtype=np.float32).reshape(8, 8), "F")
    image = ocr_viz.open_image(encode(floats, "TIFF"))
    assert image.mode == "RGB" and np.asarray(image).min() == 0 and np.asarray(image).max() == 255


def upload_image(at, name: str, data: bytes):
    at.radio(key="widget." + session.SOURCE).set_value(session.UPLOAD).run()
    return at.file_uploader(key=session.UPLOADED_IMAGE).upload(name, data).run()


@pytest.mark.parametrize("name, data", [("notes.png", b"this is not an image"),
                                        ("cut.jpg", REFUSED["truncated JPEG"][0]),
                                        ("bomb.png", REFUSED["decompression bomb (2.5 gigapixels)"][0])],
                         ids=["not-an-image", "truncated", "bomb"])
def test_the_app_shows_an_error_and_keeps_working(name, data):
    at = upload_image(start(), name, data)
    assert not at.exception
    assert any(f"Could not use {name!r}" in e.value for e in at.error)
    open_page(at, "relation")  # the pages still work, on the default sample
    assert not at.exception and figure_titles(at)
    assert at.session_state[session.CURRENT].image_key == session.DEFAULT_IMAGE


@pytest.mark.parametrize("size", [(1, 1), (31, 400)])
def test_a_tiny_upload_is_refused_with_the_reason_and_the_app_keeps_working(size):
    """A 1 x 1 PNG was accepted, scaled to 640 x 640 and segmented as 97% Sky: refused now, with why."""
    at = upload_image(start(), "dot.png", encode(Image.new("RGB", size, (200, 30, 30)), "PNG"))
    errors = [e.value for e in at.error]
    assert any("Could not use 'dot.png'" in e and f"{size[0]} x {size[1]} pixels" in e and "blur" in e for e in errors)
    open_page(at, "relation")
    assert not at.exception and figure_titles(at)
    current = at.session_state[session.CURRENT]
    assert current.image_key == session.DEFAULT_IMAGE  # the default sample instead
    assert too_small(Image.new("RGB", (32, 400))) is None  # 32 px is enough


def safetensors_bytes(tensors: dict, meta: dict) -> bytes:
    import json

    from safetensors.torch import save

    return save(tensors, metadata={"ocr_viz": json.dumps(meta)})


def test_a_checkpoint_asking_for_a_huge_model_is_refused_without_building_it():
    import torch

    from ocr_viz.model import build

    arch = build.arch_for("ocr", head_kwargs={"mid_channels": 1_000_000, "key_channels": 128})  # ~20 GB of weights
    with pytest.raises(ocr_viz.CheckpointError, match="does not match"):
        ocr_viz.load_model(safetensors_bytes({"x": torch.zeros(1)}, {"arch": arch}), device="cpu")


@pytest.mark.parametrize("data, words", [
    (b"\x80\x04\x95 a pickle, as torch.save writes", "not a readable safetensors file"),
    (b"", "not a readable safetensors file"),
    ("no metadata", "no 'ocr_viz' metadata"),
], ids=["pickle", "empty", "no-metadata"])
def test_other_files_are_refused_as_checkpoints(data, words):
    import torch
    from safetensors.torch import save

    if data == "no metadata":
        data = save({"x": torch.zeros(2)})
    with pytest.raises(ocr_viz.CheckpointError, match=words):
        ocr_viz.load_model(data, device="cpu")
