"""Interventions on a cached OCR trace: each reruns only the head's stages after the
replaced one, and each changes exactly what it claims to change."""
from dataclasses import fields, replace

import numpy as np
import pytest
import torch
from conftest import assert_structured, sample_batch, structured_model, tiny_arch

from ocr_viz.analysis import interventions as iv
from ocr_viz.data.classes import IGNORE_INDEX
from ocr_viz.model import build
from ocr_viz.model.heads import ocr

B, K, C_IN, H, W = 1, 5, 12, 4, 6
FIELDS = [f.name for f in fields(ocr.OCRHeadTrace)]


def random_batchnorm(module: torch.nn.Module) -> None:
    """Trained-looking BN statistics and affine terms, so that e.g. delta(0) != 0 as in a trained head,
    and variances small enough (0.1 to 0.3) that w is far from uniform (checked in the trace fixture)."""
    g = torch.Generator().manual_seed(1)
    for bn in (m for m in module.modules() if isinstance(m, torch.nn.BatchNorm2d)):
        n = bn.num_features
        bn.running_mean.copy_(torch.randn(n, generator=g))
        bn.running_var.copy_(0.1 + 0.2 * torch.rand(n, generator=g))
        bn.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
        bn.bias.data.copy_(torch.randn(n, generator=g))


@pytest.fixture
def head():
    torch.manual_seed(0)
    h = ocr.OCRHead(in_channels=C_IN, num_classes=K, mid_channels=7, key_channels=3).eval()
    random_batchnorm(h)
    return h


@pytest.fixture
def trace(head):
    with torch.no_grad():
        t = head.trace(2 * torch.randn(B, C_IN, H, W))
    # not degenerate: w ranges well away from 1/K and differs between pixels; several labels
    assert (t.w - 1 / K).abs().max() > 0.3 and t.w.std(1).max() > 0.05
    assert t.logits.argmax(1).unique().numel() >= 3
    return t


def assert_same_trace(a, b):
    """Every stage equal up to float rounding: a rerun may sum in another order (another BLAS
    kernel for another memory layout), which moves values by ~1e-7 relative, never more."""
    for k in FIELDS:
        expected = getattr(b, k)
        torch.testing.assert_close(getattr(a, k), expected, rtol=1e-5, atol=1e-6 * max(1.0, expected.abs().max().item()),
                                   msg=lambda m, k=k: f"{k}: {m}")


def delta_of(head, f_k):
    with torch.no_grad():
        return head.regions(f_k, head.delta)


def test_temperature_one_reproduces_the_trace(head, trace):
    assert head.temperature == 1.0
    assert_same_trace(iv.with_temperature(head, trace, 1.0), trace)


def test_replacing_stages_by_their_own_values_reproduces_the_trace(head, trace):
    assert_same_trace(iv.with_regions(head, trace, trace.M), trace)
    assert_same_trace(iv.with_m_tilde(head, trace, trace.m_tilde), trace)
    assert_same_trace(iv.with_relation(head, trace, trace.w), trace)


def test_temperature_changes_the_regions_and_what_follows(head, trace):
    hot = iv.with_temperature(head, trace, 4.0)
    assert torch.equal(hot.x, trace.x) and torch.equal(hot.M, trace.M)
    assert hot.m_tilde.max() > trace.m_tilde.max()
    torch.testing.assert_close(hot.m_tilde.sum(-1), torch.ones(B, K))
    assert not torch.allclose(hot.y, trace.y)


def test_suppressing_a_region_with_w_fixed_changes_the_context_by_its_term_only(head, trace):
    k = 2
    after = iv.suppress_region(head, trace, k, keep_relation=True)
    assert torch.equal(after.f[:, k], torch.zeros_like(after.f[:, k]))
    others = [j for j in range(K) if j != k]
    torch.testing.assert_close(after.f[:, others], trace.f[:, others], atol=1e-6, rtol=1e-5)
    assert torch.equal(after.w, trace.w)  # kept as recorded
    d_before, d_after = delta_of(head, trace.f), delta_of(head, after.f)
    assert d_after[:, k].abs().sum() > 0  # delta(0) = ReLU(BN(0)) is not 0: the empty region still has a value
    expected = trace.w[:, :, k, None] * (d_after[:, None, k] - d_before[:, None, k])  # w_ik (delta(0) - delta(f_k))
    change = iv.context_of(head, after) - iv.context_of(head, trace)
    torch.testing.assert_close(change, expected, atol=1e-6, rtol=1e-5)


