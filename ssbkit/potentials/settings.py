"""The settings of the model-side calculations (fine-tuning), in a module that imports no physics: the CLI builds
its options from them (``ssbkit.cli.types.settings_options``) without importing numpy, ASE or torch.
"""

from __future__ import annotations

from dataclasses import dataclass

from ssbkit.settings import setting, validate


@dataclass(frozen=True, kw_only=True)
class FineTuneSettings:
    """How :func:`ssbkit.potentials.finetune.fine_tune` splits the labels and trains."""

    epochs: int = setting(60, help="Most training epochs.", minimum=1)
    patience: int = setting(10, help="Stop after this many epochs without a lower validation loss.", minimum=1)
    learning_rate: float = setting(3e-4, help="Optimizer learning rate.", minimum=0, exclusive_minimum=True)
    batch_size: int = setting(4, help="Structures per training batch.", minimum=1)
    valid_fraction: float = setting(0.2, help="Fraction of the labels held out for validation.", minimum=0,
                                    maximum=1, exclusive_minimum=True)
    energy_weight: float = setting(1.0, help="Weight of the energy error (eV/atom) in the training and "
                                   "validation losses; raise it to fit energy differences such as barriers (the "
                                   "training losses are mean squared errors, so in cells of tens of atoms "
                                   "energies steer the fit only from weights of ~1000).",
                                   minimum=0)
    force_weight: float = setting(1.0, help="Weight of the force error (eV/Å) in the training and validation "
                                  "losses.", minimum=0)
    seed: int = setting(0, help="Seed of the split, the batch order and the trainer.", minimum=0)
    device: str = setting("cpu", help="Device to train on: cpu, cuda[:N] or auto.")
    dtype: str = setting("float64", help="MACE training precision (CHGNet trains in float32).",
                         choices=("float32", "float64"))
    freeze: str = setting("none", help="Layers kept at their pretrained weights: none, or graph (CHGNet: the "
                          "embeddings and every graph-convolution layer but the last atom convolution, "
                          "CHGNet's documented fine-tuning practice; SevenNet: every interaction block but the "
                          "last; faster epochs, less overfitting).",
                          choices=("none", "graph"))

    def __post_init__(self) -> None:
        validate(self)
