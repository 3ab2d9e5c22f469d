"""DeBERTa encoder alone: transformers' eager attention against this package's fused attention.

An ablation behind ``throughput.py``: the same randomly initialised DeBERTa-v2 backbone (shapes as
in throughput.py: ``small`` or ``mini`` = mDeBERTa-v3-base) runs full batches of one text length
under a token budget, once with transformers' ``DisentangledSelfAttention`` and once with
``FusedDisentangledAttention`` swapped in. Prints milliseconds per batch (best of ``--repeat``,
alternating), the speed-up, and the largest difference of the last hidden states (a quarter of each
batch's rows are padded to half length, and only real tokens are compared).

Usage:
    python benchmarks/attention.py --shapes small,mini --lengths 64,256,512              # CPU
    python benchmarks/attention.py --shapes mini --dtype bf16 --tokens 16384             # GPU
"""

from __future__ import annotations

import argparse
import copy
import sys
import time

import torch
from throughput import encoder_config

from gliclass_integrations.core._attention import fuse_disentangled_attention


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shapes", default="small,mini")
    parser.add_argument("--lengths", default="64,256,512")
    parser.add_argument("--tokens", type=int, help="tokens per batch (default 16384 on CUDA, 1024 on the CPU)")
    parser.add_argument("--dtype", choices=["fp32", "bf16"])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int)
    return parser.parse_args(argv)


def timed(device: torch.device, model, **inputs) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    model(**inputs)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def main(argv=None) -> int:
    from transformers import DebertaV2Model

    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dtype = torch.bfloat16 if (args.dtype or ("bf16" if device.type == "cuda" else "fp32")) == "bf16" else torch.float32
    budget = args.tokens or (16384 if device.type == "cuda" else 1024)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"# {name}, torch {torch.__version__}, {str(dtype)[6:]}, {budget} tokens per batch")
    print("| shape | text tokens | rows | eager ms | fused ms | speed-up | max abs diff |")
    print("|---|---|---|---|---|---|---|")
    for shape in args.shapes.split(","):
        config = encoder_config(shape, 1000)  # the vocabulary size does not change the encoder's time
        torch.manual_seed(0)
        eager = DebertaV2Model(config).to(device=device, dtype=dtype).eval()
        fused = copy.deepcopy(eager)
        fuse_disentangled_attention(fused)
        for length in map(int, args.lengths.split(",")):
            rows = max(1, budget // length)
            input_ids = torch.randint(5, 1000, (rows, length), device=device)
            mask = torch.ones(rows, length, dtype=torch.long, device=device)
            mask[: rows // 4, length // 2 :] = 0
            best = {"eager": float("inf"), "fused": float("inf")}
            with torch.inference_mode():
                expected = eager(input_ids=input_ids, attention_mask=mask).last_hidden_state
                found = fused(input_ids=input_ids, attention_mask=mask).last_hidden_state
                difference = (found - expected)[mask.bool()].abs().max().item()
                for _ in range(args.repeat):
                    for label, model in (("eager", eager), ("fused", fused)):
                        best[label] = min(best[label], timed(device, model, input_ids=input_ids, attention_mask=mask))
            print(f"| {shape} | {length} | {rows} | {1000 * best['eager']:.1f} | {1000 * best['fused']:.1f} | "
                  f"{best['eager'] / best['fused']:.2f}× | {difference:.2g} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