def test_suppressing_a_region_with_w_recomputed_rescales_the_other_weights_per_pixel(head, trace):
    """Only psi(f_k) changes, so only column k of kappa; the softmax then rescales every
    other region's weight at pixel i by one factor s_i = (1 - w'_ik) / (1 - w_ik)."""
    k = 2
    after = iv.suppress_region(head, trace, k)
    others = [j for j in range(K) if j != k]
    torch.testing.assert_close(after.kappa[..., others], trace.kappa[..., others], atol=1e-6, rtol=0)
    assert not torch.allclose(after.kappa[..., k], trace.kappa[..., k])
    s = (1 - after.w[..., k]) / (1 - trace.w[..., k])  # (b, n)
    torch.testing.assert_close(after.w[..., others], trace.w[..., others] * s[..., None], atol=1e-6, rtol=1e-5)
    # context' - context = w'_ik delta(0) - w_ik delta(f_k) + (s_i - 1) sum_{j != k} w_ij delta(f_j)
    d_before, d_after = delta_of(head, trace.f), delta_of(head, after.f)
    rest = torch.einsum("bnj,bjd->bnd", trace.w[..., others], d_before[:, others])
    expected = (after.w[..., k, None] * d_after[:, None, k] - trace.w[..., k, None] * d_before[:, None, k]
                + (s[..., None] - 1) * rest)
    torch.testing.assert_close(iv.context_of(head, after) - iv.context_of(head, trace), expected, atol=1e-6, rtol=1e-5)


def test_dropping_a_region_removes_its_term(head, trace):
    k = 1
    after = iv.drop_region(head, trace, k)
    assert torch.equal(after.w[..., k], torch.zeros_like(after.w[..., k]))
    others = [j for j in range(K) if j != k]
    d = delta_of(head, trace.f)
    expected = torch.einsum("bnj,bjd->bnd", trace.w[..., others], d[:, others]) / (1 - trace.w[..., k, None])
    torch.testing.assert_close(iv.context_of(head, after), expected, atol=1e-6, rtol=1e-5)


def test_uniform_relation_gives_every_pixel_the_mean_of_the_region_terms(head, trace):
    after = iv.uniform_relation(head, trace)
    assert (trace.w - 1 / K).abs().max() > 0.05  # the model's own relation is not uniform
    torch.testing.assert_close(after.w, torch.full_like(trace.w, 1 / K), atol=1e-7, rtol=0)
    assert torch.equal(after.f, trace.f) and torch.equal(after.kappa, trace.kappa)  # upstream stages kept
    # Eq. 3 with w_ik = 1/K: y_i = rho(mean_k delta(f_k)), the same vector at every pixel
    with torch.no_grad():
        mean_term = delta_of(head, trace.f).mean(1)  # (b, d)
        expected = head.rho(mean_term[..., None, None]).flatten(1)  # (b, c)
    y = after.y.flatten(2)
    torch.testing.assert_close(y, expected[..., None].expand_as(y), atol=1e-5, rtol=1e-5)
    assert (after.y - trace.y).abs().max() > 1e-2  # and that is a change


def test_override_relation_changes_only_that_pixels_y_z_and_logits(head, trace):
    row, col = 2, 3
    i = row * W + col
    after = iv.override_relation(head, trace, (row, col), [0, 0, 3, 0, 1])
    torch.testing.assert_close(after.w[0, i], torch.tensor([0, 0, 0.75, 0, 0.25]))
    mask = torch.ones(H, W, dtype=torch.bool)
    mask[row, col] = False
    for name in ("y", "z", "logits"):
        a, b = getattr(trace, name), getattr(after, name)
        moved = (b - a).abs().amax(1)[0]  # (h, w): the largest change over channels at each pixel
        assert moved[row, col] > 1e-2, name
        assert moved[mask].max() <= 1e-6 * moved[row, col], name  # elsewhere only rounding, if anything
    assert torch.equal(iv.override_relation(head, trace, i, [0, 0, 3, 0, 1]).y, after.y)
    for bad in ([1, 1], [0, 0, 0, 0, 0], [1, -1, 1, 1, 1]):
        with pytest.raises(ValueError):
            iv.override_relation(head, trace, i, bad)


