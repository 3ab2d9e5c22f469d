"""Throughput of our engine against the reference ``gliclass`` pipeline, on identical inputs, in one process.

Builds a GLiClass uni-encoder with random weights and the multilang head layout (cross-attn scorer,
"pass" pooling, averaged label tokens, prompt first), with a backbone shaped like a released one:

    tiny   DeBERTa-v2, 2 layers, hidden 128 (memory checks, smoke tests)
    small  DeBERTa-v2, 6 layers, hidden 384 (a CPU-sized model)
    edge   mmBERT-small shape (ModernBERT, 22 layers, hidden 384)      gliclass-multilang-edge
    mini   mDeBERTa-v3-base shape (DeBERTa-v2, 12 layers, hidden 768)  gliclass-multilang-mini
    ultra  mT5-XL encoder shape (24 layers, d_model 2048)              gliclass-multilang-ultra

The tokenizer is a word-level one built at start-up ("w0".."w29999"; a text of N tokens is N - 2
words, each label two words), so nothing is downloaded. Weights are random: only speed and the
agreement of the two implementations mean anything.

For each text length (64, 256, 512 tokens, and "mixed": an equal, shuffled mix of the three) and
label count, it times the reference pipeline (``ZeroShotClassificationPipeline``, multi-label,
threshold 0.5, its default ``batch_size=8``, as users run it) and ``GLiClass.classify`` (automatic
batches), checks that the scores agree (reference at batch size 1, against ours; fp32 within 1e-4,
bf16 within 2e-2), and prints samples/s of both, the ratio, and our model FLOPs utilisation (MFU:
encoder FLOPs of the real tokens per second, over the device's peak; on the CPU the peak is a
measured fp32 matrix product). The last column is the host's preparation rate (tokenization and input
assembly of the same texts, one thread), to set beside the device's rate.

CPU variants of our engine (``--variants``): fp32 (default), int8 (dynamic int8 Linear layers through
the deprecated ``torch.ao.quantization.quantize_dynamic``), int8-torchao (the encoder's Linear layers
through torchao's ``Int8DynamicActivationInt8WeightConfig``, eager; needs ``pip install torchao``),
bf16, onnx (the encoder on ONNX Runtime); and on any device the attention variants eager
(transformers' own attention, for DeBERTa the unfused path), sdpa and flash (flash-attn, CUDA). Each
variant after the first also reports its largest score change against the first ("fp32": the default).

Usage:
    python benchmarks/throughput.py --shapes small --lengths mixed --labels 1,8,64          # CPU, minutes
    python benchmarks/throughput.py --shapes edge,mini,ultra --dtype bf16 --n 512           # GPU
Options: --shapes, --labels (default 1,2,4,...,256), --lengths (default 64,256,512,mixed),
--n (texts per cell, default 64), --dtype (fp32|bf16; default bf16 on CUDA, fp32 on the CPU),
--ref-batch (default 8), --no-reference, --threads, --variants, --max-batch-tokens, --repeat (best of,
default 3), --check (texts per cell whose scores are compared, default 6),
--peak-tflops (override the peak used for MFU), --json FILE (one JSON line per cell).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

N_WORDS = 30000
TOLERANCE = {"fp32": 1e-4, "bf16": 2e-2}
# Dense bf16 / fp32 (no TF32) peaks in TFLOP/s, from the vendors' data sheets (SXM parts).
GPU_PEAKS = {"H100": {"bf16": 989.0, "fp32": 67.0}, "H200": {"bf16": 989.0, "fp32": 67.0}}


# -- model ----------------------------------------------------------------------------------------


def build_tokenizer(path: Path):
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab = {token: i for i, token in enumerate(specials)}
    vocab.update({f"w{i}": len(specials) + i for i in range(N_WORDS)})
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]",
        mask_token="[MASK]",
    )
    fast.add_special_tokens({"additional_special_tokens": ["<<LABEL>>", "<<SEP>>", "<<EXAMPLE>>"]})
    fast.save_pretrained(str(path))
    return fast


def encoder_config(shape: str, vocab_size: int):
    from transformers import DebertaV2Config, ModernBertConfig, T5Config

    deberta = dict(
        relative_attention=True, position_buckets=256, max_relative_positions=-1, pos_att_type=["p2c", "c2p"],
        norm_rel_ebd="layer_norm", share_att_key=True, position_biased_input=False, max_position_embeddings=512,
        type_vocab_size=0, pad_token_id=0,
    )
    if shape == "tiny":  # for memory checks and smoke tests
        return DebertaV2Config(vocab_size=vocab_size, hidden_size=128, num_hidden_layers=2, num_attention_heads=4,
                               intermediate_size=512, **deberta)
    if shape == "small":
        return DebertaV2Config(vocab_size=vocab_size, hidden_size=384, num_hidden_layers=6, num_attention_heads=6,
                               intermediate_size=1536, **deberta)
    if shape == "mini":
        return DebertaV2Config(vocab_size=251000, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                               intermediate_size=3072, **deberta)
    if shape == "edge":
        return ModernBertConfig(vocab_size=256000, hidden_size=384, num_hidden_layers=22, num_attention_heads=6,
                                intermediate_size=1152, max_position_embeddings=8192, global_attn_every_n_layers=3,
                                local_attention=128, pad_token_id=0, bos_token_id=2, eos_token_id=3, cls_token_id=2,
                                sep_token_id=3)
    if shape == "ultra":
        return T5Config(vocab_size=250112, d_model=2048, d_ff=5120, num_layers=24, num_heads=32, d_kv=64,
                        feed_forward_proj="gated-gelu", relative_attention_num_buckets=32, is_encoder_decoder=False,
                        pad_token_id=0, eos_token_id=3)
    raise ValueError(f"unknown shape {shape!r}")


def build_checkpoint(shape: str, path: Path, seed: int = 0, device: torch.device | str = "cpu"):
    """Save a random GLiClass checkpoint (with tokenizer) to ``path``; returns the reference model (on ``device``)
    and tokenizer. The weights are drawn on ``device``: on a GPU that takes moments, where drawing the ``ultra``
    shape's 1.7 billion on a CPU takes a minute (single-threaded)."""
    from gliclass import GLiClassModel
    from gliclass.config import GLiClassModelConfig

    tokenizer = build_tokenizer(path)
    encoder = encoder_config(shape, len(tokenizer))
    hidden = encoder.d_model if shape == "ultra" else encoder.hidden_size
    label_id, sep_id, example_id = tokenizer.convert_tokens_to_ids(["<<LABEL>>", "<<SEP>>", "<<EXAMPLE>>"])
    config = GLiClassModelConfig(
        encoder_config=encoder.to_dict(), encoder_model=f"random-{shape}", architecture_type="uni-encoder",
        scorer_type="cross-attn", pooling_strategy="pass", class_token_pooling="average",
        extract_text_features=True, prompt_first=True, class_token_index=label_id, text_token_index=sep_id,
        example_token_index=example_id, hidden_size=hidden, scorer_num_heads=16,
    )
    torch.manual_seed(seed)
    with torch.device(device):
        model = GLiClassModel(config)
        if model.get_input_embeddings().num_embeddings < len(tokenizer):
            model.resize_token_embeddings(len(tokenizer))
        with torch.no_grad():  # fan-in scaled weights keep activations, and so scores, spread out
            for name, parameter in model.named_parameters():
                if parameter.dim() > 1 and not name.endswith("logit_scale"):
                    scale = 0.5 if "embed" in name or "shared" in name else 1.0 / math.sqrt(parameter.shape[-1])
                    parameter.normal_(0.0, scale)
    model.eval()
    model.save_pretrained(str(path))
    return model, tokenizer


