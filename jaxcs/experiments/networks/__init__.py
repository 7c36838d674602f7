"""Small CNNs (Flax) trained with Optax: the networks whose filters the paper's Tables 1–4 and
Fig. 3 study."""

from jaxcs.experiments.networks.cnn import NetworkConfig as NetworkConfig
from jaxcs.experiments.networks.cnn import SameConv as SameConv
from jaxcs.experiments.networks.cnn import SmallCNN as SmallCNN
from jaxcs.experiments.networks.cnn import block_kernel as block_kernel
from jaxcs.experiments.networks.cnn import block_operator as block_operator
from jaxcs.experiments.networks.decoder import PixelDecoder as PixelDecoder
from jaxcs.experiments.networks.decoder import batch_norm_affine as batch_norm_affine
from jaxcs.experiments.networks.decoder import pooling_switches as pooling_switches
from jaxcs.experiments.networks.decoder import tied_decode as tied_decode
from jaxcs.experiments.networks.decoder import train_decoder as train_decoder
from jaxcs.experiments.networks.training import TrainedNetwork as TrainedNetwork
from jaxcs.experiments.networks.training import accuracy as accuracy
from jaxcs.experiments.networks.training import classifier_train_step as classifier_train_step
from jaxcs.experiments.networks.training import initialize as initialize
from jaxcs.experiments.networks.training import make_train_step as make_train_step
from jaxcs.experiments.networks.training import predict as predict
from jaxcs.experiments.networks.training import run_epochs as run_epochs
from jaxcs.experiments.networks.training import train_network as train_network
