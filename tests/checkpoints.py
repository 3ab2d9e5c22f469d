"""Tiny GLiClass checkpoints built at test time.

Tokenizers are made locally with ``tokenizers`` (no hub), models are built and saved with the
reference package ``gliclass`` (a test-only dependency), with seeded random weights. Every test that
needs a model takes it from here, so nothing reaches the network.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import torch

STRUCTURAL_TOKENS = ["<<LABEL>>", "<<SEP>>", "<<EXAMPLE>>"]

CORPUS = [
    "the quick brown fox jumps over the lazy dog",
    "i love this product and would buy it again",
    "terrible service and very slow shipping",
    "the battery died after two days",
    "our team won the match last night",
    "the election results were announced today",
    "new smartphone released with a faster chip",
    "the movie was boring and far too long",
    "great food friendly staff nice place",
    "stocks fell sharply after the report",
    "classify the sentiment of this review",
    "what is the topic of the text",
    "labels positive negative neutral sports politics technology business",
    "sentiment topic product service shipping price quality",
    "la comida estaba deliciosa y el servicio excelente",
    "das ist ein sehr gutes buch",
    "le film etait trop long",
    "ten phone nie dziala",
    "this is an example of a short text",
    "examples help the model understand the task",
]


def _words() -> Counter:
    counts: Counter = Counter()
    for sentence in CORPUS:
        counts.update(sentence.split())
    return counts


def _alphabet() -> list[str]:
    letters = set("".join(CORPUS)) | set("abcdefghijklmnopqrstuvwxyz0123456789")
    letters |= set(".,:;!?'\"()-<>[]{}$#@/\n")
    letters.discard(" ")
    return sorted(letters)


def _unigram_vocab(specials: list[str]) -> list[tuple[str, float]]:
    counts = _words()
    total = sum(counts.values()) * 4
    vocab = [(token, 0.0) for token in specials]
    vocab.append(("▁", math.log(0.05)))
    vocab += [(char, math.log(0.01)) for char in _alphabet()]
    vocab += [("▁" + word, math.log(count / total)) for word, count in sorted(counts.items())]
    return vocab


def _wrap_and_save(backend, path: Path, **special_tokens) -> None:
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(tokenizer_object=backend, **special_tokens)
    fast.add_tokens(STRUCTURAL_TOKENS, special_tokens=True)
    fast.save_pretrained(str(path))


def build_tokenizer(kind: str, path: Path) -> None:
    """Save a tokenizer of ``kind`` (unigram, t5, bpe, wordpiece) with the GLiClass tokens to ``path``."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    if kind == "unigram":  # DeBERTa-v3 ids and layout
        specials = ["[PAD]", "[CLS]", "[SEP]", "[UNK]", "[MASK]"]
        backend = Tokenizer(models.Unigram(_unigram_vocab(specials), unk_id=3))
        backend.normalizer = normalizers.Sequence([normalizers.Lowercase()])
        backend.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="always")
        backend.decoder = decoders.Metaspace(prepend_scheme="always")
        backend.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 1), ("[SEP]", 2)]
        )
        _wrap_and_save(
            backend, path, pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]",
            unk_token="[UNK]", mask_token="[MASK]",
        )
    elif kind == "t5":  # sentencepiece-like, no [CLS], "</s>" closes the sequence, ▁ only at the start
        specials = ["<pad>", "</s>", "<unk>"]
        backend = Tokenizer(models.Unigram(_unigram_vocab(specials), unk_id=2))
        backend.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="first")
        backend.decoder = decoders.Metaspace(prepend_scheme="first")
        backend.post_processor = processors.TemplateProcessing(
            single="$A </s>", special_tokens=[("</s>", 1)]
        )
        _wrap_and_save(backend, path, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
    elif kind == "bpe":  # byte-level BPE as in ModernBERT
        specials = ["[PAD]", "[CLS]", "[SEP]", "[UNK]", "[MASK]"]
        backend = Tokenizer(models.BPE())
        backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        backend.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=400, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        backend.train_from_iterator(CORPUS, trainer=trainer)
        backend.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 1), ("[SEP]", 2)]
        )
        _wrap_and_save(
            backend, path, pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]",
            unk_token="[UNK]", mask_token="[MASK]",
        )
    elif kind == "wordpiece":  # BERT uncased
        specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        vocab = {token: i for i, token in enumerate(specials)}
        for char in _alphabet():
            vocab.setdefault(char, len(vocab))
            vocab.setdefault("##" + char, len(vocab))
        for word in sorted(_words()):
            vocab.setdefault(word, len(vocab))
        backend = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
        backend.normalizer = normalizers.BertNormalizer(lowercase=True)
        backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        backend.decoder = decoders.WordPiece()
        backend.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
        )
        _wrap_and_save(
            backend, path, pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]",
            unk_token="[UNK]", mask_token="[MASK]",
        )
    else:
        raise ValueError(f"unknown tokenizer kind {kind!r}")