def encoder_flops(config, tokens: int) -> float:
    """Forward FLOPs of the encoder for one sequence of ``tokens`` tokens (performance notes §4.1)."""
    kind = config.model_type
    if kind == "t5":
        layers, width, inner, ff, gated = config.num_layers, config.d_model, config.num_heads * config.d_kv, \
            config.d_ff, "gated" in config.feed_forward_proj
        windows = [tokens] * layers
    else:
        layers, width, ff = config.num_hidden_layers, config.hidden_size, config.intermediate_size
        inner, gated = width, kind == "modernbert"
        every = getattr(config, "global_attn_every_n_layers", 1)
        local = getattr(config, "local_attention", tokens)
        windows = [tokens if i % every == 0 else min(tokens, local) for i in range(layers)]
    per_token = 4 * width * inner + (3 if gated else 2) * width * ff
    flops = sum(2 * tokens * per_token + 4 * tokens * keys * inner for keys in windows)
    if kind == "deberta-v2":  # c2p and p2c scores against the relative position embeddings
        flops += 4 * layers * tokens * min(2 * config.position_buckets, 2 * tokens) * width
    return float(flops)


def cpu_peak_flops() -> float:
    """fp32 FLOP/s of a large matrix product with the current thread count (the CPU's practical peak)."""
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    best = math.inf
    for _ in range(10):  # the best of several, as the timings of the workloads are
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * 2048**3 / best


