"""A forward pass is launched without waiting for the device.

On CUDA, reading a value back to the host waits for all the work queued before it, and so does a
blocking copy from the host; either would drain the queue that keeps the GPU busy. Checked here on
the meta device, where tensors have shapes and no data: reading a value back raises, and every copy
from the host is recorded.
"""

from __future__ import annotations

import pytest
import torch
from checkpoints import ENCODERS, HEADS, PROBE_LABELS, PROBE_TEXTS
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from gliclass_integrations import GLiClass
from gliclass_integrations.core._engine import collate
from gliclass_integrations.core._network import PREBUILT_MASKS
from gliclass_integrations.core._requests import build_request

TEXTS = [*PROBE_TEXTS, "the battery died after two days " * 20]
META = torch.device("meta")
FACTORIES_FROM_HOST_DATA = (torch.tensor, torch.as_tensor, torch.Tensor.new_tensor)


class CopiesFromTheHost(TorchDispatchMode):
    """Records every operation that turns host tensors (beyond 0-d scalars) into meta ones, and every
    tensor built on the meta device from host data (``torch.tensor(..., device=...)``)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []
        self._factories = _FactoriesFromHostData(self.seen)

    def __enter__(self):
        self._factories.__enter__()
        return super().__enter__()

    def __exit__(self, *exc_info):
        super().__exit__(*exc_info)
        return self._factories.__exit__(*exc_info)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        result = func(*args, **(kwargs or {}))
        inputs = [value for value in tree_leaves((args, kwargs)) if isinstance(value, torch.Tensor)]
        outputs = [value for value in tree_leaves(result) if isinstance(value, torch.Tensor)]
        if any(value.device.type == "cpu" and value.dim() > 0 for value in inputs) and any(
            value.device == META for value in outputs
        ):
            self.seen.append(str(func))
        return result


class _FactoriesFromHostData(TorchFunctionMode):
    def __init__(self, seen: list[str]) -> None:
        super().__init__()
        self.seen = seen

    def __torch_function__(self, func, types, args=(), kwargs=None):
        result = func(*args, **(kwargs or {}))
        if func in FACTORIES_FROM_HOST_DATA and isinstance(result, torch.Tensor) and result.device == META:
            self.seen.append(func.__name__)
        return result


def network_on_meta(checkpoint, **options):
    """The checkpoint's network on the meta device, and a batch of TEXTS collated for it."""
    model = GLiClass.from_pretrained(checkpoint, device="cpu", **options)
    rows = model.encode(build_request(TEXTS, PROBE_LABELS))
    return model.network.to(META), collate(rows, model.assembler.tokenizer.pad_id, META)


def test_the_probe_sees_a_copy_from_the_host():
    with CopiesFromTheHost() as copies:
        torch.ones(3).to(META)
        torch.tensor([1, 2], device=META)
        torch.ones(3, device=META) * torch.tensor(2.0)  # a 0-d scalar rides along with the launch
        torch.arange(3, device=META)
    assert copies.seen == ["aten._to_copy.default", "tensor"]


@pytest.mark.parametrize("head", [name for name, layout in HEADS.items() if not layout.get("use_lstm")])
@pytest.mark.parametrize("encoder", sorted(ENCODERS))
def test_a_forward_pass_neither_reads_from_nor_copies_to_the_device(encoder, head, make_checkpoint):
    network, batch = network_on_meta(make_checkpoint(encoder, head))
    with torch.inference_mode(), CopiesFromTheHost() as copies:
        logits = network(batch)  # raises if a value is read back
    assert copies.seen == []
    assert logits.device == META and tuple(logits.shape) == (len(TEXTS), len(PROBE_LABELS))


@pytest.mark.parametrize("encoder", sorted(ENCODERS))
def test_so_does_transformers_eager_attention(encoder, make_checkpoint):
    network, batch = network_on_meta(make_checkpoint(encoder), attn_implementation="eager")
    with torch.inference_mode(), CopiesFromTheHost() as copies:
        logits = network(batch)
    assert copies.seen == [] and logits.device == META


@pytest.mark.parametrize("encoder", [name for name, (_, settings) in sorted(ENCODERS.items())
                                     if settings["model_type"] in PREBUILT_MASKS])
def test_transformers_would_read_the_padding_mask_back_if_it_built_the_mask(encoder, make_checkpoint):
    """Why these encoders get their mask built beforehand: from a 2-D mask, transformers (SDPA) asks
    whether any token is padding (``padding_mask.all()``) in every forward pass."""
    network, batch = network_on_meta(make_checkpoint(encoder))
    with torch.inference_mode(), pytest.raises(RuntimeError, match="meta tensors") as raised:
        network.encoder_model(input_ids=batch.input_ids, attention_mask=batch.token_mask.long())
    assert any(entry.path.name == "masking_utils.py" for entry in raised.traceback)


def test_an_lstm_head_reads_lengths_back_to_pack_them(make_checkpoint):
    """PyTorch's packing wants the lengths on the host and reads its sort order back
    (``pad_packed_sequence``), so an LSTM head waits for the device once per forward pass."""
    network, batch = network_on_meta(make_checkpoint("deberta", "lstm"))
    with torch.inference_mode(), pytest.raises(NotImplementedError, match="meta tensor"):
        network(batch)
