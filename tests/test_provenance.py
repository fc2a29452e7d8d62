"""Provenance, not a guess: the sidebar says what the loaded model is (shipped and trained here with its
test mIoU; converted from a file with its short SHA-256 and, for a known release, the mIoU the release
reports; otherwise that the app cannot tell whether it was trained). Links carry a converted model by
file name and short SHA-256, and restore it only where a file of that name and SHA is; else a notice."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from urllib.parse import parse_qs, urlsplit

from app_helpers import open_page, problems, start

from ocr_viz.app import session
from ocr_viz.app.sidebar import provenance

ROOT = Path(__file__).resolve().parents[1]
W18S = ROOT.parent / "shared" / "fixtures" / "hrnet_ocr" / "hrnet_ocr_w18s_seed0.pth"
NEEDS_FIXTURE = pytest.mark.skipif(not W18S.is_file() and os.environ.get("OCR_VIZ_REQUIRE_DATA") != "1",
                                   reason="official HRNet-OCR fixture missing")
NAME = "w18s_cityscapes.safetensors"


def notices(at) -> list[str]:
    return [w.value for w in at.sidebar.warning] + [t.value for t in at.toast]


def test_the_shipped_model_is_trained_here_with_its_test_miou():
    at = start()
    assert problems(at) == []
    miou = json.loads((ROOT / "assets" / "weights" / "eval" / "ocr_test.json").read_text())["miou"]
    assert "trained weights" in at.sidebar.success[0].value and not at.sidebar.warning
    said = " ".join(c.value for c in at.sidebar.caption)
    assert "**Shipped**" in said and f"test mIoU **{100 * miou:.1f}**" in said


def converted_meta(file: str, sha256: str) -> dict:
    return {"trained": True, "dataset": "cityscapes", "dataset_title": "Cityscapes (19 classes)",
            "source": {"file": file, "sha256": sha256, "layout": "mmseg", "backbone": "HRNetV2 hr18s"}}


def test_a_known_release_reports_its_miou_and_a_renamed_file_is_not_one():
    digest = "55979e63" + "0" * 56
    release = "ocrnet_hr18s_512x1024_80k_cityscapes_20200601_222735-55979e63.pth"
    said = provenance("upload:x:" + release, converted_meta(release, digest))
    assert said.kind == "trained" and "77.16 mIoU" in said.text and "begins with the hash in its name" in said.text
    # the same name on a file whose SHA-256 is not the one mmsegmentation put in the name: not the release
    other = provenance("upload:x:" + release, converted_meta(release, "deadbeef" + "0" * 56))
    assert other.kind == "unknown" and "cannot tell whether its weights were trained" in other.text
    # HRNet-OCR's names carry no hash: recognised by name, and said so
    hrnet = provenance("upload:x:y", converted_meta("hrnet_ocr_cs_8162_torch11.pth", digest))
    assert hrnet.kind == "trained" and "81.6 mIoU" in hrnet.text and "file name only" in hrnet.text
    unknown = provenance("upload:x:y", converted_meta("my_run.pth", digest))
    assert unknown.kind == "unknown" and "Not a known release" in unknown.text
    assert provenance("shipped:ocr:1", {"trained": False}).kind == "untrained"


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> Path:
    import ocr_viz.convert

    folder = tmp_path_factory.mktemp("converted")
    assert ocr_viz.convert.main([str(W18S), "--out", str(folder / NAME)]) == 0
    return folder / NAME


@pytest.fixture
def models_folder(converted, tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "models"
    folder.mkdir()
    shutil.copy(converted, folder / NAME)
    monkeypatch.setenv("OCR_VIZ_MODELS", str(folder))
    return folder


def short_sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:session.SHA_DIGITS]


@NEEDS_FIXTURE
def test_an_unknown_converted_file_is_not_called_trained(models_folder):
    at = start()
    at.radio(key="widget." + session.MODEL).set_value(session.CONVERTED + NAME).run()
    assert problems(at) == []
    assert not at.sidebar.success  # no green "trained weights" for random weights in a release's format
    said = " ".join(notices(at))
    assert "cannot tell whether its weights were trained" in said and "hrnet_ocr_w18s_seed0.pth" in said
    source_sha = hashlib.sha256(W18S.read_bytes()).hexdigest()[:session.SHA_DIGITS]
    assert source_sha in said and short_sha(models_folder / NAME) in said and "hrnet-ocr layout" in said


@NEEDS_FIXTURE
def test_a_link_restores_the_converted_file_by_name_and_sha_or_says_why_not(models_folder):
    at = start({"class": "Car"})
    at.radio(key="widget." + session.MODEL).set_value(session.CONVERTED + NAME).run()
    link = dict(at.query_params)
    assert link["model"] == f"models:{NAME}@{short_sha(models_folder / NAME)}"
    model_key = at.session_state[session.CURRENT].model_key
    open_page(at, "export")  # Export's link carries the model too
    shared = [c.value for c in at.code if "model=" in c.value]
    assert shared and parse_qs(urlsplit(shared[0]).query)["model"] == [link["model"]]

    again = start(link)  # another session on a server with the same file: restored
    assert problems(again) == [] and again.session_state[session.CURRENT].model_key == model_key
    assert dict(again.query_params) == link and not any("showing the default" in n for n in notices(again))

    # the same name, another file (here: the same weights with one byte of metadata padding more)
    (models_folder / NAME).write_bytes((models_folder / NAME).read_bytes() + b" ")
    other = start(link)
    assert problems(other) == [] and other.session_state[session.MODEL] == session.SHIPPED
    assert other.session_state[session.CURRENT].meta["name"] == "ocr"
    said = " ".join(notices(other))
    assert NAME in said and "another file" in said and short_sha(models_folder / NAME) in said

    (models_folder / NAME).unlink()  # a server without the file
    missing = start(link)
    assert missing.session_state[session.MODEL] == session.SHIPPED
    assert any(NAME in n and "not in this server's models folder" in n for n in notices(missing))


@NEEDS_FIXTURE
def test_a_link_made_with_an_uploaded_model_opens_with_a_notice(converted):
    at = start()
    at.radio(key="widget." + session.MODEL).set_value(session.UPLOAD).run()
    data = W18S.read_bytes()
    at.file_uploader(key=session.UPLOADED_MODEL).upload(W18S.name, data).run()
    assert problems(at) == [] and at.session_state[session.CURRENT].meta["source"]["file"] == W18S.name
    link = dict(at.query_params)
    assert link["model"] == f"upload:{W18S.name}@{hashlib.sha256(data).hexdigest()[:session.SHA_DIGITS]}"
    again = start(link)
    assert problems(again) == [] and again.session_state[session.MODEL] == session.SHIPPED
    assert any("uploaded checkpoint" in n and W18S.name in n and "cannot carry" in n for n in notices(again))