# Backbone configs, tiny but with the switches of the released families.
ENCODERS = {
    "deberta": (
        "unigram",
        {  # mDeBERTa-v3 settings
            "model_type": "deberta-v2", "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
            "intermediate_size": 64, "max_position_embeddings": 512, "relative_attention": True,
            "position_buckets": 16, "max_relative_positions": -1, "norm_rel_ebd": "layer_norm",
            "share_att_key": True, "pos_att_type": ["p2c", "c2p"], "position_biased_input": False,
            "type_vocab_size": 0, "hidden_act": "gelu", "layer_norm_eps": 1e-7, "pad_token_id": 0,
        },
    ),
    "modernbert": (
        "bpe",
        {  # one sliding-window layer (layer 1) between two global ones
            "model_type": "modernbert", "hidden_size": 32, "num_hidden_layers": 3, "num_attention_heads": 4,
            "intermediate_size": 64, "max_position_embeddings": 1024, "global_attn_every_n_layers": 2,
            "local_attention": 8, "pad_token_id": 0, "cls_token_id": 1, "sep_token_id": 2,
            "bos_token_id": 1, "eos_token_id": 2,
        },
    ),
    "t5": (
        "t5",
        {  # mT5 encoder (gated GELU, relative position buckets)
            "model_type": "mt5", "d_model": 32, "d_kv": 8, "num_heads": 4, "d_ff": 64, "num_layers": 2,
            "relative_attention_num_buckets": 8, "relative_attention_max_distance": 32,
            "feed_forward_proj": "gated-gelu", "pad_token_id": 0, "eos_token_id": 1,
            "decoder_start_token_id": 0, "tie_word_embeddings": False,
        },
    ),
    "bert": (
        "wordpiece",
        {
            "model_type": "bert", "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
            "intermediate_size": 64, "max_position_embeddings": 256, "type_vocab_size": 2,
            "pad_token_id": 0,
        },
    ),
}

