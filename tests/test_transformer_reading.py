"""OCR as a Segmentation Transformer (issue 20, item 1): the model's own tensors in the roles of
cross-attention, softmax(scale Q K^T) V, reproduce the trace's m~, f, kappa, w, y and z. Library checks
on tiny models with structured maps; AppTest on the shipped model and on a converted HRNet-OCR release
(which also opens the worked-pixel views of item 3 on it)."""
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from app_helpers import latex, open_page, problems, start
from conftest import structured_ocr
from einops import rearrange

from ocr_viz.teaching import lecture, transformer

SIZE = (64, 96)
TOLERANCE = 1e-5  # relative to the recorded tensor's largest value: float32 sums taken in another order


def structured(**head_kwargs):
    return structured_ocr(SIZE, **head_kwargs)


@pytest.fixture(scope="module")
def tiny():
    return structured()


def err(a, b) -> float:
    return transformer.relative_error(a, np.asarray(b))


def per_pixel(maps: np.ndarray) -> np.ndarray:
    """(K, h, w) maps as (n, K) rows, one per pixel."""
    return rearrange(np.asarray(maps), "k h w -> (h w) k")


def test_the_decoder_category_queries_give_M_m_tilde_and_f(tiny):
    model, arrays = tiny
    head = model.head
    Q, b = transformer.category_queries(head)
    K = transformer.aux_keys(head, arrays.features)
    V = transformer.pixel_values(arrays, head)
    K_classes, n = arrays.M.shape[0], arrays.grid[0] * arrays.grid[1]
    assert Q.shape == (K_classes, K.shape[1]) and K.shape[0] == n and V.shape == (n, arrays.x.shape[0])
    # the exact identity: the scores are the aux classifier on the aux head's hidden features
    assert err(Q @ K.T + b[:, None], rearrange(arrays.M, "k h w -> k (h w)")) < TOLERANCE
    A = transformer.attention(Q, K, head.temperature)  # no bias: it is the same for every pixel and cancels
    assert err(A, arrays.m_tilde) < TOLERANCE
    assert err(transformer.attend(A, V), arrays.f) < TOLERANCE
    # what the check can see: a softmax over the queries instead of the pixels, or with the bias
    # scaled per pixel, does not reproduce m~
    assert err(torch.softmax(head.temperature * (Q @ K.T), dim=0), arrays.m_tilde) > 1e-2
    assert b.abs().max() > 1e-3  # a bias that could have mattered


def test_the_decoder_uses_the_models_spatial_softmax_scale():
    model, arrays = structured(temperature=2.0)
    head = model.head
    Q, _ = transformer.category_queries(head)
    K = transformer.aux_keys(head, arrays.features)
    assert err(transformer.attention(Q, K, 2.0), arrays.m_tilde) < TOLERANCE
    assert err(transformer.attention(Q, K, 1.0), arrays.m_tilde) > 1e-2
    reading = transformer.read(model, arrays)
    assert reading.temperature == 2.0 and reading.decoder.scale == 2.0


def test_the_encoder_queries_keys_values_give_kappa_w_and_y(tiny):
    model, arrays = tiny
    head = model.head
    Q, K, V, scale = transformer.encoder_qkv(head, arrays)
    n, K_classes = arrays.grid[0] * arrays.grid[1], arrays.M.shape[0]
    d = head.phi[-1][0].out_channels
    assert Q.shape == (n, d) and K.shape == (K_classes, d) and V.shape == (K_classes, head.delta[0].out_channels)
    assert scale == pytest.approx(d ** -0.5)
    assert err(scale * Q @ K.T, per_pixel(arrays.kappa)) < TOLERANCE
    A = transformer.attention(Q, K, scale)
    assert err(A, per_pixel(arrays.w)) < TOLERANCE
    np.testing.assert_allclose(A.sum(-1).numpy(), 1.0, atol=1e-5)
    y, z = transformer.head_context(head, arrays)  # the head's own, in float32 (the trace keeps float16)
    assert err(transformer.y_from(head, transformer.attend(A, V), arrays.grid), y.numpy()) < TOLERANCE
    assert err(y, arrays.y) < 1e-3 and arrays.y.dtype == np.float16
    # without the 1/sqrt(d) (the paper's Eq. 5 as printed) the trace's w is not reproduced
    assert err(transformer.attention(Q, K, 1.0), per_pixel(arrays.w)) > 1e-2


@pytest.mark.parametrize("context_first", [False, True])
def test_g_split_by_its_input_rebuilds_z(context_first):
    model, arrays = structured(context_first=context_first)
    y, z = transformer.head_context(model.head, arrays)
    from_x, from_y, z_again = transformer.g_split(model.head, arrays, y)
    assert err(z_again, z.numpy()) < TOLERANCE and err(z_again, arrays.z) < 1e-3
    assert from_x.norm() > 0 and from_y.norm() > 0