def test_difference_maps(head, trace):
    # hand-made changes with known sizes, each at its own cell (row, col)
    y, z, logits, w = trace.y.clone(), trace.z.clone(), trace.logits.clone(), trace.w.clone()
    y[0, 0, 2, 1] += 3.0  # ||y'_i - y_i|| = 3 at (2, 1)
    z[0, :2, 0, 4] += torch.tensor([3.0, 4.0])  # 5 at (0, 4)
    label = int(trace.logits[0, :, 3, 5].argmin())
    logits[0, label, 3, 5] += 1000.0  # the label at (3, 5) becomes `label`
    j = int(trace.w[0, 1 * W + 2].argmin())
    w[0, 1 * W + 2] = torch.nn.functional.one_hot(torch.tensor(j), K).float()  # total variation 1 - w_ij at (1, 2)
    edited = replace(trace, y=y, z=z, logits=logits, w=w)
    d = iv.difference(trace, edited)
    for name, cell, size in (("y", (2, 1), 3.0), ("z", (0, 4), 5.0), ("w", (1, 2), 1 - trace.w[0, W + 2, j].item())):
        m = getattr(d, name)[0]
        assert m.shape == (H, W) and m[cell].item() == pytest.approx(size, rel=1e-5), name
        assert m.count_nonzero() == 1, name  # nowhere else
    assert d.logits[0, 3, 5] > 999 and d.logits.count_nonzero() == 1
    assert d.changed[0].nonzero().tolist() == [[3, 5]]
    after = iv.override_relation(head, trace, (1, 1), [1, 0, 0, 0, 0])
    d = iv.difference(trace, after, size=(4 * H, 4 * W))
    assert d.y[0, 1, 1] > 0 and d.y.count_nonzero() == 1 and d.changed.shape == (B, 4 * H, 4 * W)
    torch.testing.assert_close(d.w[0, 1, 1], 0.5 * (after.w[0, W + 1] - trace.w[0, W + 1]).abs().sum())


def test_interventions_run_in_eval_mode_and_restore_the_heads_mode(head, trace):
    head.train()
    after = iv.with_temperature(head, trace, 1.0)
    assert head.training
    head.eval()
    assert_same_trace(after, trace)
    assert after.y.grad_fn is None


def test_a_segmentor_trace_is_accepted_and_other_heads_are_refused():
    model = structured_model()
    t = model.trace(sample_batch((64, 96)))
    assert_structured(t)  # several labels: a misaligned upsampling below would show
    assert_same_trace(iv.with_temperature(model.head, t, 1.0), t.head)
    assert torch.equal(iv.prediction(t, (64, 96)), t.pred)
    fcn = build.build(tiny_arch("fcn")).eval()
    with pytest.raises(TypeError, match="OCR"):
        iv.uniform_relation(model.head, fcn.trace(torch.randn(1, 3, 64, 96)))


def test_gt_regions_are_class_fractions_per_cell():
    labels = torch.tensor([[0, 0, 1, 1],
                           [0, 1, 1, 1],
                           [2, 2, IGNORE_INDEX, IGNORE_INDEX],
                           [2, 2, IGNORE_INDEX, 1]])
    r = iv.gt_regions(labels, 3, (2, 2))
    assert r.shape == (1, 3, 2, 2)
    torch.testing.assert_close(r[0, :, 0, 0], torch.tensor([0.75, 0.25, 0]))
    torch.testing.assert_close(r[0, :, 0, 1], torch.tensor([0.0, 1, 0]))
    torch.testing.assert_close(r[0, :, 1, 0], torch.tensor([0.0, 0, 1]))
    torch.testing.assert_close(r[0, :, 1, 1], torch.tensor([0.0, 0.25, 0]))  # three ignored pixels count for no class


def test_gt_weights_normalise_and_fall_back():
    labels = torch.tensor([[0, 0], [0, IGNORE_INDEX]])
    r = iv.gt_regions(labels, 2, (2, 2))  # class 1 is absent; pixel 3 is unlabelled
    m_fallback, w_fallback = torch.full((1, 2, 4), 0.25), torch.full((1, 4, 2), 0.5)
    m = iv.gt_m_tilde(r, m_fallback)
    torch.testing.assert_close(m[0, 0], torch.tensor([1 / 3, 1 / 3, 1 / 3, 0]))
    assert torch.equal(m[0, 1], m_fallback[0, 1])
    w_ik = iv.gt_relation(r, w_fallback)
    torch.testing.assert_close(w_ik[0, :3], torch.tensor([[1.0, 0]] * 3))
    assert torch.equal(w_ik[0, 3], w_fallback[0, 3])


