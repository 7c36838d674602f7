"""Operators ``W`` (``x = Wᵀ z``): the protocol, convolutional and dense operators, their
algebra (composition, sums, multiples, stacking, selection), filter banks, correlation tables
(border tables for "same" padding) and restricted Grams, the operator norm, the adjoint
check."""

from jaxcs.operators.adjoint import AdjointCheck as AdjointCheck
from jaxcs.operators.adjoint import check_adjoint as check_adjoint
from jaxcs.operators.algebra import Composed as Composed
from jaxcs.operators.algebra import HStack as HStack
from jaxcs.operators.algebra import Scaled as Scaled
from jaxcs.operators.algebra import Selection as Selection
from jaxcs.operators.algebra import Sum as Sum
from jaxcs.operators.algebra import VStack as VStack
from jaxcs.operators.base import AbstractOperator as AbstractOperator
from jaxcs.operators.base import DenseGram as DenseGram
from jaxcs.operators.base import TransposedOperator as TransposedOperator
from jaxcs.operators.base import check_operator as check_operator
from jaxcs.operators.border import BorderCorrelationTable as BorderCorrelationTable
from jaxcs.operators.border import border_correlation_table as border_correlation_table
from jaxcs.operators.conv import ConvOperator as ConvOperator
from jaxcs.operators.conv import conv_operator_from_flax as conv_operator_from_flax
from jaxcs.operators.conv_geometry import conv_output_shape as conv_output_shape
from jaxcs.operators.correlation import CorrelationTable as CorrelationTable
from jaxcs.operators.correlation import correlation_table as correlation_table
from jaxcs.operators.correlation import gram_table as gram_table
from jaxcs.operators.correlation import restricted_gram as restricted_gram
from jaxcs.operators.correlation import restricted_gram_pairs as restricted_gram_pairs
from jaxcs.operators.filters import gaussian_filters as gaussian_filters
from jaxcs.operators.filters import normalize_filters as normalize_filters
from jaxcs.operators.filters import rademacher_filters as rademacher_filters
from jaxcs.operators.filters import unit_norm_filters as unit_norm_filters
from jaxcs.operators.matrix import MatrixOperator as MatrixOperator
from jaxcs.operators.norm import operator_norm as operator_norm
