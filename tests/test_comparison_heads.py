"""The context heads the app compares with OCR: shapes, gradients, traces, attention rows, chunking."""
import pytest
import torch
from einops import einsum, rearrange

from ocr_viz.model.heads import aspp, attention, base_oc, nonlocal_
from ocr_viz.model.heads.aspp import ASPPHead, branch_contributions, sampling_offsets
from ocr_viz.model.heads.base_oc import BaseOCHead
from ocr_viz.model.heads.fcn import FCNHead
from ocr_viz.model.heads.nonlocal_ import NonLocalHead

C_IN, K = 16, 5
HEADS = {
    "fcn": lambda: FCNHead(C_IN, K, mid_channels=8),
    "aspp": lambda: ASPPHead(C_IN, K, mid_channels=8),
    "aspp_small_rates": lambda: ASPPHead(C_IN, K, mid_channels=8, rates=(1, 2, 3)),
    "nonlocal": lambda: NonLocalHead(C_IN, K, mid_channels=8),
    "nonlocal_scaled": lambda: NonLocalHead(C_IN, K, mid_channels=8, use_scale=True),
    "base_oc": lambda: BaseOCHead(C_IN, K, mid_channels=8, key_channels=4),
}


def wake(head: torch.nn.Module) -> torch.nn.Module:
    """Undo the zero inits (non-local W_z's BN, base-OC's W) so the attention reaches the logits."""
    for name, p in head.named_parameters():
        if name.startswith(("W_z.1.weight", "W.")):
            torch.nn.init.normal_(p)
    return head


@pytest.fixture(autouse=True)
def seed():
    torch.manual_seed(0)


@pytest.mark.parametrize("name", HEADS)
@pytest.mark.parametrize("size", [(9, 13), (5, 5)])
def test_output_shape(name, size):
    logits, aux = HEADS[name]()(torch.randn(2, C_IN, *size))
    assert logits.shape == (2, K, *size)
    assert aux is None


@pytest.mark.parametrize("name", HEADS)
def test_gradients_reach_input(name):
    x = torch.randn(2, C_IN, 9, 13, requires_grad=True)
    wake(HEADS[name]())(x)[0].square().mean().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


