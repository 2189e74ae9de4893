"""Data augmentation that runs on the accelerator, inside the model's training step.

The host only shuffles and batches cached uint8 images (``resnet_lab.data``); the random
crop, scale, shift and flip happen here, on the GPU, compiled with the rest of the
training step (XLA on GPUs), on every Keras backend. A CPU-side augmentation is the
usual bottleneck of a GPU run: a Colab runtime has 2 CPU cores for a GPU that trains
ResNet-50 on thousands of images per second.

``RandomCropFlip`` does it all as **one resampling per image**. An axis-aligned crop,
rescaled to the output size, shifted and possibly mirrored, maps each output row to a
source row and each output column to a source column, so the whole transform is two
small matrices per image, ``out = R_y @ image @ R_x.T``, whose entries are bilinear
interpolation weights. Matrix products are what accelerators do best; the layer uses
only ``keras.ops`` (no gathers, no backend-specific image ops), so it compiles under
XLA on TensorFlow and JAX alike. Borders that a shift uncovers are filled by
reflection. Called with ``training=False`` (validation, ``predict``) it returns the
images unchanged.

Randomness comes from a ``keras.random.SeedGenerator`` whose state is ``(seed, k)``:
the k-th training step (k = epoch x steps per epoch + step) draws from it, in the
compiled step itself, whatever the host pipeline's threads do; each tf.distribute
replica draws its own stream (``ReplicaSeedGenerator``). The layer saves that
state with the weights (Keras leaves seed generators out of weight files), so a run
that ``BackupAndRestore`` resumes draws what the uninterrupted run would have.
"""

import math

import keras
from keras import ops

# The random resized crop of ImageNet recipes (Szegedy et al., "Going Deeper with
# Convolutions", 2014, https://arxiv.org/abs/1409.4842; torchvision's RandomResizedCrop
# draws the area from (0.08, 1)). For Imagenette's small images and short runs we take
# the larger minimum area of fast.ai's Imagenette training script, min_scale=0.35.
RESIZED_CROP = {"scale": (0.35, 1.0), "ratio": (3 / 4, 4 / 3), "shift": 0.0}
SHIFT = {"scale": (1.0, 1.0), "ratio": (1.0, 1.0), "shift": 0.1}
KINDS = {"resized_crop": RESIZED_CROP, "shift": SHIFT}


@keras.saving.register_keras_serializable(package="resnet_lab")
class RandomCropFlip(keras.layers.Layer):
    """Random crop (area and aspect ratio), shift and horizontal flip, one resampling.

    Arguments:
        scale: the range of the crop's area, as a fraction of the image's.
        ratio: the range of the crop's aspect ratio (width / height), drawn log-uniform.
            Sides are capped at the image's, so extreme draws give a narrower range.
        shift: the largest shift, as a fraction of the height and width, in each
            direction; uncovered borders are filled by reflection.
        flip: mirror half the images left to right, at random.
        seed: an int for a reproducible sequence of draws.

    Takes a batch of images of any numeric dtype with values in [0, 255] and returns
    float32 images of the same size.
    """

    def __init__(self, scale=(1.0, 1.0), ratio=(1.0, 1.0), shift=0.0, flip=True,
                 seed=None, **kwargs):
        kwargs.setdefault("dtype", "float32")  # resample in float32 whatever the policy
        super().__init__(**kwargs)
        self.scale = tuple(float(v) for v in scale)
        self.ratio = tuple(float(v) for v in ratio)
        self.shift, self.flip, self.seed = float(shift), bool(flip), seed
        if not 0 < self.scale[0] <= self.scale[1] <= 1:
            raise ValueError(f"scale must be (low, high) with 0 < low <= high <= 1; got "
                             f"{scale}.")
        if not 0 < self.ratio[0] <= self.ratio[1]:
            raise ValueError(f"ratio must be (low, high) with 0 < low <= high; got {ratio}.")
        if not 0 <= self.shift < 1:
            raise ValueError(f"shift must be at least 0 and below 1; got {shift}.")
        self.seed_generator = ReplicaSeedGenerator(seed)

    def call(self, images, training=None):
        images = ops.cast(images, "float32")
        if not training:
            return images
        n = ops.shape(images)[0]
        height, width = images.shape[1], images.shape[2]
        u = keras.random.uniform((n, 7), seed=self.seed_generator)
        area = self.scale[0] + (self.scale[1] - self.scale[0]) * u[:, 0]
        low, high = math.log(self.ratio[0]), math.log(self.ratio[1])
        aspect = ops.exp(low + (high - low) * u[:, 1])
        crop_w = ops.minimum(1.0, ops.sqrt(area * aspect))  # fractions of the side
        crop_h = ops.minimum(1.0, ops.sqrt(area / aspect))
        left = (1 - crop_w) * u[:, 2] + self.shift * (2 * u[:, 4] - 1)
        top = (1 - crop_h) * u[:, 3] + self.shift * (2 * u[:, 5] - 1)
        mirror = (u[:, 6] < 0.5) if self.flip else ops.zeros_like(u[:, 6], dtype="bool")
        rows = _resampling(top, crop_h, ops.zeros_like(mirror), height)
        columns = _resampling(left, crop_w, mirror, width)
        images = ops.einsum("nyh,nhwc->nywc", rows, images)
        return ops.einsum("nxw,nywc->nyxc", columns, images)

    def compute_output_shape(self, input_shape):
        return input_shape

    def save_own_variables(self, store):
        store["seed_generator_state"] = keras.ops.convert_to_numpy(self.seed_generator.state)

    def load_own_variables(self, store):
        if "seed_generator_state" in store.keys():  # files written before it was saved
            self.seed_generator.state.assign(store["seed_generator_state"])

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "ratio": self.ratio,
                "shift": self.shift, "flip": self.flip, "seed": self.seed}


