"""Model cards for the potentials ssbkit knows by name, and where their weights live.

A card says what a model is (version, training data, licence, elements, weights source) without
loading it. MACE foundation models are resolved to mace-torch's own download URL and cache file, so a
file fetched once by ``mace_mp()`` or by ssbkit is found by both.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ssbkit import config
from ssbkit.errors import ModelError
from ssbkit.results import Result

#: Floating-point precision a workflow gets when it passes ``dtype=None``: relaxations and NEB need
#: float64 for forces converged to 0.01 eV/Å and barriers to meV; MD samples thermal noise far larger
#: than float32 round-off and runs ~2x faster in it.
DEFAULT_DTYPE = {"relax": "float64", "neb": "float64", "md": "float32"}


@dataclass(frozen=True)
class ModelCard(Result):
    """What a named potential is and where its weights come from."""

    name: str
    backend: str  # "chgnet", "sevennet", "mace"
    version: str
    training_data: str
    license: str
    elements: str  # human-readable coverage; the exact set is read from the loaded model
    weights: str  # where the weights come from
    dtypes: tuple[str, ...]  # precisions the backend can run in; first is preferred
    offline: bool  # weights ship with the installed package
    url: str | None = None  # download address for weights not in a wheel
    checkpoint: str | None = None  # the backend's own name for weights shipped in its wheel
    #: Whether the training energies already carry the Materials Project's MP2020 anion/U corrections:
    #: True (CHGNet: add none), False (raw MPtrj GGA/GGA+U energies: add them to mix with MP entries),
    #: None (not on the MP energy scale: other DFT data, or unknown).
    mp2020_in_training_data: bool | None = None
    functional: str = "PBE/PBE+U"  # the reference its energies reproduce: MP-scale entries need PBE/PBE+U


_MPTRJ = "MPtrj (1.58M PBE/PBE+U frames)"
_MACE_RELEASES = "https://github.com/ACEsuit/mace-mp/releases/download"
_MACE_FOUNDATIONS = "https://github.com/ACEsuit/mace-foundations/releases/download"


def _sevennet(name: str, version: str, checkpoint: str) -> ModelCard:
    return ModelCard(
        name=name, backend="sevennet", version=version, training_data=_MPTRJ, license="GPL-3.0",
        elements="89 (H-Pu)",
        weights=f"sevenn {checkpoint} checkpoint, shipped in the sevenn 0.10.4 wheel",
        dtypes=("float32",), offline=True, checkpoint=checkpoint, mp2020_in_training_data=False,
    )


def _mace(name: str, version: str, data: str, license_: str, url: str,
          mp2020_in_training_data: bool | None = False) -> ModelCard:
    return ModelCard(
        name=name, backend="mace", version=version, training_data=data, license=license_,
        elements="89 (H-Pu)", weights="downloaded on first use into the mace-torch cache",
        dtypes=("float64", "float32"), offline=False, url=url,
        mp2020_in_training_data=mp2020_in_training_data,
    )


CARDS: dict[str, ModelCard] = {
    card.name: card
    for card in [
        ModelCard(
            name="chgnet", backend="chgnet", version="0.3.0", training_data=_MPTRJ,
            license="BSD-3-Clause", elements="94 (H-Pu)",
            weights="CHGNet 0.3.0 state dict, shipped in the chgnet wheel",
            dtypes=("float32",), offline=True, mp2020_in_training_data=True, checkpoint="0.3.0",
        ),
        ModelCard(
            name="chgnet-r2scan", backend="chgnet", version="CHGNet r2SCAN (transfer learning from 0.3.0)",
            training_data="MP r2SCAN relaxations (transfer learning from MPtrj); energies on the r2SCAN scale",
            license="BSD-3-Clause", elements="94 (H-Pu)",
            weights="CHGNet r2scan state dict, shipped in the chgnet wheel (chgnet >= 0.4)",
            dtypes=("float32",), offline=True, mp2020_in_training_data=False, checkpoint="r2scan",
            functional="r2SCAN",
        ),
        _sevennet("sevennet-0", "SevenNet-0 (11Jul2024)", "7net-0"),
        _sevennet("sevennet-0-22may2024", "SevenNet-0 (22May2024)", "7net-0_22May2024"),
        _sevennet("sevennet-l3i5", "SevenNet-l3i5", "7net-l3i5"),
        _mace("mace-mp-0-small", "MACE-MP-0 small (2023-12-10)", _MPTRJ, "MIT",
              f"{_MACE_RELEASES}/mace_mp_0/2023-12-10-mace-128-L0_energy_epoch-249.model"),
        _mace("mace-mp-0-medium", "MACE-MP-0 medium (2023-12-03)", _MPTRJ, "MIT",
              f"{_MACE_RELEASES}/mace_mp_0/2023-12-03-mace-128-L1_epoch-199.model"),
        _mace("mace-mp-0-large", "MACE-MP-0 large (2022.9)", _MPTRJ, "MIT",
              f"{_MACE_RELEASES}/mace_mp_0/MACE_MPtrj_2022.9.model"),
        _mace("mace-mp-0b3-medium", "MACE-MP-0b3 medium", _MPTRJ, "MIT",
              f"{_MACE_RELEASES}/mace_mp_0b3/mace-mp-0b3-medium.model"),
        _mace("mace-mpa-0-medium", "MACE-MPA-0 medium", "MPtrj + sAlex (3.5M PBE frames)",
              "MIT", f"{_MACE_RELEASES}/mace_mpa_0/mace-mpa-0-medium.model"),
        _mace("mace-omat-0-small", "MACE-OMAT-0 small", "OMat24 (100M+ PBE frames)",
              "ASL (academic)",
              f"{_MACE_RELEASES}/mace_omat_0/mace-omat-0-small.model",
              mp2020_in_training_data=None),
        _mace("mace-omat-0-medium", "MACE-OMAT-0 medium", "OMat24 (100M+ PBE frames)",
              "ASL (academic)",
              f"{_MACE_RELEASES}/mace_omat_0/mace-omat-0-medium.model",
              mp2020_in_training_data=None),
        _mace("mace-matpes-pbe-0", "MACE-MATPES-PBE-0", "MatPES PBE (OMAT fine-tune)",
              "ASL (academic)",
              f"{_MACE_FOUNDATIONS}/mace_matpes_0/MACE-matpes-pbe-omat-ft.model",
              mp2020_in_training_data=None),
        _mace("mace-matpes-r2scan-0", "MACE-MATPES-r2SCAN-0", "MatPES r2SCAN (OMAT fine-tune)",
              "ASL (academic)",
              f"{_MACE_FOUNDATIONS}/mace_matpes_0/MACE-matpes-r2scan-omat-ft.model",
              mp2020_in_training_data=None),
    ]
}

DEFAULT_MODEL = "chgnet"


def mace_cache_dir() -> Path:
    """mace-torch's download cache: ``$XDG_CACHE_HOME/mace`` (default ``~/.cache/mace``)."""
    return config.user_cache_home() / "mace"


