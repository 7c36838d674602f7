"""Extreme Rayleigh quotients of restricted Grams ``G_S = P_S W Wᵀ P_S`` (eq. 1), the kernels of
every model-RIP bound: exact extreme eigenvalues of small batched Grams (``eigenvalues``), the
extremes of gathered Grams and the codes attaining them (``gram``), Lanczos on the masked
operator for supports of any size (``masked``), and the one projected ascent over ``z ≥ 0`` of
non-negative models (``orthant``)."""
