"""Backbone, segmentor, trace, checkpoints and the public API, on small inputs."""
import copy
import warnings

import pytest
import torch
from conftest import assert_structured, sample_batch, structured_model, tiny_arch

import ocr_viz
from ocr_viz.model import build, checkpoints
from ocr_viz.model.backbones.efficientnet_lite import EfficientNetLite0, imagenet_weights_path, load_imagenet_weights


def test_imagenet_weights_load_exactly():
    backbone = EfficientNetLite0(16)
    report = load_imagenet_weights(backbone)
    assert report["missing"] == [] and sorted(report["unused"]) == ["_fc.bias", "_fc.weight"]
    state = torch.load(imagenet_weights_path(), map_location="cpu", weights_only=True)
    ours = backbone.state_dict()
    for key in ("_conv_stem.weight", "_blocks.7._depthwise_conv.weight", "_blocks.15._project_conv.weight", "_bn1.running_var"):
        torch.testing.assert_close(ours[key], state[key], atol=0, rtol=0)


@pytest.mark.parametrize("output_stride", [8, 16, 32])
def test_output_stride(output_stride):
    features = EfficientNetLite0(output_stride).eval()(torch.randn(1, 3, 64, 64))
    assert features.final.shape[-1] == 64 // output_stride
    assert features.stride8.shape[-1] == 8 and features.head.shape[1] == 1280


@pytest.mark.parametrize("head", build.HEADS)
@pytest.mark.parametrize("size", [(97, 131), (33, 33)])
def test_every_head_handles_odd_sizes(head, size):
    model = build.build(tiny_arch(head)).eval()
    images = torch.randn(1, 3, *size)
    logits, _ = model(images)
    assert logits.shape[:2] == (1, 11)
    t = model.trace(images)
    assert t.pred.shape == (1, *size) and t.probs.shape == (1, 11, *size)
    torch.testing.assert_close(t.logits, logits)


@pytest.mark.parametrize("head", build.HEADS)
def test_gradients_reach_the_backbone(head):
    model = build.build(tiny_arch(head)).train()
    logits, aux = model(torch.randn(2, 3, 40, 48))
    loss = logits.mean() + (aux.mean() if aux is not None else 0)
    loss.backward()
    assert model.backbone._conv_stem.weight.grad.abs().sum() > 0


def test_ocr_trace_has_every_stage():
    model = build.build(tiny_arch("ocr")).eval()
    t = model.trace(torch.randn(1, 3, 64, 80))
    h, w = t.features.shape[-2:]
    assert (h, w) == (8, 10)
    assert t.head.m_tilde.shape == (1, 11, h * w) and t.head.w.shape == (1, h * w, 11)
    assert t.head.f.shape == (1, 11, 16) and t.head.y.shape == (1, 16, h, w)
    assert t.aux_pred.shape == (1, 64, 80)


def test_batchnorm_folding_preserves_outputs():
    torch.manual_seed(0)
    model = build.build(tiny_arch("ocr"))
    load_imagenet_weights(model.backbone)
    with torch.no_grad():  # non-trivial statistics for the head's BatchNorms
        for m in model.head.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    model.eval()
    images = torch.randn(1, 3, 72, 88)
    folded = ocr_viz.fold_batchnorm(copy.deepcopy(model))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    torch.testing.assert_close(folded.predict(images), model.predict(images), atol=1e-4, rtol=0)


@pytest.fixture(scope="module")
def structured():
    """A tiny OCR model whose maps have structure, and its trace of a street photo."""
    model = structured_model("ocr")
    trace = model.trace(sample_batch((64, 96)))
    assert_structured(trace)
    return model, trace