# Head layouts: each switch of the uni-encoder appears in at least one of them.
HEADS = {
    "multilang": dict(  # layout of the released multilang checkpoints
        scorer_type="cross-attn", pooling_strategy="pass", class_token_pooling="average",
        extract_text_features=True, prompt_first=True, scorer_num_heads=4, scorer_mlp_hidden_size=16,
    ),
    "crossattn-whole": dict(
        scorer_type="cross-attn", pooling_strategy="pass", class_token_pooling="first",
        extract_text_features=False, prompt_first=False, scorer_num_heads=2, scorer_mlp_hidden_size=8,
        projector_hidden_act="gelu_new",
    ),
    "simple-first": dict(scorer_type="simple", pooling_strategy="first", prompt_first=False),
    "instruct": dict(
        scorer_type="mlp", pooling_strategy="first", class_token_pooling="average", prompt_first=True,
        use_segment_embeddings=True, scorer_mlp_hidden_size=32,
    ),
    "weighted-dot-avg": dict(
        scorer_type="weighted-dot", pooling_strategy="avg", extract_text_features=True, prompt_first=False,
    ),
    "hopfield-max": dict(
        scorer_type="hopfield", pooling_strategy="max", embed_class_token=False, prompt_first=True,
    ),
    "normalized-rms": dict(
        scorer_type="simple", pooling_strategy="rms", normalize_features=True, logit_scale_init_value=3.5,
        projector_hidden_act="relu", extract_text_features=True, prompt_first=True,
    ),
    "mlp-sum": dict(
        scorer_type="mlp", pooling_strategy="sum", class_token_pooling="average", embed_class_token=False,
        prompt_first=False,
    ),
    "abs-max": dict(scorer_type="simple", pooling_strategy="abs_max", extract_text_features=True),
    "abs-avg": dict(scorer_type="mlp", pooling_strategy="abs_avg", prompt_first=True, projector_hidden_act="silu"),
    "last": dict(scorer_type="simple", pooling_strategy="last", prompt_first=True),
    "last-extract": dict(scorer_type="weighted-dot", pooling_strategy="last", extract_text_features=True),
    "average-whole": dict(  # average label pooling without text extraction: the last span runs to the end
        scorer_type="simple", pooling_strategy="avg", class_token_pooling="average", prompt_first=True,
    ),
    "lstm": dict(
        scorer_type="cross-attn", pooling_strategy="pass", use_lstm=True, scorer_num_heads=4,
        scorer_mlp_hidden_size=16, prompt_first=True,
    ),
    "lstm-first": dict(scorer_type="simple", pooling_strategy="first", use_lstm=True, extract_text_features=True),
    "layer-id": dict(scorer_type="mlp", pooling_strategy="first", encoder_layer_id=1, prompt_first=True),
    "squeeze": dict(scorer_type="simple", pooling_strategy="avg", squeeze_layers=True),
    "lstm-extract": dict(
        scorer_type="cross-attn", pooling_strategy="pass", use_lstm=True, extract_text_features=True,
        class_token_pooling="average", scorer_num_heads=4, scorer_mlp_hidden_size=16,
    ),
}


def build_checkpoint(path: Path, encoder: str, head: dict, seed: int = 0, dtype=torch.float32) -> Path:
    """Build a tiny GLiClass uni-encoder with the reference package and save it (with tokenizer) to ``path``."""
    from gliclass import GLiClassModel
    from gliclass.config import GLiClassModelConfig
    from transformers import AutoTokenizer

    tokenizer_kind, encoder_config = ENCODERS[encoder]
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    build_tokenizer(tokenizer_kind, path)
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    label_id, sep_id, example_id = tokenizer.convert_tokens_to_ids(STRUCTURAL_TOKENS)

    config = GLiClassModelConfig(
        encoder_config=dict(encoder_config, vocab_size=len(tokenizer) - 3),
        encoder_model=f"tiny-{encoder}-not-on-disk",
        class_token_index=label_id,
        text_token_index=sep_id,
        example_token_index=example_id,
        architecture_type="uni-encoder",
        **head,
    )
    torch.manual_seed(seed)
    model = GLiClassModel(config)
    model.resize_token_embeddings(len(tokenizer))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        # Re-randomise every weight so that scores spread out instead of sitting near 0.5, keeping
        # activations well scaled (fan-in scaling), as in a trained model.
        for name, parameter in model.named_parameters():
            if name.endswith("logit_scale"):
                continue
            noise = torch.randn(parameter.shape, generator=generator)
            if parameter.dim() == 1:
                is_gain = name.endswith("weight")  # LayerNorm / RMSNorm gains
                parameter.copy_(1.0 + 0.1 * noise if is_gain else 0.1 * noise)
            elif "embed" in name or "shared" in name or "relative_attention_bias" in name:
                parameter.copy_(0.5 * noise)
            else:
                parameter.copy_(noise / math.sqrt(parameter.shape[-1]))
    _spread_logits(model, tokenizer, head)
    model = model.to(dtype)
    model.save_pretrained(str(path))
    return path


PROBE_TEXTS = [
    "i love this product", "the election results were announced today", "the movie was far too long",
    "our team won the match", "stocks fell sharply after the report", "great food friendly staff nice place",
    "new smartphone released with a faster chip", "terrible service",
]
PROBE_LABELS = ["positive", "negative", "sports", "politics", "technology"]
FINAL_LAYER = {"weighted-dot": "out_mlp.3", "mlp": "mlp.4", "hopfield": "mlp.4", "cross-attn": "score_mlp.4"}


