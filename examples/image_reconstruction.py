"""Encode a natural image with a random 2-D convolutional layer and invert it (Algorithm 1).

The layer is ``W`` with random Gaussian filters scaled as Theorem 3.1 (``same`` padding), and
the codes follow the pooling model (at most one non-zero per 2×2 window of each channel). One
IHT step from zero is the layer itself (convolution, max-|·| pooling with switches,
unpooling) decoded with the tied weights, ``x̂ = Wᵀ 𝕄(W x)``; many steps of normalized IHT do
much better.

    python examples/image_reconstruction.py [--size 64] [--steps 200] [--plot out.png]

The image is scikit-image's bundled ``camera`` (no download), cropped at the centre.
"""

from __future__ import annotations

import argparse

import jax.numpy as jnp
import jax.random as jr
import numpy as np

import jaxcs


def load_image(size: int) -> np.ndarray:
    """Centre crop ``(size, size)`` of scikit-image's ``camera``, scaled to zero mean, unit max."""
    from skimage import data

    image = data.camera().astype(np.float32) / 255.0
    h, w = image.shape
    if not 4 <= size <= min(h, w):
        raise ValueError(f"size must be in [4, {min(h, w)}]; got {size}")
    top, left = (h - size) // 2, (w - size) // 2
    crop = image[top : top + size, left : left + size]
    return crop - crop.mean()


def run(size=64, num_filters=4, filter_size=5, steps=200, seed=0):
    x = jnp.asarray(load_image(size))[..., None]  # (H, W, 1): channels last
    w = jaxcs.gaussian_filters(jr.key(seed), (filter_size, filter_size), 1, num_filters)
    op = jaxcs.ConvOperator(w, (size, size), padding="same")
    model = jaxcs.PoolingModel((2, 2))
    one_step = jaxcs.one_step_reconstruction(op, x, model)
    solution = jaxcs.recover(op, x, model, jaxcs.NIHT(), max_steps=steps, tol=1e-7)
    many_steps = op.rmv(solution.z)
    errors = {
        "one IHT step (the layer + tied decoder)": float(
            jaxcs.analysis.relative_error(x, one_step, 3)
        ),
        f"NIHT, {int(solution.num_steps)} steps": float(
            jaxcs.analysis.relative_error(x, many_steps, 3)
        ),
    }
    status = jaxcs.Status(int(solution.status)).message
    return x, one_step, many_steps, errors, status


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--filters", type=int, default=4)
    parser.add_argument("--filter-size", type=int, default=5)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", default=None, help="write a PNG (needs the plot extra)")
    args = parser.parse_args(argv)
    x, one, many, errors, status = run(
        args.size, args.filters, args.filter_size, args.steps, args.seed
    )
    print(
        f"camera {args.size}x{args.size}, {args.filters} random {args.filter_size}x"
        f"{args.filter_size} filters, 2x2 pooling model"
    )
    for name, err in errors.items():
        print(f"  ‖x − x̂‖/‖x‖ = {err:.3f}   {name}")
    print(f"  NIHT status: {status}")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 3, figsize=(9.6, 3.6), constrained_layout=True)
        titles = [f"image x ({args.size}×{args.size})"] + [
            f"{name}\nrel. error ‖x − x̂‖/‖x‖ = {err:.3g}" for name, err in errors.items()
        ]
        # one contrast for all panels, the original's: a reconstruction's values outside it clip
        vmin, vmax = float(np.min(x)), float(np.max(x))
        for ax, img, title in zip(axes, (x, one, many), titles, strict=True):
            shown = ax.imshow(np.asarray(img[..., 0]), cmap="gray", vmin=vmin, vmax=vmax)
            ax.set_title(title, fontsize=8)
            ax.axis("off")
        fig.colorbar(shown, ax=axes, shrink=0.8, label="pixel value (zero-mean image)")
        fig.suptitle(
            f"{args.filters} random {args.filter_size}×{args.filter_size} filters, 2×2 pooling "
            "model; one gray scale (the image's) for all panels",
            fontsize=9,
        )
        fig.savefig(args.plot, dpi=110)
        print(f"  wrote {args.plot}")
    return errors


if __name__ == "__main__":
    main()