@pytest.mark.parametrize("name, module", [("nonlocal", nonlocal_), ("nonlocal_scaled", nonlocal_), ("base_oc", base_oc)])
def test_attention_heads_equal_their_naive_full_matrix_form(name, module, monkeypatch):
    """The chunked attention inside each head against softmax(scale q k^T) v written out whole."""
    head = wake(HEADS[name]()).eval()
    x = torch.randn(2, C_IN, 9, 13)
    with torch.no_grad():
        ours = head(x)[0]
        monkeypatch.setattr(module, "attend", lambda q, k, v, scale: torch.softmax(scale * q @ k.transpose(1, 2), -1) @ v)
        naive = head(x)[0]
    assert ours.std() > 0.1  # the woken attention reaches the logits
    torch.testing.assert_close(ours, naive, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize(
    "make, module, fields",
    [
        (lambda: NonLocalHead(C_IN, K, mid_channels=8), nonlocal_, ("theta", "phi")),
        (lambda: NonLocalHead(C_IN, K, mid_channels=8, use_scale=True), nonlocal_, ("theta", "phi")),
        (lambda: BaseOCHead(C_IN, K, mid_channels=8, key_channels=4), base_oc, ("query", "key")),
    ],
)
def test_attention_row_matches_full_matrix(make, module, fields):
    head = make().eval()
    with torch.no_grad():
        t = head.trace(torch.randn(2, C_IN, 9, 13))
    q, k = (getattr(t, f) for f in fields)
    scale = t.scale if module is nonlocal_ else q.shape[-1] ** -0.5
    full = torch.softmax(scale * q @ k.transpose(1, 2), dim=-1)  # naive (b, n, n)
    for index in (0, 17, 9 * 13 - 1):
        row = module.attention_row(t, index)
        assert row.shape == (2, 9 * 13)
        torch.testing.assert_close(row, full[:, index], atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(row.sum(-1), torch.ones(2))


def test_trace_keeps_no_n_by_n_matrix():
    n = 9 * 13
    for head in (NonLocalHead(C_IN, K, mid_channels=8), BaseOCHead(C_IN, K, mid_channels=8, key_channels=4)):
        t = head.trace(torch.randn(1, C_IN, 9, 13))
        for value in vars(t).values():
            assert not (torch.is_tensor(value) and value.shape[-2:] == (n, n))


@pytest.mark.parametrize("requires_grad", [False, True])
def test_chunked_attention_equals_unchunked(monkeypatch, requires_grad):
    q, k, v = (torch.randn(2, 45, 6, requires_grad=requires_grad) for _ in range(3))
    whole = attention._attend_rows(q, k, v, 0.5)
    monkeypatch.setattr(attention, "CHUNK_FLOATS", 2 * 45 * 7)  # 7 query rows per chunk, last one short
    chunked = attention.attend(q, k, v, 0.5)
    torch.testing.assert_close(chunked, whole, atol=1e-5, rtol=1e-5)
    if requires_grad:
        g = torch.randn_like(whole)
        grads_whole = torch.autograd.grad(whole, (q, k, v), g)
        grads_chunked = torch.autograd.grad(chunked, (q, k, v), g)
        for a, b in zip(grads_chunked, grads_whole):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("make", [lambda: NonLocalHead(C_IN, K, mid_channels=8), lambda: BaseOCHead(C_IN, K, 8, 4)])
def test_chunked_head_equals_unchunked(monkeypatch, make):
    head = wake(make()).eval()
    x = torch.randn(2, C_IN, 9, 13)
    with torch.no_grad():
        whole = head(x)[0]
        monkeypatch.setattr(attention, "CHUNK_FLOATS", 2 * 9 * 13 * 10)
        torch.testing.assert_close(head(x)[0], whole, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("make", [lambda: NonLocalHead(C_IN, K, mid_channels=8), lambda: BaseOCHead(C_IN, K, 8, 4)])
def test_too_many_pixels_refused(make):
    limit = attention.MAX_PIXELS
    too_big = torch.empty(1, C_IN, 128, 128 + 1)  # refused before any convolution runs
    with pytest.raises(ValueError, match=str(limit)):
        make()(too_big)
    with pytest.raises(ValueError, match=str(limit)):
        attention.attend(*(torch.zeros(1, limit + 1, 1) for _ in range(3)))


def test_aspp_branch_terms_sum_to_projection():
    head = ASPPHead(C_IN, K, mid_channels=8, rates=(1, 2, 3))
    t = head.trace(torch.randn(2, C_IN, 9, 13))
    assert t.branches.shape == (2, 5, 8, 9, 13) and t.rates == (1, 2, 3)
    torch.testing.assert_close(t.terms.sum(dim=1), head.project[0](t.concat), atol=1e-5, rtol=1e-5)
    W = head.project[0].weight[:, 8:16, 0, 0]  # the rate-1 branch's slice
    torch.testing.assert_close(t.terms[:, 1], einsum(W, t.branches[:, 1], "o c, b c h w -> b o h w"))


def test_aspp_branch_contributions():
    t_head = ASPPHead(C_IN, K, mid_channels=8)
    t = t_head.trace(torch.randn(2, C_IN, 9, 13))
    share = branch_contributions(t)
    assert share.shape == (2, 5, 9, 13)
    W = t_head.project[0].weight[:, :, 0, 0]  # (o, 5 * 8): branch r's slice is columns 8r..8r+7
    for r in range(5):  # ||W_r a_r|| per pixel, the branch's term written out
        term = einsum(W[:, 8 * r:8 * (r + 1)], t.branches[:, r], "o c, b c h w -> b o h w")
        torch.testing.assert_close(share[:, r], term.square().sum(1).sqrt(), atol=1e-5, rtol=1e-4)
    pooled = share[:, -1]  # image pooling is the same vector everywhere
    torch.testing.assert_close(pooled, pooled[:, :1, :1].expand_as(pooled))
    assert torch.equal(rearrange(t.concat, "b (r c) h w -> b r c h w", r=5), t.branches)


def test_aspp_pool_branch_broadcast():
    head = ASPPHead(C_IN, K, mid_channels=8)
    t = head.trace(torch.randn(2, C_IN, 5, 5))
    assert torch.equal(t.branches[:, -1], t.branches[:, -1, :, :1, :1].expand(-1, -1, 5, 5))


def test_sampling_offsets():
    offsets = sampling_offsets(12)
    assert len(offsets) == 9 and offsets[0] == (-12, -12) and offsets[4] == (0, 0) and offsets[-1] == (12, 12)
    assert sampling_offsets(2, kernel=5)[:2] == [(-4, -4), (-4, -2)]
    assert aspp.sampling_offsets(1) == [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
