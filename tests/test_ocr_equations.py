"""The OCR head's equations on random inputs, against their naive loop forms."""
import pytest
import torch

from ocr_viz.model.heads import ocr

B, K, C, H, W = 2, 5, 7, 4, 6


@pytest.fixture
def head():
    torch.manual_seed(0)
    return ocr.OCRHead(in_channels=12, num_classes=K, mid_channels=C, key_channels=3).eval()


def test_m_tilde_sums_to_one_over_pixels():
    m = ocr.m_tilde(torch.randn(B, K, H, W) * 5, temperature=2.0)
    assert m.shape == (B, K, H * W)
    torch.testing.assert_close(m.sum(-1), torch.ones(B, K), atol=1e-5, rtol=0)


def test_temperature_sharpens_the_spatial_softmax():
    M = torch.randn(1, K, H, W)
    assert ocr.m_tilde(M, 4.0).max() > ocr.m_tilde(M, 1.0).max()


def test_f_equals_the_loop_over_pixels():
    m, x = torch.rand(B, K, H * W), torch.randn(B, C, H, W)
    expected = torch.zeros(B, K, C)
    for b in range(B):
        for k in range(K):
            for i in range(H * W):
                expected[b, k] += m[b, k, i] * x[b, :, i // W, i % W]
    torch.testing.assert_close(ocr.f(m, x), expected, atol=1e-5, rtol=0)


def test_w_sums_to_one_over_regions(head):
    t = head.trace(torch.randn(B, 12, H, W))
    assert t.w.shape == (B, H * W, K)
    torch.testing.assert_close(t.w.sum(-1), torch.ones(B, H * W), atol=1e-5, rtol=0)
    torch.testing.assert_close(t.w, torch.softmax(t.kappa, -1))


def test_kappa_is_scaled_dot_product():
    q, k = torch.randn(B, H * W, 4), torch.randn(B, K, 4)
    expected = torch.stack([torch.stack([q[b] @ k[b, j] for j in range(K)], -1) for b in range(B)]) / 2.0
    torch.testing.assert_close(ocr.kappa(q, k), expected, atol=1e-5, rtol=0)


def test_y_equals_the_loop_form_of_eq3(head):
    t = head.trace(torch.randn(B, 12, H, W))
    delta_f = head.regions(t.f, head.delta)  # (b, k, d)
    for b in range(B):
        for i in range(H * W):
            mix = sum(t.w[b, i, k] * delta_f[b, k] for k in range(K))
            y_i = head.rho(mix.reshape(1, -1, 1, 1)).flatten()
            torch.testing.assert_close(t.y[b, :, i // W, i % W], y_i, atol=1e-5, rtol=0)


def test_z_concatenates_x_then_y(head):
    """Eq. 6: z_i = g([x_i; y_i]): g's first C input channels read x, the last C read y."""
    t = head.trace(torch.randn(1, 12, H, W))
    conv = head.g[0][0]
    assert conv.in_channels == 2 * C
    with torch.no_grad():  # the 1x1 conv of g written out, each half with its own input
        pre = (torch.einsum("oc,bchw->bohw", conv.weight[:, :C, 0, 0], t.x)
               + torch.einsum("oc,bchw->bohw", conv.weight[:, C:, 0, 0], t.y))
        if conv.bias is not None:
            pre = pre + conv.bias[:, None, None]
        expected = head.g[0][1:](pre)  # BatchNorm and ReLU (eval mode: dropout is the identity)
        swapped = head.g(torch.cat([t.y, t.x], 1))
    torch.testing.assert_close(t.z, expected, atol=1e-5, rtol=1e-5)
    assert (swapped - expected).abs().max() > 1e-2  # the order matters for this head
