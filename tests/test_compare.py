"""The head comparison (ocr_viz.analysis.compare), the cost report (ocr_viz.cost.report), and their pages,
the Compare and Complexity pages, driven by AppTest with the shipped models."""
import dataclasses
import json

import numpy as np
import pytest
import torch
from app_helpers import chosen_pixel, figure_titles, open_page, problems, start
from conftest import SAMPLES, assert_structured, structured_model, tiny_arch
from PIL import Image

from ocr_viz.analysis import compare
from ocr_viz.app import model_choice, session
from ocr_viz.cost import bench, complexity, report as cost_report
from ocr_viz.model import build
from ocr_viz.model.heads import attention
from ocr_viz.model.images import preprocess
from ocr_viz.training import results

# ---- the library, with tiny heads on one ImageNet backbone ------------------------------------


@pytest.fixture(scope="module")
def tiny_models():
    """The seven heads at tiny widths with trained-looking BatchNorm statistics, on the same ImageNet backbone."""
    built = {name: structured_model(name) for name in compare.HEADS}
    return {name: (model, {"arch": tiny_arch(name), "trained": False}) for name, model in built.items()}


@pytest.fixture(scope="module")
def image():
    return Image.open(SAMPLES / "leuvenA.jpg").convert("RGB").resize((160, 120))


@pytest.fixture(scope="module")
def tiny_comparison(tiny_models, image):
    comparison = compare.run_all(tiny_models, image)
    for name in ("fcn", "ocr"):  # labels vary across the image: a misplaced pixel would show
        assert len(np.unique(comparison.runs[name].arrays.pred)) >= 3, name
    return comparison


def test_heads_share_one_backbone_run_and_match_their_own_trace(tiny_models, tiny_comparison, image):
    assert tiny_comparison.backbone_runs == 1 and list(tiny_comparison.runs) == list(compare.HEADS)
    images = preprocess(image)
    for name in compare.HEADS:
        own = tiny_models[name][0].trace(images)
        if name == "ocr":
            assert_structured(own)
        logits = tiny_comparison.runs[name].arrays.logits
        spread = float(logits.std())  # the logits vary by units across pixels and classes
        assert spread > 0.5, name
        np.testing.assert_allclose(logits, own.logits[0].numpy(), atol=1e-4 * spread, rtol=1e-4, err_msg=name)
        assert np.array_equal(tiny_comparison.runs[name].arrays.pred, own.pred[0].numpy()), name


def test_a_different_backbone_runs_separately(tiny_models):
    other = build.build(tiny_arch("fcn")).eval()
    with torch.no_grad():
        next(other.backbone.parameters()).add_(1.0)
    groups = compare.backbone_groups({"a": tiny_models["ocr"][0], "b": other, "c": tiny_models["fcn"][0]})
    assert groups == [["a", "c"], ["b"]]


def test_attention_rows_and_ocrs_pixel_attention_are_distributions(tiny_comparison):
    pixel = (3, 5)
    for name in ("nonlocal", "baseoc"):
        run = tiny_comparison.runs[name]
        h, w = run.arrays.grid
        assert h != w  # not square: a transposed index lands on another pixel
        row = compare.attention_map(run, pixel)
        q, k = (run.head_trace.theta, run.head_trace.phi) if name == "nonlocal" else (run.head_trace.query,) * 2
        scale = run.head_trace.scale if name == "nonlocal" else q.shape[-1] ** -0.5
        full = attention.attention_weights(q, k, scale)[0].numpy()  # tiny: the whole n x n matrix is fine
        i = 3 * w + 5  # row-major, written out here rather than taken from compare.flat_index
        assert compare.flat_index(pixel, (h, w)) == i
        assert row.shape == (h, w) and row.sum() == pytest.approx(1, abs=1e-5)
        np.testing.assert_allclose(row.ravel(), full[i], atol=1e-6, rtol=1e-4)
        # the rows differ between pixels, so a wrong index (the neighbour, the transposed one) would show
        for other in (i + 1, 5 * w + 3):
            assert np.abs(full[other] - full[i]).max() > 10 * 1e-6 + 1e-4 * full[i].max(), (name, other)
    arrays = tiny_comparison.runs["ocr"].arrays
    a = compare.ocr_pixel_attention(arrays, pixel)
    expected = sum(arrays.w[k, 3, 5] * arrays.m_tilde[k] for k in range(len(arrays.w)))  # sum_k w_ik m~_k
    assert a.sum() == pytest.approx(1, abs=1e-5)
    np.testing.assert_allclose(a, expected, atol=1e-7, rtol=1e-5)
    transposed = sum(arrays.w[k, 5, 3] * arrays.m_tilde[k] for k in range(len(arrays.w)))
    assert np.abs(transposed - expected).max() > 1e-3 * expected.max()
    assert compare.effective_pixels(np.full((4, 5), 1 / 20)) == pytest.approx(20)
    peaked = np.zeros((4, 5))
    peaked[1, 2] = 1.0
    assert compare.effective_pixels(peaked) == pytest.approx(1)


