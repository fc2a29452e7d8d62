"""The Streamlit app, driven by AppTest with the real model on the sample images: every page
renders, choosing a class or a pixel changes what is shown without rerunning the network,
and the query parameters restore the view."""
import json

import pytest
import math

from app_helpers import PAGES, STAGE_PAGES, chosen_pixel, figure_titles, grid, open_page, problems, start

from ocr_viz.app import model_choice, session
from ocr_viz.data.classes import CAMVID_CLASSES, CAMVID_PALETTE
from ocr_viz.model import build, checkpoints
from ocr_viz.teaching import explain


@pytest.fixture
def app():
    """A fresh app session per test (under a second: the model and traces are cached per process),
    so no test depends on what another left in the session state, in any order."""
    return start()


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders(app, page):
    open_page(app, page)
    assert problems(app) == []
    assert app.title, f"{page} has no title"
    if page in STAGE_PAGES:
        stage = explain.STAGE_BY_KEY[page]
        assert app.title[0].value.startswith(stage.title)
        # the stage's equations come first (the relation and context pages then work one pixel through)
        shown = [e.value for e in app.get("latex")][:len(stage.equations)]
        assert [e.latex in s for e, s in zip(stage.equations, shown)] == [True] * len(stage.equations)
        codes = [c.value for c in app.code]
        for name in stage.sources:
            assert explain.source(explain.resolve(name)).strip() in codes, f"{page} does not show the source of {name}"
        assert "Tensor shapes in this run" in " ".join(c.value for c in app.caption)


def test_home_shows_the_pipeline_with_this_runs_shapes(app):
    open_page(app, "home")
    dot = app.get("graphviz_chart")[0].proto.spec
    arrays = app.session_state[session.CURRENT].arrays
    h, w = arrays.grid
    height, width = arrays.image.shape[:2]  # the model's input: the feature maps are 8 times smaller
    assert (h, w) == (math.ceil(height / 8), math.ceil(width / 8))
    x_shape, w_shape = (1, len(arrays.x), h, w), (1, h * w, len(arrays.w))  # (b, c, h, w) and (b, hw, K)
    assert explain.shape_text(x_shape) in dot and explain.shape_text(w_shape) in dot
    assert app.session_state[session.CURRENT].meta["trained"] is True  # the shipped weights, as the sidebar says
    assert "trained weights" in app.sidebar.success[0].value and not app.sidebar.warning


def test_equations_are_numbered_as_in_the_paper(app):
    for page, numbers in {"objects": ["(4)"], "relation": ["(5)"], "context": ["(3)", "(6)"]}.items():
        open_page(app, page)
        shown = " ".join(e.proto.body for e in app.get("latex"))
        assert all(n in shown for n in numbers), page


