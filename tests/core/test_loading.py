"""Loading checkpoints: local paths, the hub cache offline, and clear errors for everything else."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from checkpoints import HEADS, build_checkpoint, fill_hub_cache, load_reference
from safetensors.torch import load_file, save_file
from tolerances import FLOAT32

from gliclass_integrations import GLiClass
from gliclass_integrations.errors import (
    CheckpointError,
    CheckpointNotFoundError,
    UnsafeCheckpointError,
    UnsupportedCheckpointError,
)

TEXTS = ["i love this product", "the election results were announced today"]
LABELS = ["positive", "negative", "politics"]


@pytest.fixture
def checkpoint_copy(tiny_checkpoint, tmp_path):
    target = tmp_path / "checkpoint"
    shutil.copytree(tiny_checkpoint, target)
    return target


def edit_config(path, **changes):
    config = json.loads((path / "config.json").read_text())
    config.update(changes)
    (path / "config.json").write_text(json.dumps(config))


def test_loads_from_a_path_string_or_path(tiny_checkpoint, tiny_model):
    by_string = GLiClass.from_pretrained(str(tiny_checkpoint), device="cpu")
    assert by_string.revision is None and by_string.name_or_path == str(tiny_checkpoint)
    np.testing.assert_array_equal(by_string.logits(TEXTS, LABELS), tiny_model.logits(TEXTS, LABELS))
    assert repr(by_string).startswith("GLiClass(") and "deberta-v2" in repr(by_string)


def test_loads_a_hub_id_from_the_cache_when_offline(tiny_checkpoint, tiny_model, tmp_path, monkeypatch):
    commit = fill_hub_cache(tmp_path, "someone/tiny-gliclass", tiny_checkpoint)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = GLiClass.from_pretrained("someone/tiny-gliclass", cache_dir=tmp_path)
    assert model.revision == commit
    np.testing.assert_array_equal(model.logits(TEXTS, LABELS), tiny_model.logits(TEXTS, LABELS))
    assert GLiClass.from_pretrained("someone/tiny-gliclass", cache_dir=tmp_path, revision=commit).revision == commit
    with pytest.raises(CheckpointNotFoundError, match="offline mode is on"):
        GLiClass.from_pretrained("someone/tiny-gliclass", cache_dir=tmp_path, revision="v2.0")
    with pytest.raises(CheckpointNotFoundError, match="'someone/other' is not in the local Hugging Face cache"):
        GLiClass.from_pretrained("someone/other", cache_dir=tmp_path)


def test_local_files_only_never_contacts_the_hub(tiny_checkpoint, tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    fill_hub_cache(tmp_path, "someone/tiny-gliclass", tiny_checkpoint)
    assert GLiClass.from_pretrained("someone/tiny-gliclass", cache_dir=tmp_path, local_files_only=True).revision
    with pytest.raises(CheckpointNotFoundError, match="offline mode is on"):
        GLiClass.from_pretrained("someone/absent", cache_dir=tmp_path, local_files_only=True)


def test_revision_is_refused_for_local_directories(tiny_checkpoint):
    with pytest.raises(ValueError, match="revision='main' applies to hub ids"):
        GLiClass.from_pretrained(tiny_checkpoint, revision="main")


@pytest.mark.parametrize(
    ("remove", "error", "message"),
    [
        ("config.json", CheckpointNotFoundError, "config.json is missing"),
        ("model.safetensors", CheckpointNotFoundError, r"no model weights \(model.safetensors"),
        ("tokenizer", CheckpointNotFoundError, "no tokenizer"),
    ],
)
def test_missing_files_are_named(checkpoint_copy, remove, error, message):
    names = ["tokenizer.json", "tokenizer_config.json"] if remove == "tokenizer" else [remove]
    for name in names:
        (checkpoint_copy / name).unlink()
    with pytest.raises(error, match=message):
        GLiClass.from_pretrained(checkpoint_copy)


def test_missing_directory(tmp_path):
    with pytest.raises(CheckpointNotFoundError, match="no checkpoint directory"):
        GLiClass.from_pretrained(tmp_path / "absent")


def test_corrupt_files_give_checkpoint_errors(checkpoint_copy):
    (checkpoint_copy / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match=r"config\.json is not valid JSON"):
        GLiClass.from_pretrained(checkpoint_copy)


def test_corrupt_weights_give_checkpoint_errors(checkpoint_copy):
    (checkpoint_copy / "model.safetensors").write_bytes(b"\x00" * 100)
    with pytest.raises(CheckpointError, match=r"cannot read the weights in model\.safetensors"):
        GLiClass.from_pretrained(checkpoint_copy)


def test_weights_that_do_not_fit_the_config_are_named(checkpoint_copy):
    edit_config(checkpoint_copy, scorer_type="mlp", pooling_strategy="first")
    with pytest.raises(CheckpointError, match=r"head weights do not match config.json \(missing: scorer.mlp"):
        GLiClass.from_pretrained(checkpoint_copy)


def test_encoder_weights_that_do_not_fit_are_named(checkpoint_copy):
    state = load_file(checkpoint_copy / "model.safetensors")
    del state["model.encoder_model.encoder.layer.1.output.dense.weight"]
    save_file(state, checkpoint_copy / "model.safetensors")
    with pytest.raises(CheckpointError, match=r"missing: encoder\.layer\.1\.output\.dense\.weight"):
        GLiClass.from_pretrained(checkpoint_copy)


def test_pickle_weights_are_refused_unless_allowed(checkpoint_copy, tiny_model):
    state = load_file(checkpoint_copy / "model.safetensors")
    (checkpoint_copy / "model.safetensors").unlink()
    torch.save(state, checkpoint_copy / "pytorch_model.bin")
    with pytest.raises(UnsafeCheckpointError, match="only weights are pickle files"):
        GLiClass.from_pretrained(checkpoint_copy)
    model = GLiClass.from_pretrained(checkpoint_copy, allow_pickle=True)
    np.testing.assert_array_equal(model.logits(TEXTS, LABELS), tiny_model.logits(TEXTS, LABELS))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"architecture_type": "bi-encoder"}, "'bi-encoder' is a known GLiClass architecture, but only 'uni-encoder'"),
        ({"architecture_type": "mystery"}, "'mystery' is an unknown GLiClass architecture"),
        ({"use_calibrator": True}, "use_calibrator=true"),
        ({"scorer_type": "cross-attn", "pooling_strategy": "first"}, "needs pooling_strategy='pass'"),
        ({"scorer_type": "bilinear"}, "scorer_type 'bilinear' is not one of"),
        ({"class_token_pooling": "max"}, "class_token_pooling 'max'"),
        ({"encoder_config": {"model_type": "not-a-model", "hidden_size": 32}}, "remote code is never run"),
    ],
)
def test_unsupported_configurations_are_refused_by_name(checkpoint_copy, changes, message):
    edit_config(checkpoint_copy, **changes)
    with pytest.raises(UnsupportedCheckpointError, match=message):
        GLiClass.from_pretrained(checkpoint_copy)


def test_tokenizer_and_config_must_agree(checkpoint_copy):
    config = json.loads((checkpoint_copy / "config.json").read_text())
    edit_config(checkpoint_copy, class_token_index=config["class_token_index"] - 1)
    with pytest.raises(CheckpointError, match="tokenizer gives '<<LABEL>>' id"):
        GLiClass.from_pretrained(checkpoint_copy)


@pytest.mark.parametrize(("device", "message"), [("gpu", "use 'cuda'"), ("nonsense", "not a torch device")])
def test_bad_devices(tiny_checkpoint, device, message):
    with pytest.raises(ValueError, match=message):
        GLiClass.from_pretrained(tiny_checkpoint, device=device)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only error")
def test_cuda_without_cuda_is_an_error(tiny_checkpoint):
    with pytest.raises(ValueError, match="CUDA is not available"):
        GLiClass.from_pretrained(tiny_checkpoint, device="cuda")


def test_dtypes(tiny_checkpoint, tiny_model):
    assert tiny_model.dtype == torch.float32 and tiny_model.device.type == "cpu"
    with pytest.raises(ValueError, match="dtype must be"):
        GLiClass.from_pretrained(tiny_checkpoint, dtype="int8")
    half = GLiClass.from_pretrained(tiny_checkpoint, dtype="bfloat16")
    assert next(half.network.parameters()).dtype == torch.bfloat16
    np.testing.assert_allclose(half.predict_proba(TEXTS, LABELS), tiny_model.predict_proba(TEXTS, LABELS), atol=2e-2)


def assert_matches_reference(path):
    from gliclass import ZeroShotClassificationPipeline

    ours = GLiClass.from_pretrained(path).predict_proba(TEXTS, LABELS)
    model, tokenizer = load_reference(path)
    pipeline = ZeroShotClassificationPipeline(model, tokenizer, device="cpu", progress_bar=False)
    theirs = pipeline(TEXTS, LABELS, threshold=0.0, batch_size=1, return_hierarchical=True)
    np.testing.assert_allclose(ours, [[row[label] for label in LABELS] for row in theirs], atol=FLOAT32)


def test_checkpoint_stored_in_bfloat16_loads_in_float32_and_matches_reference(tmp_path):
    path = build_checkpoint(tmp_path / "bf16", "modernbert", HEADS["multilang"], dtype=torch.bfloat16)
    assert json.loads((path / "config.json").read_text()).get("dtype") == "bfloat16"
    assert GLiClass.from_pretrained(path).dtype == torch.float32
    assert_matches_reference(path)


def test_t5_embeds_with_shared_like_the_reference(tmp_path):
    """A T5 checkpoint may store encoder.embed_tokens with values that differ from shared."""
    path = build_checkpoint(tmp_path / "t5", "t5", HEADS["simple-first"])
    state = load_file(path / "model.safetensors")
    shared = state["model.encoder_model.shared.weight"]
    state["model.encoder_model.encoder.embed_tokens.weight"] = torch.randn_like(shared)
    save_file(state, path / "model.safetensors")
    assert_matches_reference(path)


def test_absolute_position_encoders_cap_max_length(load_model):
    assert load_model("bert", "multilang").max_length == 256  # the fixture's max_position_embeddings
    assert load_model("deberta", "multilang").max_length == 1024


def test_importing_the_package_does_not_import_torch():
    code = "import sys, gliclass_integrations, gliclass_integrations.cli; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