def _spread_logits(model, tokenizer, head: dict, target_std: float = 2.0) -> None:
    """Rescale the last scoring step so that scores on a probe spread over (0, 1).

    Random weights otherwise give logits near 0 (scores near 0.5) or far from it (scores near 0 or
    1), and parity checks on nearly constant scores prove little. Logits stay affine in the weights
    that are changed, so the checkpoint is still an ordinary GLiClass model.
    """
    import numpy as np
    from gliclass import ZeroShotClassificationPipeline

    model.eval()
    patch_reference(model, head)
    pipeline = ZeroShotClassificationPipeline(model, tokenizer, device="cpu", progress_bar=False)

    def probe_logits():
        rows = pipeline.get_embeddings(PROBE_TEXTS, PROBE_LABELS, batch_size=1)
        return np.concatenate([row["logits"] for row in rows]).astype(np.float64)

    inner = model.model
    scorer = head.get("scorer_type", "simple")
    with torch.no_grad():
        if scorer == "simple":
            # Dot products of the two projections share a large common offset: centre both first.
            for projector in (inner.text_projector, inner.classes_projector):
                seen = []
                hook = projector.register_forward_hook(lambda _m, _i, out, seen=seen: seen.append(out.flatten(0, -2)))
                probe_logits()
                hook.remove()
                projector.linear_2.bias.sub_(torch.cat(seen).mean(0))
        logits = probe_logits()
        factor = target_std / max(logits.std(), 1e-6)
        if head.get("normalize_features"):
            inner.logit_scale.mul_(factor)
        elif scorer == "simple":
            inner.classes_projector.linear_2.weight.mul_(factor)
            inner.classes_projector.linear_2.bias.mul_(factor)
        else:
            layer = inner.scorer.get_submodule(FINAL_LAYER[scorer])
            layer.weight.mul_(factor)
            layer.bias.sub_(float(logits.mean())).mul_(factor)


def patch_reference(model, head: dict) -> None:
    """Patch the reference where it crashes, to the intended behaviour documented in docs/parity.md."""
    inner = model.model
    if head.get("encoder_layer_id", -1) != -1:
        # encoder_layer_id needs hidden states, which only layer_wise (a training switch that is inert
        # without labels) requests.
        inner.config.layer_wise = True
    if head.get("squeeze_layers"):
        # LayerwiseAttention is sized for the transformer layers but is handed the embedding output too.
        # Intended: mix the transformer layers' outputs.
        mixer = inner.layer_wise_attention
        mix = mixer.forward
        mixer.forward = lambda hidden_states: mix(hidden_states[1:])
    if head.get("use_lstm") and head.get("extract_text_features") and head.get("pooling_strategy") == "pass":
        # The LSTM output is as long as the text part, its mask as long as the row.
        # Intended: pad the LSTM output back to the mask's length.
        lstm = inner.lstm
        run = lstm.forward

        def padded(x, mask):
            output = run(x, mask)
            return torch.nn.functional.pad(output, (0, 0, 0, mask.shape[1] - output.shape[1]))

        lstm.forward = padded


def load_reference(path: Path, head: dict | None = None):
    """The reference model (float32, patched where it crashes) and tokenizer of a checkpoint."""
    from gliclass import GLiClassModel
    from transformers import AutoTokenizer

    model = GLiClassModel.from_pretrained(str(path), dtype=torch.float32)
    model.eval()
    if head is not None:
        patch_reference(model, head)
    return model, AutoTokenizer.from_pretrained(str(path))


def fill_hub_cache(cache_dir: Path, repo_id: str, checkpoint: Path, commit: str | None = None) -> str:
    """Put ``checkpoint`` into a Hugging Face cache under ``repo_id`` (branch main); returns the commit."""
    import hashlib
    import shutil

    commit = commit or hashlib.sha1(f"{repo_id}:{checkpoint}".encode()).hexdigest()
    folder = Path(cache_dir) / ("models--" + repo_id.replace("/", "--"))
    shutil.copytree(checkpoint, folder / "snapshots" / commit, dirs_exist_ok=True)
    (folder / "refs").mkdir(parents=True, exist_ok=True)
    (folder / "refs" / "main").write_text(commit)
    return commit