def test_choosing_a_class_and_a_pixel_changes_the_relation_page(app):
    open_page(app, "relation")
    before = figure_titles(app)
    h, w = grid(app)
    assert chosen_pixel(app) == (h // 2, w // 2)  # the default: the centre of the map
    assert "region k = Road" in before[0] and f"(row {h // 2}, col {w // 2})" in before[1]
    app.selectbox(key="widget." + session.CLASS).set_value(8).run()  # Car
    app.number_input(key="widget." + session.ROW).set_value(5).run()
    app.number_input(key="widget." + session.COL).set_value(7).run()
    after = figure_titles(app)
    assert problems(app) == []
    assert "region k = Car" in after[0] and f"pixel i = {5 * w + 7} (row 5, col 7)" in after[1]  # row-major i
    assert app.query_params["class"] == "Car" and app.query_params["pixel"] == "5,7"
    # the class persists across pages
    open_page(app, "regions")
    assert any("for Car" in t for t in figure_titles(app))


def test_choices_do_not_rerun_the_network(app, monkeypatch):

    def fail(*args, **kwargs):
        raise AssertionError("the network ran again")

    monkeypatch.setattr("ocr_viz.model.arrays.run", fail)
    open_page(app, "relation")
    app.selectbox(key="widget." + session.CLASS).set_value(5).run()
    app.number_input(key="widget." + session.ROW).set_value(12).run()
    assert problems(app) == []
    titles = figure_titles(app)
    assert "region k = Tree" in titles[0] and f"(row 12, col {grid(app)[1] // 2})" in titles[1]  # they took effect


def test_query_params_restore_the_view():
    at = start({"image": "sample:home.jpg", "class": "Sky", "pixel": "4,9"})
    open_page(at, "relation")
    titles = figure_titles(at)
    assert problems(at) == []
    assert "region k = Sky" in titles[0] and "(row 4, col 9)" in titles[1]
    assert at.query_params == {"image": "sample:home.jpg", "class": "Sky", "pixel": "4,9", "model": "ocr"}
    assert "home" in at.caption[0].value  # the page names its image


def test_a_link_to_an_unknown_image_or_class_falls_back_to_the_defaults():
    at = start({"image": "sample:../../etc/passwd", "class": "Unicorn", "pixel": "9999,-3"})
    assert problems(at) == []
    assert at.query_params["image"] == session.DEFAULT_IMAGE and at.query_params["class"] == "Sky"
    row, col = at.query_params["pixel"].split(",")
    h, w = grid(at)
    assert (int(row), int(col)) == (h // 2, w // 2)  # a pixel off the map: the default, the centre


def test_dataset_images_come_with_ground_truth(camvid_root, monkeypatch):
    monkeypatch.setenv("OCR_VIZ_DATA", str(camvid_root))
    from ocr_viz.app import gallery

    key = gallery.dataset_images()[0].key
    at = start({"image": key})
    open_page(at, "segmentation")
    assert problems(at) == []
    assert any("ground truth" in t for t in figure_titles(at))
    assert any("pixel accuracy" in m.value for m in at.markdown)


def uploaded_checkpoint(head: str, tmp_path) -> bytes:
    """A valid checkpoint file (fp16) of an untrained model with the shipped architecture."""
    path = tmp_path / f"{head}.safetensors"
    meta = {"name": f"test-{head}", "arch": build.arch_for(head), "trained": False,
            "classes": list(CAMVID_CLASSES), "palette": [list(c) for c in CAMVID_PALETTE]}
    checkpoints.save(build.build(meta["arch"]).eval(), path, meta, half=True)
    return path.read_bytes()


def test_an_invalid_checkpoint_is_refused_and_a_valid_one_used(tmp_path):
    at = start()
    at.radio(key="widget." + session.MODEL).set_value(session.UPLOAD).run()
    at.file_uploader(key=session.UPLOADED_MODEL).upload("weights.safetensors", b"\x00" * 64 + b"not a checkpoint").run()
    assert any("was refused" in e.value for e in at.error) and not at.exception
    assert "shipped" in at.session_state[session.CURRENT].model_key  # fell back, still working
    at.file_uploader(key=session.UPLOADED_MODEL).upload("mine.safetensors", uploaded_checkpoint("ocr", tmp_path)).run()
    assert problems(at) == []
    assert at.session_state[session.CURRENT].meta["name"] == "test-ocr"
    # an uploaded model cannot travel in a link; the link names it, so its opener is told (test_provenance)
    assert at.query_params["model"].startswith("upload:mine.safetensors@")


def test_a_non_ocr_checkpoint_shows_its_segmentation_and_explains_the_rest(tmp_path):
    at = start()
    at.radio(key="widget." + session.MODEL).set_value(session.UPLOAD).run()
    at.file_uploader(key=session.UPLOADED_MODEL).upload("fcn.safetensors", uploaded_checkpoint("fcn", tmp_path)).run()
    open_page(at, "relation")
    assert problems(at) == [] and "the loaded model's head is `fcn`" in at.warning[0].value
    open_page(at, "segmentation")
    assert problems(at) == [] and figure_titles(at)


def test_figures_download_as_svg_when_chosen(app):
    open_page(app, "objects")
    app.sidebar.selectbox(key=session.FIGURE_FORMAT).set_value("svg").run()
    configs = [json.loads(c.proto.config) for c in app.get("plotly_chart")]
    assert configs and all(c["toImageButtonOptions"]["format"] == "svg" for c in configs)


def test_the_shipped_model_at_the_papers_widths_runs_the_stages_and_compare_says_what_it_compares():
    """The second shipped OCR model (mid 512 / key 256 channels) is one sidebar choice away; its
    traces are its own, and the comparison page says its heads belong to the default model."""
    at = start()
    open_page(at, "relation")
    choice = f"{session.SHIPPED}:ocr_paper_widths"
    at.radio(key="widget." + session.MODEL).set_value(choice).run()
    assert problems(at) == []
    assert any("ocr_paper_widths" in c.value for c in at.sidebar.caption)
    current = at.session_state[session.CURRENT]
    assert current.arrays.x.shape[0] == 512 and current.meta["arch"]["head_kwargs"]["key_channels"] == 256
    open_page(at, "relation_truth")  # its own test-set analysis, found by its weights' digest
    assert problems(at) == [] and any("entropy of $w_i$ is 1.94 nats" in m.value for m in at.markdown)
    open_page(at, "compare")
    assert problems(at) == [] and any("not the model chosen in the sidebar" in i.value for i in at.info)


# ---- the model in the link -----------------------------------------------------------------------

@pytest.fixture
def converted_folder(tmp_path, monkeypatch):
    """A models folder with one converted checkpoint (a tiny OCR model with CamVid's classes)."""
    from conftest import tiny_arch

    meta = {"name": "tiny-converted", "arch": tiny_arch("ocr"), "trained": False,
            "classes": list(CAMVID_CLASSES), "palette": [list(c) for c in CAMVID_PALETTE]}
    checkpoints.save(build.build(meta["arch"]).eval(), tmp_path / "tiny.safetensors", meta)
    monkeypatch.setenv("OCR_VIZ_MODELS", str(tmp_path))
    return tmp_path


def test_every_model_choice_travels_in_the_link_and_back(converted_folder):
    """Choose each model the sidebar offers (but an upload): the link names it, and a new session
    opened with that link's parameters loads the same model on the same image and pixel."""
    at = start()
    choices = [c for c in model_choice.model_choices() if c != session.UPLOAD]
    assert {session.SHIPPED, f"{session.SHIPPED}:ocr_paper_widths", "models:tiny.safetensors"} <= set(choices)
    names = set()
    for choice in choices:
        at.radio(key="widget." + session.MODEL).set_value(choice).run()
        assert problems(at) == []
        chosen = at.session_state[session.CURRENT]
        link = dict(at.query_params)
        names.add(link["model"])
        again = start(link)
        assert problems(again) == []
        reopened = again.session_state[session.CURRENT]
        assert again.session_state[session.MODEL] == choice
        assert reopened.meta["name"] == chosen.meta["name"] and reopened.model_key == chosen.model_key
        assert dict(again.query_params) == link
    assert len(names) == len(choices)  # each choice has its own name in the link
    assert {"ocr", "ocr_paper_widths"} <= names


def test_a_link_to_a_model_this_server_lacks_opens_the_default_and_says_so():
    at = start({"model": "hrnet_ocr_cs_8162_torch11", "class": "Car"})
    assert problems(at) == []
    assert at.session_state[session.MODEL] == session.SHIPPED
    assert at.session_state[session.CURRENT].meta["name"] == "ocr"
    notices = [w.value for w in at.sidebar.warning] + [t.value for t in at.toast]
    assert any("hrnet_ocr_cs_8162_torch11" in n and "not available" in n for n in notices), notices
    assert at.query_params["model"] == "ocr" and at.query_params["class"] == "Car"


# ---- ground truth only for a model of the image's classes ----------------------------------------

def five_class_checkpoint(tmp_path) -> bytes:
    from conftest import tiny_arch

    arch = tiny_arch() | {"num_classes": 5}
    meta = {"name": "five-classes", "arch": arch, "trained": False, "classes": ["road", "wall", "sky", "tree", "person"],
            "palette": [[128, 64, 128], [102, 102, 156], [70, 130, 180], [107, 142, 35], [220, 20, 60]]}
    path = tmp_path / "five.safetensors"
    checkpoints.save(build.build(arch).eval(), path, meta)
    return path.read_bytes()


def test_a_model_of_other_classes_gets_no_ground_truth_and_is_told_why(tmp_path):
    at = start()  # the default image is a CamVid frame with its label map
    at.radio(key="widget." + session.MODEL).set_value(session.UPLOAD).run()
    at.file_uploader(key=session.UPLOADED_MODEL).upload("five.safetensors", five_class_checkpoint(tmp_path)).run()
    for page in ("segmentation", "context", "relation", "lecture", "home"):
        open_page(at, page)
        assert problems(at) == [], page
    open_page(at, "segmentation")
    assert at.session_state[session.CURRENT].truth is None
    assert not any("ground truth" in t for t in figure_titles(at))
    assert not any("pixel accuracy" in m.value for m in at.markdown)
    assert any("5 classes" in i.value and "CamVid" in i.value for i in at.info)
