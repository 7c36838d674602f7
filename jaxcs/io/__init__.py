"""The machinery around a run: its provenance (machine, versions), atomic JSON result files, and
the arrays a user brings (kernels, images, labels, Flax variables; never unpickled)."""

from jaxcs.io.arrays import load_flax_params as load_flax_params
from jaxcs.io.arrays import load_image_array as load_image_array
from jaxcs.io.arrays import load_kernel as load_kernel
from jaxcs.io.arrays import load_labelled_arrays as load_labelled_arrays
from jaxcs.io.arrays import read_array as read_array
from jaxcs.io.arrays import save_flax_params as save_flax_params
from jaxcs.io.provenance import environment as environment
from jaxcs.io.provenance import package_version as package_version
from jaxcs.io.result_json import write_json as write_json
