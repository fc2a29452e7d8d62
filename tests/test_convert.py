"""Released checkpoints -> ocr_viz: the official HRNet-OCR code's own numbers reproduced stage
by stage, the W48 release's key list mapped completely, and bad files refused with clear messages."""
from __future__ import annotations

import os
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from einops import rearrange

import ocr_viz
import ocr_viz.convert
from ocr_viz.data.classes import DATASETS, dataset_table
from ocr_viz.model import build, convert
from ocr_viz.model.backbones.hrnet import LAYOUTS, HRNet
from ocr_viz.teaching.explain import deviations

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "hrnet_ocr"
W18S = FIXTURES / "hrnet_ocr_w18s_seed0.pth"
# like CamVid, the fixture comes with ../shared: skipped without it, unless OCR_VIZ_REQUIRE_DATA=1 (CI) makes it fail
needs_fixture = pytest.mark.skipif(not W18S.is_file() and os.environ.get("OCR_VIZ_REQUIRE_DATA") != "1",
                                   reason=f"official HRNet-OCR fixture not at {FIXTURES}")


@pytest.fixture(scope="module")
def official_io():
    return dict(np.load(FIXTURES / "hrnet_ocr_w18s_seed0_io.npz"))


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """The fixture converted with the command line, then loaded as any checkpoint is."""
    out = tmp_path_factory.mktemp("models") / "w18s.safetensors"
    assert ocr_viz.convert.main([str(W18S), "--out", str(out)]) == 0
    return ocr_viz.load_model(out, device="cpu")


@needs_fixture
def test_cli_conversion_reproduces_every_stage_of_the_official_code(converted, official_io):
    model, meta = converted
    trace = model.trace(torch.from_numpy(official_io["image"]))
    h = trace.head
    ours = {"M": h.M, "x": h.x, "f": rearrange(h.f, "b k c -> b c k 1"), "y": h.y, "z": h.z, "logits": h.logits}
    for name, value in ours.items():
        ref = official_io[name]
        assert value.shape == ref.shape, name
        # float32 through ~40 layers in another summation order: relative to the stage's largest value
        err = np.abs(value.numpy() - ref).max() / np.abs(ref).max()
        assert err <= 1e-4, f"{name}: max|ours - official| = {err:.2e} x max|official|"
    assert meta["arch"]["hrnet_layout"] == "w18_small_v2" and meta["dataset"] == "cityscapes"
    assert meta["align_corners"] is True and meta["eval_size"] == [2048, 1024]
    assert meta["classes"][:3] == ["road", "sidewalk", "building"] and len(meta["palette"]) == 19
    assert meta["source"]["sha256"] == convert.sha256(W18S) and meta["source"]["file"] == W18S.name
    about = " ".join(deviations(meta))  # the About page describes the release, not the shipped model
    assert "HRNetV2 `w18_small_v2`" in about and "efficientnet" not in about and "81.6" in about