def test_aspp_taps_outside_the_map_are_marked(tiny_comparison):
    run = tiny_comparison.runs["aspp"]
    taps = compare.aspp_taps(run.rates, (0, 0), (60, 80))
    assert [t.branch for t in taps] == ["1x1", "3x3, rate 12", "3x3, rate 24", "3x3, rate 36"]
    assert taps[0].inside.all() and [int(t.inside.sum()) for t in taps[1:]] == [4, 4, 4]  # the down-right quarter
    assert len(compare.branch_names(run.rates)) == len(run.rates) + 2


def test_aspp_shares_are_read_at_the_clicked_pixel(tiny_models, tiny_comparison, image):
    """||W_r a_r|| at pixel (2, 5), written out from the projection's weights and the branch outputs
    (row 2, column 5: a transposed or shifted read lands on another cell, whose shares differ)."""
    model = tiny_models["aspp"][0]
    branches = model.trace(preprocess(image)).head.branches[0].numpy()  # (r, c, h, w)
    weight = model.head.project[0].weight[:, :, 0, 0].detach().numpy()  # (o, r*c)
    r, c = branches.shape[:2]
    assert branches.shape[2] != branches.shape[3]

    def by_hand(row, col):
        return np.array([np.linalg.norm(weight[:, b * c:(b + 1) * c] @ branches[b, :, row, col]) for b in range(r)])

    run = tiny_comparison.runs["aspp"]
    expected = by_hand(2, 5)
    np.testing.assert_allclose(compare.aspp_contributions(run, (2, 5)), expected, rtol=1e-4, atol=1e-6 * expected.max())
    for other in ((5, 2), (2, 6), (3, 5)):
        assert np.abs(by_hand(*other)[:-1] - expected[:-1]).max() > 1e-3 * expected.max(), other  # pooling is the same everywhere


def test_attention_heads_refuse_too_many_pixels_without_failing_the_rest(tiny_models, image, monkeypatch):
    monkeypatch.setattr(attention, "MAX_PIXELS", 100)
    refused = compare.run_all({name: tiny_models[name] for name in ("fcn", "nonlocal", "baseoc")}, image)
    assert [r.name for r in refused.ran] == ["fcn"]
    assert "exceeds MAX_PIXELS = 100" in refused.runs["nonlocal"].refused and refused.runs["baseoc"].refused
    assert compare.distinct_labels(refused).shape == refused.grid


def hand_miou(pred: np.ndarray, truth: np.ndarray, num_classes: int) -> float:
    """mIoU over the classes present in the prediction or the truth, written out for the test."""
    ious = []
    for c in range(num_classes):
        p, t = pred == c, truth == c
        if (p | t).any():
            ious.append((p & t).sum() / (p | t).sum())
    return 100 * float(np.mean(ious))


def test_disagreement_and_scores(tiny_comparison):
    cells = np.stack([tiny_comparison.runs[h].labels for h in compare.HEADS])  # per feature-map pixel
    distinct = compare.distinct_labels(tiny_comparison)
    expected = np.array([[len(set(cells[:, r, c])) for c in range(cells.shape[2])] for r in range(cells.shape[1])])
    assert np.array_equal(distinct, expected) and distinct.min() < distinct.max()  # agree here, differ there
    preds = np.stack([tiny_comparison.runs[h].arrays.pred for h in compare.HEADS])  # per input pixel
    ocr = preds[list(compare.HEADS).index("ocr")]
    agreement = compare.agreement(tiny_comparison)
    for h, pred in zip(compare.HEADS, preds):
        assert agreement[h] == pytest.approx((pred == ocr).mean(), abs=1e-12), h
    assert min(agreement.values()) < 0.9  # not trivially 1: the tiny heads predict differently
    truth = preds[list(compare.HEADS).index("fcn")].copy()
    truth[:10] = 11  # an ignored band: those pixels count for no class
    rows = {r["head"]: r for r in compare.image_scores(tiny_comparison, truth, [str(k) for k in range(11)])}
    keep = truth != 11
    for h, pred in zip(compare.HEADS, preds):
        assert rows[compare.TITLES[h]]["mIoU"] == pytest.approx(hand_miou(pred[keep], truth[keep], 11), abs=0.051), h
    assert rows[compare.TITLES["fcn"]]["mIoU"] == 100.0 and rows[compare.TITLES["ocr"]]["mIoU"] < 90


