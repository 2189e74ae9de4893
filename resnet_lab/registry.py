"""Every model and dataset the course knows, with its facts, in one table; no Keras needed.

``MODELS`` maps a name (``"resnet50"``, ``"resnext50_32x4d"``, ``"plain56"``) to a
``ModelSpec``: the function that builds it, its family (ImageNet-style networks, which
halve the image five times, or the CIFAR-style networks of lesson 6, which halve it
twice), hence the smallest image it takes, keras.applications' twin where there is one,
and the md5 of keras.applications' published ImageNet weights where there are some.
``DATASETS`` does the same for the datasets: where each comes from and the augmentation
that suits it. The training recipe (``resnet_lab.training``), the run settings
(``resnet_lab.config``), the weight loader (``resnet_lab.weights``), the benchmarks and
``python -m resnet_lab train --model`` all read these tables, so a new model is one
line here and a builder in ``models`` or ``family``.

Whether a model starts with zero-initialised residual branches is not a fact of this
table: each block decides it where it builds its last BatchNorm
(``blocks.branch_end_batchnorm``).
"""

import dataclasses
import importlib

# --- models ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Family:
    """What the networks of one family share: how often they halve the image."""

    name: str
    halvings: str  # how often the network halves the image, in words
    min_image_size: int  # the smallest side that leaves the last stage enough pixels


# ImageNet-style: the stem halves the image twice and stages 3-5 once each (224 px by
# design; 32x32 ends at 1x1). CIFAR-style (He et al. 2015, section 4.2): stages 2 and 3
# halve it once each (32 px by design; 8x8 leaves 2x2 for the last stage).
IMAGENET = Family("imagenet", "five times", 32)
CIFAR = Family("cifar", "twice", 8)


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """One model: its name, how to build it, and the facts the rest of the package needs.

    ``builder`` is "module:function". An ImageNet-style builder takes keras.applications'
    arguments (``input_tensor``, ``weights``, ``classes``, ``classifier_activation``,
    ...); the CIFAR-style one takes ``classes``, ``input_shape`` and
    ``classifier_activation``; both get the spec's ``arguments`` too.
    ``imagenet_weights``: the md5 of keras.applications' published weight file with and
    without the classifier, or None where no Keras weights exist.
    """

    name: str
    builder: str
    family: Family = IMAGENET
    arguments: tuple = ()  # extra keyword arguments of the builder, as (name, value) pairs
    twin: str | None = None  # keras.applications' constructor of the same network
    imagenet_weights: tuple[str, str] | None = None

    def build_function(self):
        """The builder itself (imports its module, and so Keras)."""
        module, _, function = self.builder.partition(":")
        return getattr(importlib.import_module(module), function)

    def build(self, **keywords):
        """The model, built with ``keywords`` and the spec's own ``arguments``."""
        return self.build_function()(**dict(self.arguments), **keywords)


def _v1(depth, md5s):
    return ModelSpec(f"resnet{depth}", f"resnet_lab.models:ResNet{depth}",
                     twin=f"keras.applications.ResNet{depth}", imagenet_weights=md5s)


def _v2(depth, md5s):
    return ModelSpec(f"resnet{depth}v2", f"resnet_lab.models:ResNet{depth}V2",
                     twin=f"keras.applications.ResNet{depth}V2", imagenet_weights=md5s)


def _cifar(kind, depth):
    return ModelSpec(f"{kind}{depth}", "resnet_lab.models:cifar_resnet",
                     family=CIFAR, arguments=(("depth", depth), ("residual", kind == "resnet")))


# The depths of lesson 6's CIFAR-style networks that have names (6n + 2; He et al. 2015,
# Table 6, and the two smallest for quick runs). models.cifar_resnet builds any 6n + 2.
CIFAR_DEPTHS = (8, 14, 20, 32, 44, 56, 110)

