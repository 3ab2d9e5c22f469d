"""Find a checkpoint's files (a local directory or a hub id) and read them safely."""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import CheckpointError, CheckpointNotFoundError, UnsafeCheckpointError

SAFETENSORS = "model.safetensors"
SAFETENSORS_INDEX = "model.safetensors.index.json"
PICKLE = "pytorch_model.bin"
PICKLE_INDEX = "pytorch_model.bin.index.json"
TOKENIZER_FILES = (
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
    "*.model", "vocab.*", "merges.txt",
)


@dataclass(frozen=True)
class CheckpointFiles:
    directory: Path
    weights: tuple[Path, ...]
    pickled: bool
    revision: str | None  # the commit a hub id resolved to; None for a local directory

    @property
    def config(self) -> Path:
        return self.directory / "config.json"

    def members(self) -> list[Path]:
        """Every file of the checkpoint: config.json, the weights (and shard index) and the tokenizer files."""
        found = {self.config, *self.weights}
        for index in (SAFETENSORS_INDEX, PICKLE_INDEX):
            if (self.directory / index).is_file():
                found.add(self.directory / index)
        for pattern in TOKENIZER_FILES:
            found.update(path for path in self.directory.glob(pattern) if path.is_file())
        return sorted(found)


def hub_offline() -> bool:
    """Whether ``HF_HUB_OFFLINE`` is set, read at call time (huggingface_hub reads it once, at import)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def looks_local(name_or_path: str | os.PathLike) -> bool:
    text = os.fspath(name_or_path)
    return (
        Path(text).expanduser().exists()
        or text.startswith((".", "/", "~", "\\"))
        or text.count("/") != 1
        or (os.sep != "/" and os.sep in text)
    )


def resolve_checkpoint(
    name_or_path: str | os.PathLike,
    *,
    revision: str | None = None,
    local_files_only: bool = False,
    cache_dir: str | os.PathLike | None = None,
    allow_pickle: bool = False,
) -> CheckpointFiles:
    """Locate config.json, the weights and the tokenizer of a checkpoint."""
    if looks_local(name_or_path):
        directory = Path(name_or_path).expanduser()
        if not directory.is_dir():
            raise CheckpointNotFoundError(f"no checkpoint directory at {os.fspath(name_or_path)!r}.")
        if revision is not None:
            raise ValueError(f"revision={revision!r} applies to hub ids, not to the local directory {directory}.")
        return _files_in(directory, allow_pickle=allow_pickle, revision=None, source=str(directory))
    directory = _download(
        os.fspath(name_or_path), revision=revision, cache_dir=cache_dir,
        offline=local_files_only or hub_offline(), allow_pickle=allow_pickle,
    )
    return _files_in(directory, allow_pickle=allow_pickle, revision=directory.name, source=os.fspath(name_or_path))


def _download(repo_id: str, *, revision, cache_dir, offline: bool, allow_pickle: bool) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    patterns = ["config.json", "*.safetensors", SAFETENSORS_INDEX, *TOKENIZER_FILES]
    if allow_pickle:
        patterns += ["pytorch_model*.bin", PICKLE_INDEX]
    try:
        path = snapshot_download(
            repo_id, revision=revision, cache_dir=cache_dir, local_files_only=offline, allow_patterns=patterns
        )
    except LocalEntryNotFoundError as error:
        why = "offline mode is on (HF_HUB_OFFLINE or local_files_only)" if offline else "the hub could not be reached"
        raise CheckpointNotFoundError(
            f"{repo_id!r}{f' at revision {revision!r}' if revision else ''} is not in the local Hugging Face cache "
            f"and {why}. Download it once with network access, or pass a local checkpoint directory."
        ) from error
    except HfHubHTTPError as error:
        raise CheckpointNotFoundError(f"could not fetch {repo_id!r} from the hub: {error}") from error
    return Path(path)


def _files_in(directory: Path, *, allow_pickle: bool, revision: str | None, source: str) -> CheckpointFiles:
    if not (directory / "config.json").is_file():
        raise CheckpointNotFoundError(f"{source}: config.json is missing.")
    if not ((directory / "tokenizer.json").is_file() or (directory / "tokenizer_config.json").is_file()):
        raise CheckpointNotFoundError(
            f"{source}: no tokenizer (tokenizer.json or tokenizer_config.json); GLiClass checkpoints are saved "
            "with the tokenizer that holds the <<LABEL>>/<<SEP>> tokens."
        )
    weights = _shards(directory, SAFETENSORS, SAFETENSORS_INDEX, source)
    if weights:
        return CheckpointFiles(directory, weights, pickled=False, revision=revision)
    pickled = _shards(directory, PICKLE, PICKLE_INDEX, source)
    if pickled and not allow_pickle:
        raise UnsafeCheckpointError(
            f"{source}: the only weights are pickle files ({', '.join(p.name for p in pickled)}), which can run "
            "arbitrary code when loaded. Convert the checkpoint to safetensors, or pass allow_pickle=True if you "
            "trust it (it is then read with torch.load(weights_only=True))."
        )
    if pickled:
        return CheckpointFiles(directory, pickled, pickled=True, revision=revision)
    hint = " (repositories with only pytorch_model.bin need allow_pickle=True)" if not allow_pickle else ""
    raise CheckpointNotFoundError(f"{source}: no model weights ({SAFETENSORS} or its shards){hint}.")


def _shards(directory: Path, single: str, index: str, source: str) -> tuple[Path, ...]:
    if (directory / single).is_file():
        return (directory / single,)
    if not (directory / index).is_file():
        return ()
    weight_map = read_json(directory / index, source).get("weight_map", {})
    shards = tuple(directory / name for name in sorted(set(weight_map.values())))
    missing = [shard.name for shard in shards if not shard.is_file()]
    if missing or not shards:
        listed = ", ".join(missing) or "none"
        raise CheckpointNotFoundError(f"{source}: {index} lists shards that are missing: {listed}.")
    return shards


def read_json(path: Path, source: str) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{source}: {path.name} is not valid JSON ({error}).") from None
    if not isinstance(value, dict):
        raise CheckpointError(f"{source}: {path.name} must hold a JSON object.")
    return value


def read_weights(files: CheckpointFiles, source: str):
    """All tensors of the checkpoint, on the CPU, by name."""
    import torch

    state: dict[str, torch.Tensor] = {}
    for path in files.weights:
        try:
            if files.pickled:
                part = torch.load(path, map_location="cpu", weights_only=True)
            else:
                from safetensors.torch import load_file

                part = load_file(path, device="cpu")
        except Exception as error:  # safetensors and torch raise several unrelated types for bad files
            raise CheckpointError(f"{source}: cannot read the weights in {path.name} ({error}).") from error
        check_finite(part, f"{source}: {path.name}")
        state.update(part)
    return state


def check_finite(tensors: dict[str, Any], where: str) -> None:
    """Refuse floating-point weights that hold NaN or infinity, naming the first such tensor by name."""
    for name in sorted(tensors):
        tensor = tensors[name]
        if not tensor.is_floating_point() or not tensor.numel():
            continue
        if tensor.element_size() == 1:
            tensor = tensor.float()  # float8 has no min/max kernels; float32 holds all its values
        # One reduction pass without a temporary, about 20x faster than isfinite(...).all() on the CPU:
        # NaN propagates into both the minimum and the maximum, and an infinity is one of them.
        low, high = tensor.aminmax()
        if not (low.isfinite() and high.isfinite()):
            raise CheckpointError(
                f"{where}: {name} holds {_non_finite_counts(tensor)}; the checkpoint is damaged, or was saved "
                "from a diverged training run."
            )


def _non_finite_counts(tensor) -> str:
    nan, infinite = int(tensor.isnan().sum()), int(tensor.isinf().sum())
    counts = [f"{nan} NaN" if nan else "", f"{infinite} infinite" if infinite else ""]
    return " and ".join(filter(None, counts)) + (" value" if nan + infinite == 1 else " values")


# -- copies of a checkpoint (a spaCy pipeline saves the model it uses beside its own data) --------------


def copy_checkpoint(files: CheckpointFiles, target: str | os.PathLike) -> None:
    """Copy every file of a checkpoint into ``target`` (replaced), following hub-cache symlinks."""
    target = Path(target)
    if target.exists() and target.resolve() == files.directory.resolve():
        return  # saving to the directory the model was loaded from
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for member in files.members():
        shutil.copyfile(member, target / member.name)


def checkpoint_contents(files: CheckpointFiles) -> dict[str, bytes]:
    """``{file name: bytes}`` of every file of a checkpoint."""
    return {member.name: member.read_bytes() for member in files.members()}


_written_root: Path | None = None
_written_lock = threading.Lock()


def write_checkpoint(contents: dict[str, bytes]) -> Path:
    """Write checkpoint files (from ``checkpoint_contents``) to a private directory, removed at exit.

    The directory is named by the files' hash, so the same checkpoint is written once per process.
    """
    global _written_root
    digest = hashlib.sha256()
    for name in sorted(contents):
        if Path(name).name != name or name in ("", ".", ".."):
            raise CheckpointError(f"checkpoint data holds an invalid file name {name!r}.")
        digest.update(name.encode() + b"\0" + hashlib.sha256(contents[name]).digest())
    with _written_lock:
        if _written_root is None:
            _written_root = Path(tempfile.mkdtemp(prefix="gliclass-checkpoints-"))
            atexit.register(shutil.rmtree, _written_root, ignore_errors=True)
        directory = _written_root / digest.hexdigest()
        if not directory.is_dir():
            partial = Path(tempfile.mkdtemp(dir=_written_root))
            for name, data in contents.items():
                (partial / name).write_bytes(data)
            partial.rename(directory)
    return directory