# ---- the cost report -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bench_reports(tmp_path_factory):
    """Complexity and scaling JSON as the bench writes them (--quick: tiny sizes)."""
    folder = tmp_path_factory.mktemp("bench")
    bench.main(["complexity", "--quick", "--threads", "1", "--json", str(folder / "complexity.json")])
    bench.main(["scaling", "--quick", "--threads", "1", "--json", str(folder / "scaling.json")])
    return folder


def ocr_flops_by_hand(C: int, c: int, d: int, K: int, n: int) -> int:
    """The OCR head's matrix-product FLOPs without its aux head (2 per multiply-add), term by term:
    per pixel the 3x3 conv C->c, Eq. 4's m~ x (K c), phi (c d + d d), kappa (K d), Eq. 3's sum (K d),
    rho (d c), g on [x; y] (2c c), the classifier (c K); per region psi (c d + d d) and delta (c d)."""
    per_pixel = 9 * C * c + K * c + (c * d + d * d) + K * d + K * d + d * c + 2 * c * c + c * K
    return 2 * (n * per_pixel + K * ((c * d + d * d) + c * d))


def test_cost_rows_read_the_bench_reports(bench_reports):
    report = cost_report.read_report(bench_reports / "complexity.json")
    assert report["run"]["quick"] and "--quick" in cost_report.provenance(report)
    rows = cost_report.measured_rows(report["app"])
    assert [r["head"] for r in rows] == list(cost_report.HEADS)
    flops = {c["head"]: c["flops"] for c in report["app"]["heads"]}
    for r in rows:  # each head's FLOPs divided by OCR's, from the measured counts
        assert r["FLOPs / OCR"] == pytest.approx(flops[r["head"]] / flops["ocr"], abs=0.006), r["head"]
        assert r["GFLOPs"] == pytest.approx(flops[r["head"]] / 1e9, abs=0.051), r["head"]
    assert len({r["FLOPs / OCR"] for r in rows}) == len(rows)  # distinct: a wrong denominator or row would show
    paper = {r["head"]: r for r in cost_report.paper_rows(report)}
    assert {h: paper[h]["paper row"] for h in ("ocr", "aspp", "baseoc", "fcn")} == {
        "ocr": "OCR", "aspp": "ASPP", "baseoc": "Self-Attention", "fcn": "-"}
    # counted at the paper's setting (2048 x 128 x 128 in, mid 512, key 256, 19 classes), by hand: 338.1,
    # the paper's 340; the app's quick setting (472 x 15 x 20 in, mid 256, key 128, 11 classes) likewise
    assert paper["ocr"]["GFLOPs*"] == round(ocr_flops_by_hand(2048, 512, 256, 19, 128 * 128) / 1e9, 1) == 338.1
    app_ocr = next(c for c in report["app"]["heads"] if c["head"] == "ocr")
    assert app_ocr["counted_shape"] == [1, 472, 15, 20] and app_ocr["widths"]["key_channels"] == 128
    assert app_ocr["flops_paper"] == ocr_flops_by_hand(472, 256, 128, 11, 15 * 20)
    assert paper["fcn"]["paper GFLOPs"] is None
    ratios = {r["head"]: r for r in cost_report.paper_ratio_rows(report)}
    at_paper = {c["head"]: c["flops_paper"] for c in report["paper"]["heads"]}
    assert ratios["baseoc"]["FLOPs / OCR: ours"] == pytest.approx(at_paper["baseoc"] / at_paper["ocr"], abs=0.006)
    assert ratios["aspp"]["FLOPs / OCR: ours"] == pytest.approx(at_paper["aspp"] / at_paper["ocr"], abs=0.006)
    paper_ocr = complexity.PAPER_TABLE["OCR"]
    for head, row in (("aspp", "ASPP"), ("baseoc", "Self-Attention")):  # the paper's own ratio, from its table
        assert ratios[head]["FLOPs / OCR: paper"] == pytest.approx(
            complexity.PAPER_TABLE[row].gflops / paper_ocr.gflops, abs=0.006), head
    assert ratios["baseoc"]["FLOPs / OCR: paper"] > 1.5 and ratios["fcn"]["FLOPs / OCR: paper"] is None
    scaling = cost_report.read_report(bench_reports / "scaling.json")
    series = cost_report.scaling_series(scaling["points"], "flops")
    assert set(series) == set(cost_report.SCALING_HEADS) and all(len(p) == 3 for p, _ in series.values())
    assert cost_report.read_report(bench_reports / "missing.json") is None