def mace_cache_path(url: str) -> Path:
    """The file mace-torch's ``download_mace_mp_checkpoint`` stores ``url`` under."""
    file_name = "".join(c for c in os.path.basename(url) if c.isalnum() or c == "_")
    return mace_cache_dir() / file_name


def card(name: str) -> ModelCard:
    """The model card for a registered name; ModelError listing the known names otherwise."""
    try:
        return CARDS[name]
    except KeyError:
        known = ", ".join(CARDS)
        raise ModelError(f"unknown model {name!r}; known: {known}, or chgnet:PATH, sevennet:PATH or "
                         "mace:PATH for a local model file") from None


#: Prefixes that name a local model file, and the backend that reads it.
LOCAL_PREFIXES = {"chgnet:": "chgnet", "sevennet:": "sevennet", "mace:": "mace"}
_BACKEND_NAMES = {"chgnet": "CHGNet", "sevennet": "SevenNet", "mace": "MACE"}


def local_model_path(name: str) -> tuple[str, Path] | None:
    """(backend, path) for a local model name (``chgnet:PATH``, ``sevennet:PATH``, ``mace:PATH``), else None;
    ModelError when the file does not exist."""
    for prefix, backend in LOCAL_PREFIXES.items():
        if name.startswith(prefix):
            path = Path(name.removeprefix(prefix)).expanduser()
            if not path.is_file():
                raise ModelError(f"{_BACKEND_NAMES[backend]} model file not found: {path}")
            return backend, path
    return None


def local_card(backend: str, path: Path) -> ModelCard:
    """Card for a local model file (``chgnet:PATH``, ``sevennet:PATH``, ``mace:PATH``); a fine-tuned model's card
    JSON next to it (``PATH.card.json``, written by ``ssbkit.potentials.finetune``) fills in its base model."""
    version, training_data = "local file", "user-supplied"
    card_file = path.with_name(path.name + ".card.json")
    if card_file.is_file():
        import json

        try:
            written = json.loads(card_file.read_text())
            version = f"fine-tuned from {written['base']} ({written['base_version']})"
            training_data = (f"{written['base_training_data']} + {sum(s['count'] for s in written['labels'])} "
                             "reference labels")
        except (ValueError, KeyError, TypeError):
            pass  # a card that does not parse leaves the file described as a plain local file
    return ModelCard(
        name=f"{backend}:{path}", backend=backend, version=version, training_data=training_data,
        license="user-supplied", elements="read from the model file", weights=str(path),
        dtypes=("float64", "float32") if backend == "mace" else ("float32",), offline=True,
    )


def local_mace_card(path: Path) -> ModelCard:
    """Card for a MACE model file given as ``mace:PATH``."""
    return local_card("mace", path)


def resolve_mace_weights(model_card: ModelCard, download: bool | None = None) -> Path:
    """Path of a MACE foundation model's weights, downloading them into the cache if allowed.

    ``download=None`` downloads unless ``SSBKIT_OFFLINE`` is set (ssbkit.config). Raises ModelError
    saying how to supply the file when it is absent and cannot be downloaded.
    """
    assert model_card.url is not None
    if download is None:
        download = not config.offline()
    target = mace_cache_path(model_card.url)
    if target.is_file():
        return target
    how = (f"download {model_card.url} on a machine with internet access and copy it to {target}, "
           f"or load it by path with 'mace:/path/to/{os.path.basename(model_card.url)}'")
    if not download:
        raise ModelError(f"weights for {model_card.name} are not in the cache (SSBKIT_OFFLINE is "
                         f"set); {how}")
    import urllib.error
    import urllib.request

    from ssbkit.io import atomic_write

    def stream(partial: Path) -> None:
        with urllib.request.urlopen(model_card.url, timeout=60) as response, open(partial, "wb") as out:
            if "text/html" in response.headers.get("Content-Type", ""):
                raise ModelError(f"{model_card.url} returned a web page, not model weights; {how}")
            while block := response.read(1 << 20):
                out.write(block)

    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        return atomic_write(target, stream)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise ModelError(f"weights for {model_card.name} are not in the cache and could not be "
                         f"downloaded ({exc}); {how}") from exc