def test_checkpoint_round_trip(tmp_path, structured):
    model, _ = structured
    path = tmp_path / "m.safetensors"
    checkpoints.save(model, path, {"arch": tiny_arch("ocr"), "classes": ["a"] * 11})
    loaded, meta = ocr_viz.load_model(path, device="cpu")
    images = sample_batch((40, 56))
    # the BatchNorm statistics travel too: the untrained defaults would change the logits by units
    variances = [m.running_var for m in loaded.head.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert variances and all((v - 1).abs().max() > 0.5 for v in variances)
    torch.testing.assert_close(loaded.predict(images), model.predict(images), atol=0, rtol=0)
    assert meta["arch"]["head"] == "ocr"
    # the bytes of an upload load the same way
    loaded_bytes, _ = ocr_viz.load_model(path.read_bytes(), device="cpu")
    torch.testing.assert_close(loaded_bytes.predict(images), model.predict(images), atol=0, rtol=0)


def test_mismatched_checkpoint_names_the_keys(tmp_path):
    model = build.build(tiny_arch("ocr"))
    path = tmp_path / "m.safetensors"
    wrong = tiny_arch("ocr")
    wrong["head_kwargs"]["mid_channels"] = 24  # the metadata says one width, the tensors another
    checkpoints.save(model, path, {"arch": wrong})
    with pytest.raises(ocr_viz.CheckpointError, match=r"other shapes: head\.conv3x3\.0\.weight"):
        ocr_viz.load_model(path, device="cpu")


def test_non_checkpoints_are_refused(tmp_path):
    with pytest.raises(ocr_viz.CheckpointError, match="not a readable safetensors"):
        ocr_viz.load_model(b"\x80\x04 this is a pickle, not safetensors" * 3, device="cpu")
    plain = tmp_path / "plain.safetensors"
    from safetensors.torch import save_file
    save_file({"a": torch.zeros(2)}, str(plain))
    with pytest.raises(ocr_viz.CheckpointError, match="architecture is unknown"):
        ocr_viz.load_model(plain, device="cpu")


def test_unknown_name_in_metadata_is_refused(tmp_path):
    model = build.build(tiny_arch("fcn"))
    path = tmp_path / "m.safetensors"
    checkpoints.save(model, path, {"arch": {**tiny_arch("fcn"), "head": "transformer"}})
    with pytest.raises(ocr_viz.CheckpointError, match="unknown head 'transformer'"):
        ocr_viz.load_model(path, device="cpu")


def test_half_precision_checkpoint_loads_as_float(tmp_path, structured):
    model, _ = structured
    path = tmp_path / "h.safetensors"
    checkpoints.save(model, path, {"arch": tiny_arch("ocr")}, half=True)
    tensors, _ = checkpoints.read(path)
    assert tensors["head.classifier.weight"].dtype == torch.float16  # stored in half precision...
    loaded, _ = ocr_viz.load_model(path, device="cpu")
    assert loaded.head.classifier.weight.dtype == torch.float32  # ...and computed in float32
    images = sample_batch((40, 56))
    ours, reference = loaded.predict(images), model.predict(images)
    spread = reference.std().item()
    assert spread > 0.5  # logits that vary by units across pixels and classes
    error = (ours - reference).abs().max().item()
    assert 0 < error < 0.02 * spread  # rounded to fp16 (about 3 significant digits), not garbled
    assert (ours.argmax(1) == reference.argmax(1)).float().mean() > 0.99


def test_default_device_is_cuda_when_there_is_one_else_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert ocr_viz.default_device() == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert ocr_viz.default_device().type == "cuda"


def test_postprocess_colours_labels():
    logits = torch.zeros(1, 11, 2, 2)
    logits[0, 8] = 1.0  # Car everywhere
    labels, colours = ocr_viz.postprocess(logits, (4, 4))
    assert (labels == 8).all() and tuple(colours[0, 0, 0]) == (64, 0, 128)


def test_head_only_checkpoint_shares_the_backbone(tmp_path):
    torch.manual_seed(0)
    ocr_model = build.build(tiny_arch("ocr")).eval()
    checkpoints.save(ocr_model, tmp_path / "ocr.safetensors", {"arch": tiny_arch("ocr")})
    fcn_model = build.build(tiny_arch("fcn")).eval()
    fcn_model.backbone.load_state_dict(ocr_model.backbone.state_dict())
    checkpoints.save(fcn_model, tmp_path / "fcn.safetensors", {"arch": tiny_arch("fcn")}, backbone_from=tmp_path / "ocr.safetensors")
    tensors, meta = checkpoints.read(tmp_path / "fcn.safetensors")
    assert not any(k.startswith("backbone.") for k in tensors) and meta["backbone_from"] == "ocr.safetensors"
    loaded, _ = ocr_viz.load_model(tmp_path / "fcn.safetensors", device="cpu")
    images = torch.randn(1, 3, 40, 40)
    torch.testing.assert_close(loaded.predict(images), fcn_model.predict(images), atol=0, rtol=0)
    # a different backbone beside it is detected
    other = build.build(tiny_arch("ocr"))
    checkpoints.save(other, tmp_path / "ocr.safetensors", {"arch": tiny_arch("ocr")})
    with pytest.raises(ocr_viz.CheckpointError, match="SHA-256 differs"):
        ocr_viz.load_model(tmp_path / "fcn.safetensors", device="cpu")


def test_ship_keeps_the_fine_tunes_lineage_and_its_tensors(tmp_path, structured):
    """`python -m ocr_viz.ship SRC DST --name N --ancestors A B`: the shipped file holds SRC's tensors (in fp16)
    under the new name, and its metadata records each ancestor's name, file, recipe and training, oldest first,
    with an ancestor's own lineage nested (the default's parent was itself shipped with one)."""
    from ocr_viz.training import ship

    model, _ = structured
    arch = tiny_arch("ocr")
    grandparent, parent, run = tmp_path / "gp.safetensors", tmp_path / "p.safetensors", tmp_path / "run.safetensors"
    checkpoints.save(model, grandparent, {"arch": arch, "name": "narrow", "recipe": {"iters": 1000}, "training": {"steps": 1000}})
    ship.main([str(grandparent), str(parent), "--name", "wide", "--fp32", "--ancestors", str(grandparent)])
    checkpoints.save(model, run, {"arch": arch, "name": "run3", "recipe": {"crop": 480}, "training": {"steps": 400}})
    shipped = tmp_path / "ocr.safetensors"
    ship.main([str(run), str(shipped), "--name", "ocr", "--ancestors", str(grandparent), str(parent)])

    tensors, meta = checkpoints.read(shipped)
    assert meta["name"] == "ocr" and meta["recipe"] == {"crop": 480} and meta["precision"] == "fp16"
    assert [(a["name"], a["file"]) for a in meta["lineage"]] == [("narrow", "gp.safetensors"), ("wide", "p.safetensors")]
    assert meta["lineage"][0]["recipe"] == {"iters": 1000} and meta["lineage"][0]["training"] == {"steps": 1000}
    assert [a["name"] for a in meta["lineage"][1]["lineage"]] == ["narrow"]  # the parent's own lineage, nested
    source, _ = checkpoints.read(run)
    for key, value in source.items():
        expected = value.half() if value.is_floating_point() and "running_" not in key else value
        torch.testing.assert_close(tensors[key].to(expected.dtype), expected, atol=0, rtol=0)
