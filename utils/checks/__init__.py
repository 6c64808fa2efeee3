"""Checks for the notebooks' exercises, one module per notebook (nb00 ... nb08), on a shared core.

Each check prints one line, "✓ ..." or "✗ Not yet: ...", and returns a CheckResult that is true or false. A wrong
answer of any type never raises (so a notebook still runs top to bottom) and the message says what is wrong without
giving the answer away. The worked solutions in notebooks/solutions/ assert that every check returns True.
Notebooks import from here: `from utils.checks import check_batch_shape, damaged_simplecnn`. `reveal` closes a
predict-then-see moment: the learner's recorded prediction against what the cell above showed.
"""

from .core import CheckResult, report
from .exercise_models import bar_images, damaged_simplecnn, nested_exercise_model
from .nb00 import check_batch_shape, check_transformed_pixel
from .nb01 import check_conv2d_by_hand, check_input_size, check_shift_kernel
from .nb02 import check_channel_grid, check_channel_normalization, check_clipped_symmetric_limits, check_sample_channels
from .nb03 import check_flatten_size, check_per_class_accuracy, check_wide_conv2_parameters
from .nb04 import (
    check_capture_conv1,
    check_most_active_channel,
    check_nested_layer_name,
    check_pool_calls,
    check_record_shapes,
)
from .nb05 import check_dead_channels, check_frac_zero, check_horizontal_channel, check_seven_to_two
from .nb06 import check_class_probe, check_dead_fraction, check_first_alarm
from .nb07 import check_attention_weights, check_correlation, check_linear_saliency
from .nb08 import check_explained_variance, check_flip_epsilon, check_targeted_step
from .predict_then_reveal import reveal

__all__ = [
    "CheckResult", "report",
    "bar_images", "damaged_simplecnn", "nested_exercise_model",
    "check_batch_shape", "check_transformed_pixel",
    "check_conv2d_by_hand", "check_input_size", "check_shift_kernel",
    "check_channel_normalization", "check_sample_channels", "check_channel_grid", "check_clipped_symmetric_limits",
    "check_flatten_size", "check_per_class_accuracy", "check_wide_conv2_parameters",
    "check_most_active_channel", "check_nested_layer_name", "check_pool_calls", "check_record_shapes",
    "check_capture_conv1",
    "check_dead_channels", "check_frac_zero", "check_horizontal_channel", "check_seven_to_two",
    "check_class_probe", "check_dead_fraction", "check_first_alarm",
    "check_attention_weights", "check_correlation", "check_linear_saliency",
    "check_explained_variance", "check_flip_epsilon", "check_targeted_step",
    "reveal",
]
