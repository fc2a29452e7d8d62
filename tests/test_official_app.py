"""A converted release in the models folder (OCR_VIZ_MODELS) is offered in the sidebar, and every
stage page, the lecture, interventions and export run on it (19 Cityscapes classes, HRNet at stride 4)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from app_helpers import open_page, problems, start
import ocr_viz.convert

W18S = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "hrnet_ocr" / "hrnet_ocr_w18s_seed0.pth"
# skipped without ../shared, unless OCR_VIZ_REQUIRE_DATA=1 (CI) makes a missing fixture fail
pytestmark = pytest.mark.skipif(not W18S.is_file() and os.environ.get("OCR_VIZ_REQUIRE_DATA") != "1",
                                reason="official HRNet-OCR fixture missing")


@pytest.fixture(scope="module")
def models_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    assert ocr_viz.convert.main([str(W18S), "--out", str(folder / "hrnet_w18s_cityscapes.safetensors")]) == 0
    return folder


def test_a_converted_release_runs_on_every_page(models_folder, monkeypatch):
    from ocr_viz.app import session

    monkeypatch.setenv("OCR_VIZ_MODELS", str(models_folder))
    at = start()
    choice = session.CONVERTED + "hrnet_w18s_cityscapes.safetensors"
    radio = at.radio(key="widget." + session.MODEL)
    assert "hrnet_w18s_cityscapes" in radio.options  # its label: the file name
    radio.set_value(choice).run()
    assert not problems(at), problems(at)
    current = at.session_state[session.CURRENT]
    assert current.meta["dataset"] == "cityscapes" and len(current.classes) == 19
    assert current.model_key.startswith(choice)
    for page in ("pixels", "regions", "objects", "relation", "context", "segmentation", "lecture",
                 "interventions", "export", "about"):
        open_page(at, page)
        assert not problems(at), (page, problems(at))


def test_an_uploaded_release_is_converted_and_a_pickle_payload_refused(tmp_path):
    import pickle

    from ocr_viz.app import session

    class Payload:
        def __reduce__(self):
            return (Path.touch, (tmp_path / "payload-ran",))

    at = start()
    at.radio(key="widget." + session.MODEL).set_value(session.UPLOAD).run()
    at.file_uploader(key=session.UPLOADED_MODEL).upload("evil.pth", pickle.dumps({"w": Payload()})).run()
    assert any("was refused" in e.value and "weights_only" in e.value for e in at.error) and not at.exception
    assert not (tmp_path / "payload-ran").exists()
    assert "shipped" in at.session_state[session.CURRENT].model_key  # fell back, still working
    at.file_uploader(key=session.UPLOADED_MODEL).upload(W18S.name, W18S.read_bytes()).run()
    assert problems(at) == []
    meta = at.session_state[session.CURRENT].meta
    assert meta["source"]["layout"] == "hrnet-ocr" and meta["source"]["file"] == W18S.name and len(meta["classes"]) == 19
