"""What defines a training run, in four parts (model / data / optimizer / trainer).

In the manner of TF Model Garden's ``ExperimentConfig``: nested dataclasses,
stored as nested JSON in ``model_dir/config.json``. Every field is also a
command-line flag of the same name (``tfpose.flags`` generates them from the
field metadata), except where ``flag=`` says otherwise (``ModelConfig.kind``
is ``--model``). Flag names are unique across the parts, so a flat
``{flag: value}`` mapping builds a config (:meth:`ExperimentConfig.from_flat`).

This module imports neither TensorFlow nor Keras: a CLI can define its flags
(and print ``--help``) before the heavy imports.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Optional, Sequence, Tuple

# Dataset -> (2D skeleton, 3D skeleton, training split, evaluation split).
DATASETS: Dict[str, Tuple[str, str, str, str]] = {
    "human36m/gt": ("h36m17", "h36m17", "train", "test"),
    "human36m/sh": ("h36m16", "h36m17", "train", "test"),
    "humaneva/gt": ("humaneva15", "humaneva15", "train", "validation"),
}
MODEL_KINDS = ("baseline", "asn", "repgan")  # tfpose.models.registry holds what each needs
ASN_VARIANTS = ("basic", "basic+ref", "basic+ref+AM*", "basic+ref+AM", "basic+ref+AM+REM")
KCS_MODES = ("wkcs", "kcs", "none")
LIPSCHITZ_MODES = ("gp", "clip")
GAN_UPDATES = ("alternating", "simultaneous")
REAL_SAMPLES = ("independent", "paired")
GEOMETRIES = ("backproject", "backproject_hybrid", "hybrid", "mismatched")
LR_SCHEDULES = ("exponential", "cosine", "linear", "constant")
PRECISIONS = ("none", "bfloat16", "auto")
# Named bundles of settings (``train.py --recipe=NAME``); flags given beside a recipe win.
# "paper" is the papers' method and schedule constants (the defaults). "fast_cpu" anneals to
# zero within the run and mirrors half the training poses: chosen on validation subject S8
# (docs/RESULTS.md, "Time to accuracy"); give --epochs to fit the time at hand. "repgan_cpu"
# is RepGAN's, chosen on S8 the same way (docs/RESULTS.md, "RepGAN on S8"): decay linearly to
# zero, a weight average, batch 128 and no dropout (the paper names dropout but no rate).
RECIPES: Dict[str, Dict[str, Any]] = {
    "paper": {},
    "fast_cpu": {"lr_schedule": "cosine", "warmup_steps": 500, "flip": True, "batch_size": 256},
    "repgan_cpu": {"lr_schedule": "linear", "ema_decay": 0.999, "batch_size": 128,
                   "dropout": 0.0},
}
# The recipe of a run that names none: the papers' constants for the supervised models; for
# RepGAN, whose paper gives neither a schedule nor a dropout rate, the one measured on S8
# (``--recipe=paper`` still gives the shared Martinez constants).
DEFAULT_RECIPES: Dict[str, str] = {"baseline": "paper", "asn": "paper", "repgan": "repgan_cpu"}
assert tuple(DEFAULT_RECIPES) == MODEL_KINDS, "every model kind needs a default recipe"

# Settings a resume may change: they do not alter what the weights are trained to.
RESUMABLE_CHANGES = frozenset({"epochs", "checkpoint_every", "steps_per_call", "jit_compile",
                               "val_stride"})


def _field(default, help: str, choices: Optional[Sequence[str]] = None,  # noqa: A002
           flag: Optional[str] = None, **kwargs):
    metadata = {"help": help}
    if choices is not None:
        metadata["choices"] = tuple(choices)
    if flag is not None:
        metadata["flag"] = flag
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata, **kwargs)


def check_dataset(name: str) -> Tuple[str, str, str, str]:
    """(2D skeleton, 3D skeleton, training split, evaluation split) of a dataset."""
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}") from None


def _check_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


def _check_min(part, names: Sequence[str], minimum) -> None:
    for name in names:
        value = getattr(part, name)
        if value is not None and value < minimum:
            raise ValueError(f"{name} must be >= {minimum}, got {value}")


@dataclasses.dataclass
class ModelConfig:
    """The network and its losses."""

    kind: str = _field("baseline", "Which method to train.", MODEL_KINDS, flag="model")
    width: int = _field(1024, "Hidden width of the fully connected layers.")
    num_blocks: int = _field(2, "Residual blocks of the trunk (Martinez: 2). RepGAN: the "
                             "generator's; its reprojector keeps one.")
    dropout: float = _field(0.5, "Dropout rate.")
    max_norm: bool = _field(True, "Max-norm constraint on weights (Martinez).")
    fast_dropout: bool = _field(True, "Dropout masks from 8 random bits per unit (rate rounded "
                                "to 1/256; exact for 0.5) instead of a float each.")
    asn_variant: str = _field("basic+ref+AM+REM", "ASN ablation (Table 2 rows).", ASN_VARIANTS)
    kcs: str = _field("wkcs", "RepGAN critic's KCS input.", KCS_MODES)
    synchronous: bool = _field(True, "RepGAN: train the reprojector with the GAN (else "
                               "separately, from real 3D/2D pairs).")
    lipschitz: str = _field("gp", "RepGAN critic constraint: gradient penalty or weight "
                            "clipping.", LIPSCHITZ_MODES)
    gp_weight: float = _field(10.0, "Gradient penalty weight.")
    clip_value: float = _field(0.01, "Weight clipping bound.")
    lambda_angle: Optional[float] = _field(None, "Weight of L_angle (RepGAN eq. 13); default 1 "
                                           "where the 2D joints include the nose "
                                           "(human36m/gt), else 0.")
    critic_steps: int = _field(1, "RepGAN: critic updates per generator update (the paper "
                               "does not say; RepNet used 5).")
    gan_updates: str = _field("alternating", "RepGAN: 'alternating' updates the critic, then "
                              "the generator and reprojector against the updated critic (the "
                              "paper: trained alternately); 'simultaneous' updates all three "
                              "from one forward pass.", GAN_UPDATES)
    shared_generator_pass: bool = _field(True, "RepGAN, alternating updates: the last critic "
                                         "update and the generator update share one forward "
                                         "pass of the generator and reprojector (the same "
                                         "dropout masks, one BatchNorm statistics update per "
                                         "step); off: each runs its own pass (runs before "
                                         "2026-12-07).")
    real_samples: str = _field("independent", "RepGAN: the critic's real (3D, 2D) pairs are "
                               "drawn in an order of their own (independent: no frame's 3D is "
                               "judged beside its own 2D input) or are the generator's own "
                               "input frames (paired: the paper writes X_real for both).",
                               REAL_SAMPLES)
    critic_width: Optional[int] = _field(None, "RepGAN: width of the critic's layers (default: "
                                         "--width; the paper does not give it). The critic's "
                                         "1024-wide residual block, run twice more for the "
                                         "gradient penalty, is most of a RepGAN step.")
    geometry: Optional[str] = _field(
        None, "RepGAN: how a 3D pose is made from the 2D input and the generator's depth, "
        "and so how the critic's real poses are built. backproject: the 2D as camera rays of "
        "the training frame, each joint placed on its ray at its depth; reals are camera-"
        "frame poses (the true depth gives exactly the real pose). backproject_hybrid: as "
        "backproject, but reals are built like fakes from their own 2D's rays and their "
        "depth, so a detector's 2D noise is in both (ours, for SH training). hybrid: x-y "
        "copied from the root-scaled 2D beside the depth; reals built the same way from "
        "their own 2D. "
        "mismatched: as hybrid but with camera-frame reals, whose x-y no fake can match "
        "(before 2026-11-22). Default: backproject where the dataset's frame has a focal "
        "length (Human3.6M), else hybrid.", GEOMETRIES)
    normalize_reprojection: bool = _field(True, "RepGAN: root-centre and scale the "
                                          "reprojector's 2D like every real 2D pose, so the "
                                          "critic cannot tell fakes by position or size.")

    def validate(self) -> None:
        _check_choice("model", self.kind, MODEL_KINDS)
        _check_choice("asn_variant", self.asn_variant, ASN_VARIANTS)
        _check_choice("kcs", self.kcs, KCS_MODES)
        _check_choice("lipschitz", self.lipschitz, LIPSCHITZ_MODES)
        _check_choice("gan_updates", self.gan_updates, GAN_UPDATES)
        _check_choice("real_samples", self.real_samples, REAL_SAMPLES)
        if self.geometry is not None:
            _check_choice("geometry", self.geometry, GEOMETRIES)
        _check_min(self, ("width", "num_blocks", "critic_steps", "critic_width"), 1)
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


@dataclasses.dataclass
class DataConfig:
    """Which frames train and validate the model, and how they are augmented."""

    dataset: str = _field("human36m/sh", "TFDS dataset/config: gt = ground-truth 2D, "
                          "sh = Stacked Hourglass 2D.", tuple(DATASETS))
    frame_stride: int = _field(1, "Use every n-th training frame.")
    subjects: Optional[List[str]] = _field(None, "Restrict training subjects, e.g. S1 "
                                           "(quick runs).")
    val_subjects: Optional[List[str]] = _field(
        None, "Hold these training subjects out of training and validate on them (e.g. S8) "
        "instead of on the test split: recipes are chosen there, never on S9/S11.")
    val_stride: int = _field(10, "Validate each epoch on every n-th validation frame "
                             "(0: no validation).")
    noise_std: float = _field(0.0, "Gaussian noise (pixels) on 2D training inputs.")
    flip: bool = _field(False, "Left-right flip augmentation: half the training poses are "
                        "mirrored in the camera frame (2D and 3D), joints swapped by name.")

    def validate(self) -> None:
        check_dataset(self.dataset)
        _check_min(self, ("frame_stride",), 1)
        _check_min(self, ("val_stride", "noise_std"), 0)
        if self.subjects and self.val_subjects:
            both = sorted(set(self.subjects) & set(self.val_subjects))
            if both:
                raise ValueError(f"subjects {', '.join(both)} are both trained on and held out "
                                 "for validation")


@dataclasses.dataclass
class OptimizerConfig:
    """Adam, its learning-rate schedule and weight averaging."""

    learning_rate: Optional[float] = _field(None, "Peak Adam learning rate (default: the "
                                            "paper's for the model: 1e-3; RepGAN 8e-5).")
    lr_schedule: str = _field("exponential", "exponential: rate * decay_rate^(step / "
                              "decay_steps) (the papers'); cosine / linear: decay to 0 at the "
                              "end of the run; constant.", LR_SCHEDULES)
    lr_decay_rate: float = _field(0.96, "Exponential schedule: decay rate.")
    lr_decay_steps: int = _field(100_000, "Exponential schedule: steps per decay_rate factor.")
    warmup_steps: int = _field(0, "Linear warm-up from 0 over this many steps.")
    decay_fraction: float = _field(1.0, "cosine / linear: hold the peak rate after warm-up "
                                   "and decay to 0 over only this last fraction of the "
                                   "steps (1: decay from the end of warm-up).")
    fused_adam: bool = _field(True, "Update weights with TF's fused Adam kernel (same formula "
                              "as Keras's Adam, one pass per weight).")
    ema_decay: float = _field(0.0, "Exponential moving average of the weights used for "
                              "validation, evaluation and export (0: off; e.g. 0.999).")
    ema_follows_rate: bool = _field(False, "Weight average: scale each step's share (1 - "
                                    "decay) by the learning rate's decay (rate over peak, "
                                    "after warm-up), so the average spans a stretch of weight "
                                    "movement and freezes with the weights as the rate "
                                    "reaches 0, instead of converging onto the last weights.")

    def validate(self) -> None:
        _check_choice("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        _check_min(self, ("lr_decay_steps",), 1)
        _check_min(self, ("warmup_steps",), 0)
        if not 0.0 < self.decay_fraction <= 1.0:
            raise ValueError(f"decay_fraction must be in (0, 1], got {self.decay_fraction}")
        if self.learning_rate is not None and self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay}")


@dataclasses.dataclass
class TrainerConfig:
    """How long, in which batches, and how the loop runs."""

    recipe: str = _field("paper", "A named bundle of settings (see tfpose.config.RECIPES): "
                         "paper (the papers' constants), fast_cpu (cosine to 0, warm-up, "
                         "flips, batch 256) or repgan_cpu (linear to 0, weight average 0.999, "
                         "batch 128, no dropout); flags given beside it win. Not given: "
                         "repgan_cpu for --model=repgan, paper for the others.", tuple(RECIPES))
    epochs: int = _field(200, "Epochs (ASN: 300 on H36M, 200 on HumanEva).")
    batch_size: int = _field(64, "Global batch size.")
    seed: int = _field(0, "Random seed (weights, order of batches, dropout).")
    checkpoint_every: int = _field(1000, "Checkpoint every n steps (and at each epoch end).")
    steps_per_call: int = _field(10, "Training steps per tf.function call (cuts per-step "
                                 "overhead).")
    jit_compile: bool = _field(False, "Compile the step with XLA.")
    mixed_precision: str = _field("none", "Run the dense trunks in bfloat16 (variables, heads, "
                                  "losses stay float32); auto: bfloat16 only where a short "
                                  "probe measures it faster than float32 on this machine "
                                  "(the choice is recorded in config.json).", PRECISIONS)

    def validate(self) -> None:
        _check_choice("recipe", self.recipe, tuple(RECIPES))
        _check_min(self, ("epochs", "batch_size", "checkpoint_every", "steps_per_call"), 1)
        _check_choice("mixed_precision", self.mixed_precision, PRECISIONS)


PARTS: Tuple[Tuple[str, type], ...] = (("model", ModelConfig), ("data", DataConfig),
                                      ("optimizer", OptimizerConfig),
                                      ("trainer", TrainerConfig))

# Fields added after runs were stored, and how those runs behaved without them.
ABSENT_MEANS: Dict[str, Dict[str, Any]] = {"model": {"geometry": "mismatched",
                                                          "shared_generator_pass": False}}


def flag_name(field: dataclasses.Field) -> str:
    return field.metadata.get("flag", field.name)


def flag_fields() -> Dict[str, Tuple[str, dataclasses.Field]]:
    """Flag name -> (part name, field), for every field of every part."""
    out: Dict[str, Tuple[str, dataclasses.Field]] = {}
    for part, cls in PARTS:
        for f in dataclasses.fields(cls):
            name = flag_name(f)
            if name in out:
                raise AssertionError(f"flag {name!r} defined by two config parts")
            out[name] = (part, f)
    return out


@dataclasses.dataclass
class ExperimentConfig:
    """A whole run: ``config.model.kind``, ``config.data.dataset``, ..."""

    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    optimizer: OptimizerConfig = dataclasses.field(default_factory=OptimizerConfig)
    trainer: TrainerConfig = dataclasses.field(default_factory=TrainerConfig)

    def __post_init__(self):
        for part, _ in PARTS:
            getattr(self, part).validate()

    # -- construction ------------------------------------------------------
    @classmethod
    def from_flat(cls, **values: Any) -> "ExperimentConfig":
        """``from_flat(model="asn", dataset="human36m/gt", epochs=3)``: by flag name.

        A ``recipe`` fills in its settings first (none given: the model's entry of
        :data:`DEFAULT_RECIPES`); the values given win."""
        recipe = values.get("recipe")
        if recipe is None:
            kind = values.get("model", ModelConfig.kind)
            recipe = DEFAULT_RECIPES.get(kind, "paper")  # an unknown kind fails in validate
            values = {**values, "recipe": recipe}
        if recipe not in RECIPES:
            raise ValueError(f"recipe must be one of {', '.join(RECIPES)}; got {recipe!r}")
        values = {**RECIPES[recipe], **values}
        fields = flag_fields()
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise ValueError(f"unknown config field(s) {', '.join(unknown)}")
        parts: Dict[str, Dict[str, Any]] = {part: {} for part, _ in PARTS}
        for name, value in values.items():
            part, f = fields[name]
            parts[part][f.name] = value
        return cls(**{part: klass(**parts[part]) for part, klass in PARTS})

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "ExperimentConfig":
        """From :meth:`to_dict` output; unknown keys (newer versions) are ignored, and a
        field an older version did not store takes the value that version behaved as
        (:data:`ABSENT_MEANS`), so a resumed run keeps training the way it started."""
        parts = {}
        for part, klass in PARTS:
            known = {f.name for f in dataclasses.fields(klass)}
            stored = d.get(part, {})
            values = {k: v for k, v in ABSENT_MEANS.get(part, {}).items() if k not in stored}
            values.update({k: v for k, v in stored.items() if k in known})
            parts[part] = klass(**values)
        return cls(**parts)

    def replace(self, **values: Any) -> "ExperimentConfig":
        """A copy with some fields changed, by flag name."""
        flat = self.to_flat()
        flat.update(values)
        return ExperimentConfig.from_flat(**flat)

    # -- views -------------------------------------------------------------
    def to_dict(self) -> Dict[str, Dict[str, Any]]:
        return dataclasses.asdict(self)

    def to_flat(self) -> Dict[str, Any]:
        """Flag name -> value."""
        out = {}
        for part, klass in PARTS:
            for f in dataclasses.fields(klass):
                out[flag_name(f)] = getattr(getattr(self, part), f.name)
        return out

    def differences(self, other: "ExperimentConfig") -> List[str]:
        """Flag names whose values differ between two configs."""
        a, b = self.to_flat(), other.to_flat()
        return [k for k in a if a[k] != b[k]]