@needs_fixture
def test_bench_trace_of_a_converted_release(converted, tmp_path):
    import json

    from ocr_viz.cost import bench

    model_file = tmp_path / "w18s.safetensors"
    convert.save(convert.convert(W18S), model_file)
    out = tmp_path / "trace.json"
    assert bench.main(["trace", "--model", str(model_file), "--input-sizes", "128x64", "--repeats", "1",
                       "--device", "cpu", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert [r["input_size"] for r in report["rows"]] == [[64, 128]] and report["rows"][0]["feature_size"] == [16, 32]
    # the model the bench loaded has as many parameters as the release file holds (buffers aside),
    # counted from the official file itself: 6,379,278, the fixture README's 6.38M
    assert report["folded"] is None and report["parameters"] == release_parameters(W18S) == 6_379_278
    assert report["rows"][0]["seconds"] > 0 and report["run"]["torch"] == torch.__version__


@needs_fixture
def test_load_model_converts_a_release_path_in_memory(official_io):
    model, meta = ocr_viz.load_model(W18S, device="cpu")
    logits = model.trace(torch.from_numpy(official_io["image"])).logits.numpy()
    assert np.abs(logits - official_io["logits"]).max() <= 1e-4 * np.abs(official_io["logits"]).max()


def is_parameter(key: str) -> bool:
    """A state-dict key that nn.Module.parameters() yields: BatchNorm's running statistics and batch
    count are buffers."""
    return key.rsplit(".", 1)[-1] not in ("running_mean", "running_var", "num_batches_tracked")


def release_parameters(path: Path) -> int:
    """Parameters in an official checkpoint, counted from its own tensors, not through the converter."""
    return sum(v.numel() for k, v in torch.load(path, weights_only=True).items() if is_parameter(k))


def w48_release(path: Path) -> dict[str, torch.Tensor]:
    """Random tensors with the W48 Cityscapes release's keys, shapes and dtypes, saved as it is."""
    g = torch.Generator().manual_seed(0)
    state = {}
    for line in (FIXTURES / "hrnet_ocr_w48_cityscapes_keys.txt").read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        key, shape, dtype = line.split("\t")
        shape = tuple(int(s) for s in re.findall(r"\d+", shape))
        state[key] = torch.randint(0, 100, shape, generator=g) if dtype == "int64" else torch.randn(shape, generator=g)
    torch.save(state, path)
    return state


@needs_fixture
def test_w48_release_key_list_maps_completely(tmp_path):
    state = w48_release(tmp_path / "hrnet_ocr_cs_8162_torch11.pth")
    c = convert.convert(tmp_path / "hrnet_ocr_cs_8162_torch11.pth")
    assert c.meta["arch"]["hrnet_layout"] == "w48" and c.meta["arch"]["num_classes"] == 19
    # every parameter of the release is carried over: the key list's shapes, multiplied out and summed
    # over its parameter keys, give 70,372,678 (the fixture README's 70.37M)
    listed = sum(int(np.prod([int(d) for d in re.findall(r"\d+", line.split("\t")[1])]))
                 for line in (FIXTURES / "hrnet_ocr_w48_cityscapes_keys.txt").read_text().splitlines()
                 if line.strip() and not line.startswith("#") and is_parameter(line.split("\t")[0]))
    assert c.num_params == listed == 70_372_678
    assert c.meta["reported"]["miou"] == 81.6 and c.meta["dataset"] == "cityscapes"
    # the tensors land where the official code uses them, not merely somewhere of that shape
    pairs = {"head.phi.0.0.weight": "ocr_distri_head.object_context_block.f_pixel.0.weight",
             "head.psi.1.1.running_var": "ocr_distri_head.object_context_block.f_object.3.0.running_var",
             "head.g.0.0.weight": "ocr_distri_head.conv_bn_dropout.0.weight", "head.aux_head.1.bias": "aux_head.3.bias",
             "backbone.stage4.2.fuse_layers.3.0.2.0.weight": "stage4.2.fuse_layers.3.0.2.0.weight"}
    for ours, theirs in pairs.items():
        assert torch.equal(c.tensors[ours], state["model." + theirs]), ours
    assert len(c.tensors) == len(state)


def test_every_hrnet_layout_is_detected_from_its_own_tensors():
    for name in LAYOUTS:
        with torch.device("meta"):
            state = {"backbone." + k: v for k, v in HRNet(name).state_dict().items()}
        assert convert.detect_hrnet(state, "backbone.") == name
    assert LAYOUTS["w48"].out_channels == 720 and LAYOUTS["w18_small_v2"].out_channels == 270


def test_class_tables_match_their_datasets():
    for name, k in DATASETS.items():
        table = dataset_table(name)
        assert len(table["classes"]) == k == len(table["palette"]), name
        assert all(len(c) == 3 and all(0 <= v <= 255 for v in c) for c in table["palette"])
    assert dataset_table("ade20k")["classes"][:3] == ["wall", "building", "sky"]
    assert dataset_table("pascal_context_60")["classes"][0] == "background"


# ------------------------------------------------------------------------------ bad input

class Payload:
    """Unpickling this object would create the marker file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("fmt", ["torch.save", "raw pickle"])
def test_a_pickle_with_a_code_payload_is_refused_and_nothing_runs(tmp_path, fmt):
    marker = tmp_path / "payload-ran"
    evil = tmp_path / "hrnet_ocr_cs_8162_torch11.pth"
    obj = {"model.conv1.weight": torch.zeros(1), "payload": Payload(marker)}
    if fmt == "torch.save":
        torch.save(obj, evil)
    else:
        evil.write_bytes(pickle.dumps(obj))
    with pytest.raises(convert.ConvertError, match="refused"):
        convert.convert(evil)
    assert not marker.exists()
    assert ocr_viz.convert.main([str(evil), "--out", str(tmp_path / "x.safetensors")]) == 2
    assert not marker.exists() and not (tmp_path / "x.safetensors").exists()


@needs_fixture
def test_truncated_file(tmp_path):
    cut = tmp_path / "cut.pth"
    cut.write_bytes(W18S.read_bytes()[: W18S.stat().st_size // 2])
    with pytest.raises(convert.ConvertError, match="truncated or corrupt"):
        convert.convert(cut)


def test_an_unrelated_state_dict_names_its_first_keys(tmp_path):
    other = tmp_path / "classifier.pth"
    torch.save({"state_dict": torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8)).state_dict()}, other)
    with pytest.raises(convert.ConvertError, match=r"unrecognised layout.*first keys: 0\.weight, 0\.bias, 1\.weight"):
        convert.convert(other)


@needs_fixture
def test_a_class_count_that_contradicts_the_dataset(tmp_path, capsys):
    assert ocr_viz.convert.main([str(W18S), "--dataset", "ade20k", "--out", str(tmp_path / "x.safetensors")]) == 2
    assert "--dataset ade20k has 150 classes but the checkpoint predicts 19" in capsys.readouterr().out
    assert not (tmp_path / "x.safetensors").exists()


@needs_fixture
def test_a_missing_or_extra_tensor_is_named(tmp_path):
    state = torch.load(W18S, weights_only=True)
    missing = {k: v for k, v in state.items() if k != "model.ocr_distri_head.object_context_block.f_up.0.weight"}
    with pytest.raises(convert.ConvertError, match=r"1 model tensors missing: head\.rho\.0\.weight"):
        convert.convert_state(convert.strip_prefixes(missing))
    extra = {**state, "model.aux_head.9.weight": torch.zeros(3)}
    with pytest.raises(convert.ConvertError, match=r"1 unmapped source tensors: aux_head\.9\.weight"):
        convert.convert_state(convert.strip_prefixes(extra))


def test_nesting_and_prefixes_are_unwrapped():
    t = torch.zeros(2)
    assert convert.strip_prefixes(convert.unwrap({"state_dict": {"module.model.a": t, "module.model.b": t}})) == {"a": t, "b": t}
    assert convert.strip_prefixes(convert.unwrap({"model": {"a": t}, "epoch": 3})) == {"a": t}
    with pytest.raises(convert.ConvertError, match="no state dict"):
        convert.unwrap([1, 2])


def test_shipped_model_arch_is_unchanged_by_the_new_options():
    with torch.device("meta"):
        keys = set(build.build(build.DEFAULT_ARCH).state_dict())
    assert "head.conv3x3.0.bias" not in keys and "head.phi.0.0.bias" not in keys and "head.aux_head.0.0.bias" not in keys


# ---- the command line: each layout, --layout, --dataset ------------------------------------------

def mmseg_release(path: Path, num_classes: int = 19) -> Path:
    """mmsegmentation's OCRNet HR18s (the key list of tests/fixtures/mmseg_ocrnet) with seeded weights,
    saved as a release is: {"state_dict": ...}; `num_classes` cuts the classifiers to that many."""
    from test_official_mmseg import FIXTURE, fixture_module

    make = fixture_module()
    state = make.seeded_state(make.read_keys(FIXTURE / "hr18s_keys.txt"))
    state = {k: v[:num_classes] if ".conv_seg." in k else v for k, v in state.items()}
    torch.save({"state_dict": state, "meta": {"epoch": 1}}, path)
    return path


def cli(args: list, capsys) -> tuple[int, str]:
    code = ocr_viz.convert.main([str(a) for a in args])
    return code, capsys.readouterr().out


def converted_meta(path: Path) -> dict:
    from ocr_viz.model import checkpoints

    return checkpoints.read(path)[1]


@needs_fixture
@pytest.mark.parametrize("layout", ["auto", "given"])
def test_cli_converts_each_layout_found_or_given(tmp_path, capsys, layout):
    sources = {"hrnet-ocr": W18S, "mmseg": mmseg_release(tmp_path / "ocrnet_hr18s.pth")}
    for name, src in sources.items():
        out = tmp_path / f"{name}.safetensors"
        code, text = cli([src, "--out", out] + (["--layout", name] if layout == "given" else []), capsys)
        assert code == 0, text
        meta = converted_meta(out)
        assert meta["source"]["layout"] == name and meta["dataset"] == "cityscapes"
        assert meta["classes"] == dataset_table("cityscapes")["classes"]
        assert f"wrote {out}" in text


@needs_fixture
@pytest.mark.parametrize("wrong", ["mmseg", "openseg"])
def test_cli_layout_that_is_not_the_files_fails_and_writes_nothing(tmp_path, capsys, wrong):
    out = tmp_path / "x.safetensors"
    code, text = cli([W18S, "--layout", wrong, "--out", out], capsys)
    assert code == 2 and text.startswith("error:") and not out.exists()


def test_cli_an_ambiguous_class_count_asks_for_dataset_which_settles_it(tmp_path, capsys, monkeypatch):
    """KITTI's semantic benchmark uses Cityscapes' 19 classes: with it known, 19 classes name no dataset."""
    from ocr_viz.data import classes as class_tables

    monkeypatch.setitem(class_tables.DATASETS, "kitti", 19)
    src, out = mmseg_release(tmp_path / "ocrnet_hr18s.pth"), tmp_path / "x.safetensors"
    code, text = cli([src, "--out", out], capsys)
    assert code == 2 and "matches cityscapes and kitti; choose one with --dataset" in text and not out.exists()
    code, text = cli([src, "--dataset", "cityscapes", "--out", out], capsys)
    assert code == 0 and converted_meta(out)["dataset"] == "cityscapes"


def test_cli_a_class_count_of_no_known_dataset_is_refused(tmp_path, capsys):
    src, out = mmseg_release(tmp_path / "ocrnet_hr18s.pth", num_classes=7), tmp_path / "x.safetensors"
    code, text = cli([src, "--out", out], capsys)
    assert code == 2 and "predicts 7 classes, which matches none of the known datasets" in text and not out.exists()


def test_cli_an_unknown_dataset_is_refused_by_name(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        ocr_viz.convert.main([str(tmp_path / "x.pth"), "--dataset", "mars"])
    assert exit_.value.code == 2 and "invalid choice: 'mars'" in capsys.readouterr().err
