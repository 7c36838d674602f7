"""The paper's offline data: natural images bundled with scikit-image / scikit-learn, the 8×8
digits, and patch classification tasks cut from them (a CIFAR-10 stand-in)."""

from jaxcs.experiments.data.images import BUNDLED_IMAGES as BUNDLED_IMAGES
from jaxcs.experiments.data.images import load_bundled_image as load_bundled_image
from jaxcs.experiments.data.images import load_bundled_images as load_bundled_images
from jaxcs.experiments.data.images import load_digits as load_digits
from jaxcs.experiments.data.patches import PatchTask as PatchTask
from jaxcs.experiments.data.patches import digits_task as digits_task
from jaxcs.experiments.data.patches import patch_task as patch_task
from jaxcs.experiments.data.patches import standardize as standardize