def test_live_flops_show_quadratic_attention_and_linear_ocr():
    live = cost_report.live_flops([32, 45, 64, 91, 128])
    slopes = live["loglog_slopes_last3"]
    assert slopes["nonlocal"]["flops"] > 1.3 and slopes["ocr"]["flops"] == pytest.approx(1, abs=0.05)
    assert [r["head"] for r in live["paper"]] == list(cost_report.HEADS)


# ---- the pages -------------------------------------------------------------------------------


@pytest.fixture
def app():
    """A fresh app session per test (cheap: models and comparisons are cached per process)."""
    return start()


def attention_titles(at) -> list[str]:
    return [t for t in figure_titles(at) if t.startswith(("Non-local,", "base-OC,", "OCR,"))]


def prediction_panels(at) -> list[str]:
    """The panels of the predictions figure (one per head that ran), as 'title<br>caption'."""
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        if spec["layout"].get("title", {}).get("text", "").startswith("each head's prediction"):
            return [a["text"].replace("<sup>", "").replace("</sup>", "") for a in spec["layout"]["annotations"]]
    return []


def heatmap_values(at, title_start: str) -> list:
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        if spec["layout"].get("title", {}).get("text", "").startswith(title_start):
            return next(t["z"] for t in spec["data"] if t["type"] == "heatmap")
    raise AssertionError(f"no figure titled {title_start!r}")


def test_compare_page_shows_every_head(app):
    open_page(app, "compare")
    assert problems(app) == []
    titles = figure_titles(app)
    first_lines = [t.split("<br>")[0] for t in prediction_panels(app)]  # with ground truth, a second line: the IoU
    assert first_lines == [compare.TITLES[h] for h in compare.HEADS]
    assert any(t.startswith("distinct labels per pixel") for t in titles)
    row, col = chosen_pixel(app)
    assert len(attention_titles(app)) == 4  # Non-local, base-OC, OCR's pixel attention, OCR's w_i
    app.segmented_control(key="compare.heads").set_value("aspp").run()  # the per-pixel figures, a group at a time
    assert problems(app) == []
    titles = figure_titles(app)
    assert any(t.startswith("ASPP") and f"({row}, {col})" in t for t in titles)  # ASPP's taps for the chosen pixel
    assert attention_titles(app) == []


def test_choosing_a_pixel_changes_the_attention_without_rerunning_a_network(app, monkeypatch):
    open_page(app, "compare")
    row, col = chosen_pixel(app)
    assert (row, col) != (5, 7)
    before = heatmap_values(app, f"Non-local, pixel ({row}, {col})")
    monkeypatch.setattr(compare, "run_all", lambda *a, **k: pytest.fail("the heads ran again"))
    app.number_input(key="widget." + session.ROW).set_value(5).run()
    app.number_input(key="widget." + session.COL).set_value(7).run()
    assert problems(app) == []
    assert all("pixel (5, 7)" in t for t in attention_titles(app))
    assert heatmap_values(app, "Non-local, pixel (5, 7)") != before
    assert app.query_params["pixel"] == "5,7"  # the shared pixel state, in the URL