_ALL = [
    # The md5s are those keras.applications publishes next to its weight files
    # ("<model>_weights_tf_dim_ordering_tf_kernels[_notop].h5"): with the top, without.
    _v1(50, ("2cb95161c43110f7111970584f804107", "4d473c1dd8becc155b73f8504c6f6626")),
    ModelSpec("resnet18", "resnet_lab.family:ResNet18"),
    ModelSpec("resnet34", "resnet_lab.family:ResNet34"),
    _v1(101, ("f1aeb4b969a6efcfb50fad2f0c20cfc5", "88cf7a10940856eca736dc7b7e228a21")),
    _v1(152, ("100835be76be38e30d865e96f2aaae62", "ee4c566cf9a93f14d82f913c2dc6dd0c")),
    _v2(50, ("3ef43a0b657b3be2300d5770ece849e0", "fac2f116257151a9d068a22e544a4917")),
    _v2(101, ("6343647c601c52e1368623803854d971", "c0ed64b8031c3730f411d2eb4eea35b5")),
    _v2(152, ("a49b44d1979771252814e80f8ec446f9", "ed17cf2e0169df9d443503ef94b23b33")),
    ModelSpec("resnext50_32x4d", "resnet_lab.family:ResNeXt50_32x4d"),
    ModelSpec("resnet50d", "resnet_lab.family:ResNet50D"),
    *(_cifar(kind, depth) for kind in ("resnet", "plain") for depth in CIFAR_DEPTHS),
]
MODELS = {spec.name: spec for spec in _ALL}


def model(name):
    """The ``ModelSpec`` of ``name``; a ValueError that lists the names if it is unknown."""
    try:
        return MODELS[name]
    except (KeyError, TypeError):
        raise ValueError(f"Unknown model {name!r}; choose one of {', '.join(MODELS)}.") from None


def check_image_size(name, image_size):
    """A ValueError that says why, if ``name`` cannot take images of side ``image_size``."""
    family = model(name).family
    if image_size < family.min_image_size:
        raise ValueError(f"image_size must be at least {family.min_image_size} for {name} "
                         f"(it halves the image {family.halvings}); got {image_size}.")


# --- datasets -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RemoteArchive:
    """A dataset archive to download once: where from, its published checksum and size."""

    name: str
    origin: str
    sha256: str
    size: int  # bytes, as published
    folder: str  # the top folder inside the archive
    licence: str

    @property
    def fname(self):
        return self.origin.rsplit("/", 1)[-1]


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """One dataset: its archive (None: generated here, offline), its augmentation, and
    whether a run applies it when its config leaves ``augment`` unset."""

    name: str
    augmentation: str  # resnet_lab.augment's kind: "resized_crop" or "shift"
    archive: RemoteArchive | None = None
    augment_by_default: bool = True


DATASETS = {
    # Generated by resnet_lab.data, needs no network: the offline default. Every image
    # already has a random position, size, rotation and colour, and more images cost
    # nothing: flips and shifts slowed ResNet-50's learning there (benchmarks/README.md),
    # so a run leaves them off unless asked (augment=True).
    "shapes": DatasetSpec("shapes", "shift", augment_by_default=False),
    # ImageNet-style data: a random resized crop and a flip; small images: flip and shift.
    "imagenette": DatasetSpec("imagenette", "resized_crop", RemoteArchive(
        name="imagenette",
        origin="https://s3.amazonaws.com/fast-ai-imageclas/imagenette2-160.tgz",
        sha256="64d0c4859f35a461889e0147755a999a48b49bf38a7e0f9bd27003f10db02fe5",
        size=99_003_388,
        folder="imagenette2-160",
        licence="Apache-2.0 (fast.ai); images from ImageNet, for non-commercial research",
    )),
    "cifar10": DatasetSpec("cifar10", "shift", RemoteArchive(
        name="cifar10",
        origin="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        sha256="6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
        size=170_498_071,
        folder="cifar-10-batches-py",
        licence="no licence stated by the authors; cite Krizhevsky (2009)",
    )),
}
OFFLINE_DEFAULT = "shapes"
