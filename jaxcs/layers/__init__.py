"""Flax modules (eqs. 2–3, Algorithm 1): the CNN layer as one IHT step, stacks of them,
tied-weight decoders and the ± filter pairs of Proposition 1."""

from jaxcs.layers.encoder import IHTEncoder as IHTEncoder
from jaxcs.layers.encoder import decode_stack as decode_stack
from jaxcs.layers.iht_layer import IHTLayer as IHTLayer
from jaxcs.layers.iht_layer import LayerOutput as LayerOutput
from jaxcs.layers.iht_layer import decode_layer as decode_layer
from jaxcs.layers.iht_layer import layer_operator as layer_operator
from jaxcs.layers.plus_minus import plus_minus_filters as plus_minus_filters
from jaxcs.layers.tied_decoder import decode_backwards as decode_backwards