def test_the_reading_reports_every_check_and_this_runs_shapes(tiny):
    model, arrays = tiny
    r = transformer.read(model, arrays)
    K_classes, n = arrays.M.shape[0], arrays.grid[0] * arrays.grid[1]
    for block in (r.decoder, r.encoder, r.fusion):
        assert block.errors and all(e < TOLERANCE for e in block.errors.values()), block.errors
    assert set(r.decoder.errors) == {"M = Q K^T + b", "m~ = softmax(s Q K^T)", "f = A V"}
    roles = {role.transformer: role.shape for role in r.decoder.roles}
    assert roles["attention A"] == (K_classes, n) and roles["keys K"] == (n, r.aux_width)
    assert {role.transformer: role.shape for role in r.encoder.roles}["attention A"] == (n, K_classes)
    assert r.keys_recorded and r.pixels == n and len(r.spread) == K_classes
    assert np.all(r.spread <= n + 1e-6) and np.all(r.spread_scaled >= r.spread - 1e-6)  # a smaller scale spreads
    shown = "\n".join(transformer.filled(r))
    assert rf"_{{{K_classes} \times {n}}}" in shown and rf"_{{{n} \times {K_classes}}}" in shown
    text = "\n".join(transformer.breaks(r, [f"c{k}" for k in range(K_classes)]))
    assert f"1/sqrt({r.aux_width})" in text and f"n = {n:,}" in text


def test_effective_pixels_by_hand():
    rows = torch.tensor([[0.25, 0.25, 0.25, 0.25], [1.0, 0.0, 0.0, 0.0], [0.5, 0.5, 0.0, 0.0]])
    np.testing.assert_allclose(transformer.effective_pixels(rows), [4.0, 1.0, 2.0], rtol=1e-12)


def test_a_model_reading_M_off_another_stage_is_read_without_keys(tiny):
    """The ResNet-101 releases read M off layer3, which the trace does not keep: no keys are formed, the
    scores are the recorded M, and m~ and f are still reproduced."""
    model, arrays = tiny
    r = transformer.read(SimpleNamespace(head=model.head, aux_feature="layer3"), arrays)
    assert not r.keys_recorded and "M = Q K^T + b" not in r.decoder.errors
    assert {role.transformer: role.shape for role in r.decoder.roles}["keys K"] == ()
    assert all(e < TOLERANCE for e in r.decoder.errors.values())
    assert "not formed here" in "\n".join(transformer.breaks(r, [str(k) for k in range(arrays.M.shape[0])]))


# ---- the app ----------------------------------------------------------------------------------

def captions(at) -> str:
    return "\n".join(c.value for c in at.caption)


def test_the_page_and_the_lecture_step_on_the_shipped_model():
    from ocr_viz.app import session

    at = start()
    open_page(at, "transformer")
    assert problems(at) == []
    arrays = at.session_state[session.CURRENT].arrays
    n, K_classes = arrays.grid[0] * arrays.grid[1], arrays.M.shape[0]
    assert rf"\underbrace{{\tilde m}}_{{{K_classes} \times {n}}}" in latex(at)
    assert "m~ = softmax(s Q K^T)" in captions(at) and "y = rho(A V)" in captions(at)
    assert [s.value for s in at.subheader][:4] == [
        "(a) decoder cross-attention (Eq. 4): K category queries attend over the n pixels", "(b) encoder cross-attention (Eq. 5, 3): every pixel attends over the K regions",
        "(c) z_i = g([x_i; y_i]) (Eq. 6) where a Transformer block has x + Attention(x) and a feed-forward layer",
        "Where the analogy breaks"]
    step = [s.key for s in lecture.STEPS].index("transformer") + 1
    at = start({"step": str(step)})
    open_page(at, "lecture")
    assert problems(at) == [] and at.title[0].value == lecture.STEP_BY_KEY["transformer"].title
    notice = next(e.value for e in at.info if "What to notice" in e.value)
    assert "relative error" in notice and f"of the {n:,} pixels" in notice
    assert any("def attention" in c.value for c in at.code)


W18S = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "hrnet_ocr" / "hrnet_ocr_w18s_seed0.pth"


@pytest.mark.skipif(not W18S.is_file() and os.environ.get("OCR_VIZ_REQUIRE_DATA") != "1",
                    reason="official HRNet-OCR fixture missing")
def test_a_converted_hrnet_ocr_release_on_the_new_views(tmp_path, monkeypatch):
    """The Transformer page, both new lecture steps and the worked pixel on the relation and context
    pages, with a converted official checkpoint (19 classes, OCR at stride 4, g on [y; x])."""
    from ocr_viz import convert
    from ocr_viz.app import session

    assert convert.main([str(W18S), "--out", str(tmp_path / "hrnet_w18s.safetensors")]) == 0
    monkeypatch.setenv("OCR_VIZ_MODELS", str(tmp_path))
    at = start()
    at.radio(key="widget." + session.MODEL).set_value(session.CONVERTED + "hrnet_w18s.safetensors").run()
    current = at.session_state[session.CURRENT]
    assert problems(at) == [] and len(current.classes) == 19 and current.model.head.context_first
    open_page(at, "transformer")
    assert problems(at) == [], problems(at)
    n = current.arrays.grid[0] * current.arrays.grid[1]
    assert rf"_{{19 \times {n}}}" in latex(at)
    for page in ("relation", "context"):
        open_page(at, page)
        assert problems(at) == [], (page, problems(at))
    row, col = at.session_state[session.ROW], at.session_state[session.COL]
    assert rf"y_{{{row * current.arrays.grid[1] + col}}} = \rho" in latex(at)
    keys = [s.key for s in lecture.STEPS]
    for key in ("worked", "transformer"):
        at.session_state[session.STEP] = keys.index(key) + 1
        open_page(at, "lecture")
        assert problems(at) == [] and at.title[0].value == lecture.STEP_BY_KEY[key].title, (key, problems(at))
