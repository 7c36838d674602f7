"""Small CNNs (Flax) trained with Optax: the networks whose filters the paper's Tables 1–4 and
Fig. 3 study."""

from jaxcs.networks.cnn import NetworkConfig as NetworkConfig
from jaxcs.networks.cnn import SameConv as SameConv
from jaxcs.networks.cnn import SmallCNN as SmallCNN
from jaxcs.networks.cnn import block_kernel as block_kernel
from jaxcs.networks.cnn import block_operator as block_operator
from jaxcs.networks.decoder import PixelDecoder as PixelDecoder
from jaxcs.networks.decoder import batch_norm_affine as batch_norm_affine
from jaxcs.networks.decoder import pooling_switches as pooling_switches
from jaxcs.networks.decoder import tied_decode as tied_decode
from jaxcs.networks.decoder import train_decoder as train_decoder
from jaxcs.networks.training import TrainedNetwork as TrainedNetwork
from jaxcs.networks.training import accuracy as accuracy
from jaxcs.networks.training import classifier_train_step as classifier_train_step
from jaxcs.networks.training import initialize as initialize
from jaxcs.networks.training import make_train_step as make_train_step
from jaxcs.networks.training import predict as predict
from jaxcs.networks.training import run_epochs as run_epochs
from jaxcs.networks.training import train_network as train_network
