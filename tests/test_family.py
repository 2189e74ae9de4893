"""The ResNet family beyond ResNet-50 (resnet_lab.family), checked against the parameter
counts torchvision and timm publish for the same networks."""

import keras
import numpy as np
import pytest

from resnet_lab import family

# Trainable parameters, 224x224x3 and 1000 classes: torchvision's resnet18, resnet34 and
# resnext50_32x4d (BatchNorm's moving statistics are buffers there, not parameters).
PUBLISHED = {
    "ResNet18": 11_689_512,
    "ResNet34": 21_797_672,
    "ResNeXt50_32x4d": 25_028_904,
}


def trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


@pytest.mark.parametrize("name", PUBLISHED)
def test_parameter_counts_match_the_published_networks(name):
    model = getattr(family, name)()
    assert trainable(model) == PUBLISHED[name]
    assert tuple(model.output.shape) == (None, 1000)


def test_resnet50d_has_timms_published_size():
    # timm's results table rounds it: 25.58 million (resnet50d); pinned exactly here.
    model = family.ResNet50D()
    assert round(trainable(model) / 1e6, 2) == 25.58
    assert trainable(model) == 25_576_264


@pytest.mark.parametrize("name, channels", [("ResNet18", 512), ("ResNeXt50_32x4d", 2048)])
def test_without_the_top_they_pool_features_of_any_size(name, channels):
    model = getattr(family, name)(include_top=False, pooling="avg", input_shape=(64, 64, 3))
    features = model.predict(np.zeros((2, 64, 64, 3), "float32"), verbose=0)
    assert features.shape == (2, channels)


def test_resnext_splits_the_3x3_convolution_into_32_groups_of_4_channels():
    conv = family.ResNeXt50_32x4d().get_layer("conv2_block1_2_conv")
    assert conv.groups == 32 and tuple(conv.kernel.shape) == (3, 3, 4, 128)


def test_resnet_d_averages_before_its_projection_and_strides_the_3x3():
    model = family.ResNet50D()
    assert isinstance(model.get_layer("conv3_block1_0_pool"), keras.layers.AveragePooling2D)
    assert model.get_layer("conv3_block1_0_conv").strides == (1, 1)
    assert model.get_layer("conv3_block1_2_conv").strides == (2, 2)
    assert model.get_layer("conv3_block1_1_conv").strides == (1, 1)
    assert [model.get_layer(f"conv1{part}_conv").kernel.shape[:2] for part in "abc"] == [
        (3, 3)] * 3


def test_there_are_no_published_weights_to_load():
    with pytest.raises(ValueError, match="No Keras weights are published for resnet18"):
        family.ResNet18(weights="imagenet")