def peak_flops(device: torch.device, dtype: str, override: float | None) -> float:
    if override:
        return override * 1e12
    if device.type == "cpu":
        return cpu_peak_flops()
    name = torch.cuda.get_device_name(device)
    for key, peaks in GPU_PEAKS.items():
        if key in name:
            return peaks[dtype] * 1e12
    raise SystemExit(f"no known peak for {name!r}; pass --peak-tflops")


# -- workload --------------------------------------------------------------------------------------


def make_texts(length: str, n: int, seed: int = 0) -> list[str]:
    """``n`` texts of ``length`` tokens with [CLS] and [SEP] (``mixed``: equal shares of 64, 256, 512)."""
    rng = random.Random(seed)
    sizes = [64, 256, 512] * (n // 3 + 1) if length == "mixed" else [int(length)] * n
    sizes = sizes[:n]
    rng.shuffle(sizes)
    return [" ".join(f"w{rng.randrange(N_WORDS - 2000)}" for _ in range(size - 2)) for size in sizes]


def make_word_texts(n: int, words: int, seed: int = 0) -> list[str]:
    """``n`` texts of ``words`` words each (one token each with the benchmark tokenizer)."""
    rng = random.Random(seed)
    return [" ".join(f"w{rng.randrange(N_WORDS)}" for _ in range(words)) for _ in range(n)]


def make_labels(count: int) -> list[str]:
    return [f"w{N_WORDS - 2000 + 2 * i} w{N_WORDS - 1999 + 2 * i}" for i in range(count)]


@contextlib.contextmanager
def tokenizer_pool(on: bool):
    """The tokenizer's own thread pool switched on or off inside the block (the tokenizer reads
    ``TOKENIZERS_PARALLELISM`` at every call), and the variable restored as it was after it."""
    shipped = os.environ.get("TOKENIZERS_PARALLELISM")
    os.environ["TOKENIZERS_PARALLELISM"] = "true" if on else "false"
    try:
        yield
    finally:
        if shipped is None:
            os.environ.pop("TOKENIZERS_PARALLELISM", None)
        else:
            os.environ["TOKENIZERS_PARALLELISM"] = shipped


def fastest(call, repeat: int) -> float:
    """The fastest of ``repeat`` timed calls of ``call()``, in seconds (host work only)."""
    return min(timed(torch.device("cpu"), call) for _ in range(repeat))


def timed(device: torch.device, call, *args, **kwargs) -> float:
    """Seconds that ``call(*args, **kwargs)`` takes, device work included."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    call(*args, **kwargs)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def reference_scores(pipeline, texts: list[str], labels: list[str]) -> np.ndarray:
    """The reference's scores with each text alone in its batch (its scores depend on the batch otherwise)."""
    output = pipeline(texts, labels, threshold=0.0, batch_size=1, return_hierarchical=True)
    return np.array([[row[label] for label in labels] for row in output], dtype=np.float64)


# -- variants of our engine --------------------------------------------------------------------------


# Variants that differ from the default only in the encoder's attention.
ATTENTION_VARIANTS = {"eager": "eager", "sdpa": "sdpa", "flash": "flash_attention_2"}


def load_variant(path: Path, variant: str, device: torch.device, dtype: str, max_batch_tokens: int):
    from gliclass_integrations import GLiClass

    model_dtype = "bfloat16" if variant == "bf16" or dtype == "bf16" else "float32"
    # The fused DeBERTa attention sizes its position window from the length in Python, which a trace
    # would freeze at the example's length: export transformers' eager attention instead.
    attention = "eager" if variant == "onnx" else ATTENTION_VARIANTS.get(variant)
    model = GLiClass.from_pretrained(path, device=device, dtype=model_dtype, max_batch_tokens=max_batch_tokens,
                                     attn_implementation=attention)
    if variant == "int8":
        model.network = torch.ao.quantization.quantize_dynamic(model.network, {torch.nn.Linear}, dtype=torch.qint8)
    elif variant == "int8-torchao":  # the maintained API: per-token int8 activations, per-channel int8 weights
        from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_

        quantize_(model.network.encoder_model, Int8DynamicActivationInt8WeightConfig())
    elif variant == "onnx":
        model.network.encoder_model = OnnxEncoder(model.network.encoder_model, path / "encoder.onnx")
    return model


class OnnxEncoder(torch.nn.Module):
    """The backbone exported to ONNX and run by ONNX Runtime; returns the last hidden state like HF models."""

    def __init__(self, encoder: torch.nn.Module, path: Path) -> None:
        import onnxruntime

        super().__init__()
        self.config = encoder.config
        ids = torch.ones(2, 16, dtype=torch.long)
        wrapper = _LastHidden(encoder)
        torch.onnx.export(
            wrapper, (ids, torch.ones_like(ids)), str(path), input_names=["input_ids", "attention_mask"],
            output_names=["hidden"], dynamic_axes={name: {0: "batch", 1: "tokens"} for name in
                                                   ("input_ids", "attention_mask", "hidden")},
            opset_version=17, dynamo=False,
        )
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.embeddings = encoder.get_input_embeddings()

    def get_input_embeddings(self):
        return self.embeddings

    def forward(self, input_ids, attention_mask, **_):
        (hidden,) = self.session.run(
            None, {"input_ids": input_ids.numpy(), "attention_mask": attention_mask.numpy()}
        )
        return (torch.from_numpy(hidden),)


class _LastHidden(torch.nn.Module):
    def __init__(self, encoder: torch.nn.Module) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, input_ids, attention_mask):
        return self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state


