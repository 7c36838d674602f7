"""Offline data: natural images bundled with scikit-image / scikit-learn, the 8×8 digits, patch
classification tasks cut from them (a CIFAR-10 stand-in), and user-supplied arrays and Flax
variables (never unpickled)."""

from jaxcs.data.arrays import load_flax_params as load_flax_params
from jaxcs.data.arrays import load_image_array as load_image_array
from jaxcs.data.arrays import load_kernel as load_kernel
from jaxcs.data.arrays import load_labelled_arrays as load_labelled_arrays
from jaxcs.data.arrays import read_array as read_array
from jaxcs.data.arrays import save_flax_params as save_flax_params
from jaxcs.data.images import BUNDLED_IMAGES as BUNDLED_IMAGES
from jaxcs.data.images import load_bundled_image as load_bundled_image
from jaxcs.data.images import load_bundled_images as load_bundled_images
from jaxcs.data.images import load_digits as load_digits
from jaxcs.data.patches import PatchTask as PatchTask
from jaxcs.data.patches import digits_task as digits_task
from jaxcs.data.patches import patch_task as patch_task
from jaxcs.data.patches import standardize as standardize