class ReplicaSeedGenerator(keras.random.SeedGenerator):
    """A ``keras.random.SeedGenerator`` whose seeds differ between tf.distribute replicas.

    Under ``tf.distribute.MirroredStrategy`` each replica runs its own copy of the
    training step with the same generator state, so every replica would draw the same
    crops and flips for its slice of the batch. Here replica r draws with the seed
    ``(s + r, k)`` instead of ``(s, k)``: one step, one state update, a different stream
    per replica. On one device, and under JAX (whose data-parallel step draws for the
    whole global batch at once), the seeds are the generator's own.
    """

    def next(self, ordered=True):
        seed = super().next(ordered=ordered)
        replica = _replica_index()
        if replica is None:
            return seed
        offset = ops.stack([ops.cast(replica, seed.dtype), ops.zeros((), seed.dtype)])
        return seed + offset


def _replica_index():
    """This replica's index under a tf.distribute strategy of several; else None."""
    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    context = tf.distribute.get_replica_context()  # None outside the replicas' step
    if context is not None and context.num_replicas_in_sync > 1:
        return context.replica_id_in_sync_group
    return None


def _resampling(start, length, mirror, size):
    """Bilinear weights (n, size, size): output pixel i reads the crop at its own place.

    The crop runs from ``start`` over ``length`` (fractions of the side); a mirrored
    row reads it backwards. Source coordinates outside the image are reflected back in
    (``d c b a | a b c d | d c b a``).
    """
    centres = (ops.arange(size, dtype="float32") + 0.5) / size
    along = ops.where(mirror[:, None], 1 - centres[None, :], centres[None, :])
    source = (start[:, None] + along * length[:, None]) * size - 0.5
    folded = ops.mod(source + 0.5, 2.0 * size)
    source = ops.clip(ops.where(folded >= size, 2.0 * size - folded, folded) - 0.5,
                      0, size - 1)
    pixels = ops.arange(size, dtype="float32")
    return ops.relu(1 - ops.abs(source[:, :, None] - pixels[None, None, :]))


def augmentation(kind, seed=None):
    """The augmentation layer for a kind: "resized_crop" (Imagenette) or "shift"."""
    if kind not in KINDS:
        raise ValueError(f"Unknown augmentation {kind!r}; choose one of {', '.join(KINDS)}.")
    return RandomCropFlip(**KINDS[kind], seed=seed, name="augment")