# -- main --------------------------------------------------------------------------------------------


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shapes", default="small")
    parser.add_argument("--labels", default="1,2,4,8,16,32,64,128,256")
    parser.add_argument("--lengths", default="64,256,512,mixed")
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--dtype", choices=["fp32", "bf16"])
    parser.add_argument("--ref-batch", type=int, default=8)
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--variants", default="fp32")
    parser.add_argument("--max-batch-tokens", type=int, help="default: the engine's (16384 CUDA, 1024 CPU)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per cell; the best one counts")
    parser.add_argument("--check", type=int, default=6, help="texts per cell whose scores are compared")
    parser.add_argument("--peak-tflops", type=float)
    parser.add_argument("--json", type=Path)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dtype = args.dtype or ("bf16" if device.type == "cuda" else "fp32")
    peak = peak_flops(device, dtype, args.peak_tflops)
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else _cpu_name()
    print(f"# device: {device_name}, torch {torch.__version__}, threads {torch.get_num_threads()}, dtype {dtype}, "
          f"peak for MFU {peak / 1e12:.3g} TFLOP/s")
    out = args.json.open("w") if args.json else None
    print("| shape | variant | text tokens | labels | reference/s | ours/s | ratio | MFU | max abs diff | CPU share "
          "| host prep/s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for shape in args.shapes.split(","):
        with tempfile.TemporaryDirectory() as folder:
            run_shape(shape, Path(folder), args, device, dtype, peak, out)
    if out:
        out.close()
    return 0


def run_shape(shape, folder: Path, args, device, dtype, peak, out) -> None:
    from gliclass import ZeroShotClassificationPipeline

    reference, tokenizer = build_checkpoint(shape, folder, device=device)
    reference.to(device=device, dtype=torch.bfloat16 if dtype == "bf16" else torch.float32)
    pipeline = ZeroShotClassificationPipeline(
        reference, tokenizer, classification_type="multi-label", device=str(device), progress_bar=False
    )
    if args.no_reference:
        pipeline = None
    variants = {name: load_variant(folder, name, device, dtype, args.max_batch_tokens)
                for name in args.variants.split(",")}
    for length in args.lengths.split(","):
        texts = make_texts(length, args.n)
        for n_labels in map(int, args.labels.split(",")):
            for row in run_cell(shape, pipeline, variants, texts, make_labels(n_labels), args, device, peak):
                row.update(text_tokens=length, dtype=dtype)
                report(row, dtype, out)


def run_cell(shape, pipeline, variants: dict, texts, labels, args, device, peak) -> list[dict]:
    """Times the reference and each variant (best of ``args.repeat``, alternating) on one workload."""
    from gliclass_integrations.core._requests import build_request

    base = next(iter(variants.values()))
    request = build_request(texts, labels)
    tokens = [len(row.ids) for row in base.encode(request)]
    # Host preparation alone (tokenization and assembly, one thread), to set beside the device's rate.
    prepare = min(timed(torch.device("cpu"), base.encode, request) for _ in range(args.repeat))
    flops = sum(encoder_flops(base.network.encoder_model.config, count) for count in tokens)
    calls = {name: (model.classify, dict(threshold=0.5)) for name, model in variants.items()}
    if pipeline is not None:
        calls["reference"] = (pipeline, dict(batch_size=args.ref_batch, threshold=0.5))
    best = dict.fromkeys(calls, math.inf)
    for call, options in calls.values():
        call(texts[:8], labels, **options)  # warm-up
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(args.repeat):
        for name, (call, options) in calls.items():
            best[name] = min(best[name], timed(device, call, texts, labels, **options))
    # On a CPU shared with other work this falls well below 1: the timings are then unreliable.
    cpu_share = (time.process_time() - cpu) / (time.perf_counter() - wall) / torch.get_num_threads()
    check = texts[: args.check]
    expected = reference_scores(pipeline, check, labels) if pipeline is not None else None
    scores = {name: model.predict_proba(check, labels).astype(np.float64) for name, model in variants.items()}
    rows = []
    for name in variants:
        fp32 = scores.get("fp32")
        rows.append(dict(
            shape=shape, variant=name, labels=len(labels), n=len(texts), mean_tokens=float(np.mean(tokens)),
            reference_per_s=len(texts) / best["reference"] if pipeline is not None else None,
            ours_per_s=len(texts) / best[name], mfu=flops / best[name] / peak,
            max_abs_diff_vs_reference=_max_diff(scores[name], expected),
            max_abs_diff_vs_fp32=_max_diff(scores[name], fp32), cpu_share=cpu_share,
            host_prepare_per_s=len(texts) / prepare,
        ))
    return rows


def _max_diff(a: np.ndarray, b: np.ndarray | None) -> float | None:
    return None if b is None else float(np.abs(a - b).max())


def report(row: dict, dtype: str, out) -> None:
    ref, ours = row["reference_per_s"], row["ours_per_s"]
    diff = row["max_abs_diff_vs_reference"]
    if row["variant"] != "fp32" and row["variant"] != dtype and row["max_abs_diff_vs_fp32"] is not None:
        diff_text = f"{row['max_abs_diff_vs_fp32']:.2g} vs our fp32"
    elif diff is None:
        diff_text = "-"
    else:
        tolerance = TOLERANCE[dtype]
        diff_text = f"{diff:.2g}" + ("" if diff <= tolerance else f" (over {tolerance:g}!)")
    ref_text = f"{ref:.1f}" if ref else "-"
    ratio = f"{ours / ref:.2f}×" if ref else "-"
    print(f"| {row['shape']} | {row['variant']} | {row['text_tokens']} | {row['labels']} | {ref_text} | {ours:.1f} | "
          f"{ratio} | {100 * row['mfu']:.1f} % | {diff_text} | {row['cpu_share']:.2f} | "
          f"{row['host_prepare_per_s']:,.0f} |", flush=True)
    if out:
        out.write(json.dumps(row) + "\n")
        out.flush()


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"CPU {line.split(':', 1)[1].strip()} ({torch.get_num_threads()} threads)"
    except OSError:
        pass
    return "CPU"


if __name__ == "__main__":
    sys.exit(main())