def oracle_head(num_classes: int) -> ocr.OCRHead:
    """A hand-set head whose input features are one-hot class maps and whose prediction
    depends on the context y alone: M = 0 (so m~ is uniform and every f_k is the image
    mean), phi = 0 (so w is uniform), x, delta, rho, the y half of g and the classifier
    are identities. Its own prediction is one class everywhere; with the ground truth's
    regions and relation, y_i = delta(f_{l_i}) is the one-hot of pixel i's class."""
    k = num_classes
    head = ocr.OCRHead(k, k, mid_channels=k, key_channels=k, dropout=0.0).eval()
    eye = torch.eye(k)[..., None, None]
    with torch.no_grad():
        for p in head.parameters():
            p.zero_()
        for bn in (m for m in head.modules() if isinstance(m, torch.nn.BatchNorm2d)):
            bn.weight.fill_(1.0)
            bn.running_var.fill_(1.0 - bn.eps)
        head.conv3x3[0].weight[:, :, 1, 1] = torch.eye(k)
        head.delta[0].weight.copy_(eye)
        head.rho[0].weight.copy_(eye)
        head.g[0][0].weight[:, k:] = eye
        head.classifier.weight.copy_(eye)
    return head


def test_gt_ocr_is_perfect_by_construction_where_the_model_alone_is_not():
    cells = torch.tensor([[0, 0, 1, 1, 1],
                          [0, 0, 1, 2, 2],
                          [0, 1, 1, 2, 2],
                          [1, 1, 1, 2, IGNORE_INDEX]])
    features = torch.nn.functional.one_hot(cells.clamp(max=2), 3).permute(2, 0, 1)[None].float()
    head = oracle_head(3)
    with torch.no_grad():
        own = head.trace(features)
    size = tuple(cells.shape)
    own_iou = iv.image_iou(iv.prediction(own, size)[0], cells, 3)[1]
    gt = iv.gt_ocr(head, own, cells, relation="gt")
    iou, miou = iv.image_iou(iv.prediction(gt, size)[0], cells, 3)
    assert own_iou < 0.5 and miou == 1.0 and np.all(iou == 1.0)
    # with the model's relation (uniform here) every pixel still gets the same context: one label everywhere
    assert iv.prediction(iv.gt_ocr(head, own, cells, relation="model"), size).unique().numel() == 1
    with pytest.raises(ValueError):
        iv.gt_ocr(head, own, cells, relation="oracle")


def test_image_iou_skips_ignored_pixels_and_absent_classes():
    labels = np.array([[0, 0, 1, IGNORE_INDEX]])
    pred = np.array([[0, 1, 1, 2]])
    iou, miou = iv.image_iou(pred, labels, num_classes=4)
    np.testing.assert_allclose(iou[:2], [0.5, 0.5])
    assert np.isnan(iou[2]) and np.isnan(iou[3])  # class 2 is predicted only on an ignored pixel
    assert miou == 0.5
    assert iv.image_iou(torch.tensor(pred), torch.tensor(labels), 4)[1] == 0.5


def test_gt_ocr_raises_the_iou_of_a_camvid_test_image(camvid_root):
    """The paper's GT-OCR (ground-truth regions and relation) beats the model's own prediction,
    at the input size the app and the model card use (480x360 images run at 640x480)."""
    import ocr_viz
    from ocr_viz.data.datasets import camvid_pairs, read_pair
    from ocr_viz.training.evaluate import image_tensor, resized

    model, meta = ocr_viz.load_model("ocr", device="cpu")
    k, own, gt = len(meta["classes"]), [], []
    pairs = camvid_pairs(camvid_root, "test")
    for index in (0, 10, 100):
        image, labels = read_pair(*pairs[index])
        trace = model.trace(resized(image_tensor(image, torch.device("cpu")), 4 / 3))
        own.append(iv.image_iou(iv.prediction(trace, labels.shape)[0], labels, k)[1])
        gt.append(iv.image_iou(iv.prediction(iv.gt_ocr(model.head, trace, labels), labels.shape)[0], labels, k)[1])
    assert np.mean(gt) > np.mean(own) + 0.01, f"GT-OCR mIoU {gt} vs the model's own {own}"