def test_accuracy_table_says_not_evaluated_then_shows_the_numbers(app, monkeypatch, tmp_path):
    monkeypatch.setattr(results, "EVAL_DIR", tmp_path)
    open_page(app, "compare")
    assert any("not evaluated" in i.value for i in app.info)
    assert all(t.value.index.name != "model" for t in app.table)  # only this image's table, if any
    per_class = {c: 0.5 for c in app.session_state[session.CURRENT].classes}
    for name, miou in (("fcn", 0.523), ("ocr", 0.617)):
        (tmp_path / f"{name}_test.json").write_text(json.dumps({
            "checkpoint": name, "split": "test", "trained": True, "images": 233, "scale": 1.0, "flip": False,
            "miou": miou, "pixel_accuracy": 0.9, "per_class_iou": per_class, "aux": None}))
    app.run()
    assert problems(app) == [] and not any("not evaluated" in i.value for i in app.info)
    table = app.table[-1].value
    assert list(table.index) == [results.HEAD_TITLES["fcn"], results.HEAD_TITLES["ocr"]]
    assert list(table["mIoU"]) == [52.3, 61.7]
    assert "python -m ocr_viz.evaluate" in " ".join(c.value for c in app.caption)


def test_dataset_images_show_each_heads_iou(camvid_root, monkeypatch):
    monkeypatch.setenv("OCR_VIZ_DATA", str(camvid_root))
    from ocr_viz.app import gallery

    at = start({"image": gallery.dataset_images()[0].key})
    open_page(at, "compare")
    assert problems(at) == []
    assert "ground truth (CamVid)" in figure_titles(at)
    table = at.table[0].value
    assert list(table.index) == [compare.TITLES[h] for h in compare.HEADS]
    current = at.session_state[session.CURRENT]  # the default model is the comparison's OCR head
    keep = current.truth != 11
    assert table.loc["OCR", "mIoU"] == pytest.approx(hand_miou(current.arrays.pred[keep], current.truth[keep], 11), abs=0.051)


def test_a_refused_attention_head_is_explained_not_fatal(app, monkeypatch):
    real = model_choice.comparison

    def refused_nonlocal():
        key, c = real()
        run = compare.HeadRun("nonlocal", c.runs["nonlocal"].meta, refused="attention over 99999 feature pixels "
                              "exceeds MAX_PIXELS")
        return key + "|refused", dataclasses.replace(c, runs={**c.runs, "nonlocal": run})

    monkeypatch.setattr(model_choice, "comparison", refused_nonlocal)
    open_page(app, "compare")
    assert not app.exception
    assert any("Non-local** did not run" in w.value for w in app.warning)
    assert "Non-local" not in [t.split("<br>")[0] for t in prediction_panels(app)] and len(attention_titles(app)) == 3


def test_complexity_page_without_reports_says_how_to_make_them(app, monkeypatch, tmp_path):
    monkeypatch.setattr(cost_report, "COMPLEXITY_JSON", tmp_path / "none.json")
    monkeypatch.setattr(cost_report, "SCALING_JSON", tmp_path / "none2.json")
    open_page(app, "complexity")
    assert problems(app) == []
    assert [c.value for c in app.code] == [cost_report.COMPLEXITY_COMMAND, cost_report.SCALING_COMMAND]
    assert len(app.table) == 1  # the paper's reported table only


def test_complexity_page_shows_the_reports_and_recounts_flops(app, monkeypatch, bench_reports):
    monkeypatch.setattr(cost_report, "COMPLEXITY_JSON", bench_reports / "complexity.json")
    monkeypatch.setattr(cost_report, "SCALING_JSON", bench_reports / "scaling.json")
    open_page(app, "complexity")
    assert problems(app) == []
    assert any("--quick" in w.value for w in app.warning)
    app_table = app.table[0].value
    counted = {c["head"]: c["flops"] for c in json.loads((bench_reports / "complexity.json").read_text())["app"]["heads"]}
    assert list(app_table.index) == list(cost_report.HEADS)
    for head in cost_report.HEADS:  # the bench's raw counts, divided here, are what the page shows
        assert app_table.loc[head, "FLOPs / OCR"] == pytest.approx(counted[head] / counted["ocr"], abs=0.006), head
    assert [t.split("<br>")[0] for t in figure_titles(app)] == list(cost_report.MEASURES.values())
    app.select_slider(key="complexity.largest").set_value(32).run()
    app.button(key="complexity.recount").click().run()
    assert problems(app) == []
    assert any(t.startswith("GFLOPs vs pixels, counted now") for t in figure_titles(app))
