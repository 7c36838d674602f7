"""User-supplied arrays, kernels and Flax variables (jaxcs.io.arrays): shapes, scaling, refusals."""

import numpy as np
import pytest

from jaxcs.io import load_flax_params, load_image_array, load_labelled_arrays, save_flax_params

RNG = np.random.default_rng(0)


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ((5, 7), (1, 5, 7, 1)),
        ((5, 7, 1), (1, 5, 7, 1)),
        ((5, 7, 3), (1, 5, 7, 3)),
        ((5, 7, 4), (1, 5, 7, 4)),
        ((2, 5, 7), (2, 5, 7, 1)),
        ((6, 5, 2), (6, 5, 2, 1)),  # last axis 2: a stack of grayscale images
        ((2, 5, 7, 3), (2, 5, 7, 3)),
    ],
)
@pytest.mark.parametrize("suffix", [".npy", ".npz"])
def test_round_trip_of_every_accepted_shape(tmp_path, shape, expected, suffix):
    array = RNG.random(shape).astype(np.float64)
    path = tmp_path / f"x{suffix}"
    np.save(path, array) if suffix == ".npy" else np.savez(path, images=array, other=array)
    loaded = load_image_array(path)
    assert loaded.shape == expected and loaded.dtype == np.float32
    np.testing.assert_allclose(loaded.reshape(-1), array.reshape(-1), rtol=1e-6)


@pytest.mark.parametrize(
    ("dtype", "scale"), [(np.uint8, 255), (np.int16, 255), (np.float32, 1), (np.float16, 1)]
)
def test_dtypes_integers_scaled_floats_kept(tmp_path, dtype, scale):
    array = np.array([[0, 3], [128, 255]]).astype(dtype)
    np.savez(tmp_path / "only.npz", whatever=array)  # the only array, whatever its name
    loaded = load_image_array(tmp_path / "only.npz")
    assert loaded.dtype == np.float32
    np.testing.assert_allclose(loaded[0, ..., 0], array.astype(np.float64) / scale, rtol=1e-6)


def test_bool_images_become_zero_one(tmp_path):
    np.save(tmp_path / "b.npy", np.array([[True, False]]))
    np.testing.assert_array_equal(load_image_array(tmp_path / "b.npy")[0, ..., 0], [[1.0, 0.0]])


def test_pickled_object_array_is_refused_not_unpickled(tmp_path):
    class Boom:
        def __reduce__(self):  # would run on unpickling
            return (pytest.fail, ("unpickled a user file",))

    np.save(tmp_path / "obj.npy", np.array([Boom(), 1], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match=r"obj\.npy: holds Python objects .* never loaded"):
        load_image_array(tmp_path / "obj.npy")
    np.savez(tmp_path / "obj.npz", images=np.array([Boom(), 1], dtype=object))
    with pytest.raises(ValueError, match=r"obj\.npz: holds Python objects .* never loaded"):
        load_image_array(tmp_path / "obj.npz")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_are_refused_and_counted(tmp_path, bad):
    array = np.zeros((4, 4), np.float32)
    array[0, :3] = bad
    np.save(tmp_path / "x.npy", array)
    with pytest.raises(ValueError, match="got 3 non-finite value"):
        load_image_array(tmp_path / "x.npy")


@pytest.mark.parametrize(
    ("array", "match"),
    [
        (np.zeros(5), r"images must be a non-empty \(H, W\), .*got shape \(5,\)"),
        (np.zeros((1, 2, 3, 4, 5)), r"got shape \(1, 2, 3, 4, 5\)"),
        (np.zeros((0, 4)), r"non-empty .* got shape \(0, 4\)"),
        (np.zeros((2, 2), np.complex64), "real numeric array; got dtype complex64"),
        (np.array([[0, 300]], np.int16), "0..255 intensities; got 0..300"),
        (np.array([[-1, 3]], np.int8), "0..255 intensities; got -1..3"),
    ],
)
def test_bad_arrays_are_refused(tmp_path, array, match):
    np.save(tmp_path / "bad.npy", array)
    with pytest.raises(ValueError, match=r"bad\.npy: .*" + match):
        load_image_array(tmp_path / "bad.npy")


def test_bad_files_are_refused(tmp_path):
    np.savez(tmp_path / "two.npz", a=np.zeros((2, 2)), b=np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"array named 'images' or a single array; found \['a'"):
        load_image_array(tmp_path / "two.npz")
    (tmp_path / "x.png").write_bytes(b"\x89PNG")
    with pytest.raises(ValueError, match=r"x\.png: image files are \.npy or \.npz .*'\.png'"):
        load_image_array(tmp_path / "x.png")
    (tmp_path / "junk.npz").write_bytes(b"not a zip at all")
    with pytest.raises(ValueError, match=r"junk\.npz: not an \.npz file"):
        load_image_array(tmp_path / "junk.npz")


def test_labelled_arrays(tmp_path):
    images = RNG.integers(0, 256, (6, 4, 4, 3), dtype=np.uint8)
    labels = np.array([0, 1, 2, 0, 1, 2], np.int64)
    np.savez(tmp_path / "d.npz", images=images, labels=labels)
    x, y = load_labelled_arrays(tmp_path / "d.npz")
    assert x.shape == (6, 4, 4, 3) and x.dtype == np.float32
    np.testing.assert_allclose(x, images / 255.0, rtol=1e-6)
    assert y.dtype == np.int32 and y.tolist() == labels.tolist()
    # (N, H, W) grayscale stack with labels
    np.savez(tmp_path / "g.npz", images=np.zeros((5, 4, 6)), labels=np.arange(5))
    assert load_labelled_arrays(tmp_path / "g.npz")[0].shape == (5, 4, 6, 1)


@pytest.mark.parametrize(
    ("arrays", "match"),
    [
        ({"images": np.zeros((3, 5, 6))}, r"array named 'labels'; found \['images'\]"),
        ({"images": np.zeros((3, 5, 6)), "labels": np.arange(2)}, r"3 images .* shape \(2,\)"),
        ({"images": np.zeros((3, 5, 6)), "labels": np.zeros((3, 1), int)}, r"1-D integer"),
        ({"images": np.zeros((3, 5, 6)), "labels": np.zeros(3)}, r"1-D integer .* float64"),
        ({"images": np.zeros((3, 5, 6)), "labels": np.array([0, -1, 2])}, r"labels must be >= 0"),
        # a single (H, W, 3) image is one image: 3 labels do not fit it
        ({"images": np.zeros((4, 4, 3)), "labels": np.arange(3)}, r"1 images"),
    ],
)
def test_labelled_arrays_refused(tmp_path, arrays, match):
    np.savez(tmp_path / "d.npz", **arrays)
    with pytest.raises(ValueError, match=match):
        load_labelled_arrays(tmp_path / "d.npz")
    np.save(tmp_path / "d.npy", arrays["images"])
    with pytest.raises(ValueError, match="an .npz with 'images' and 'labels'"):
        load_labelled_arrays(tmp_path / "d.npy")


def test_flax_params_round_trip(tmp_path):
    import flax.linen as nn
    import jax

    conv = nn.Conv(features=4, kernel_size=(3, 3))
    variables = conv.init(jax.random.key(0), np.zeros((1, 8, 8, 2), np.float32))
    path = save_flax_params(tmp_path / "conv.msgpack", variables)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["conv.msgpack"]  # no .tmp left
    restored = load_flax_params(path)
    assert type(restored) is dict and set(restored) == {"params"}
    kernel = restored["params"]["kernel"]
    assert isinstance(kernel, np.ndarray) and kernel.shape == (3, 3, 2, 4)
    np.testing.assert_array_equal(kernel, variables["params"]["kernel"])
    np.testing.assert_array_equal(restored["params"]["bias"], variables["params"]["bias"])
    # into a target pytree; the restored values are the file's, not the target's
    target = jax.tree.map(np.zeros_like, variables)
    into = load_flax_params(path, target)
    np.testing.assert_array_equal(into["params"]["kernel"], variables["params"]["kernel"])
    # overwriting goes through the tmp file too
    save_flax_params(path, {"params": {"w": np.ones(2, np.float32)}})
    assert load_flax_params(path)["params"]["w"].tolist() == [1.0, 1.0]


def test_flax_params_refusals(tmp_path):
    with pytest.raises(ValueError, match="variables must be a nested mapping of arrays; got list"):
        save_flax_params(tmp_path / "x.msgpack", [np.zeros(2)])
    (tmp_path / "junk.msgpack").write_bytes(b"\xc1\xc1\xc1")
    with pytest.raises(ValueError, match=r"junk\.msgpack: not Flax msgpack variables"):
        load_flax_params(tmp_path / "junk.msgpack")
    save_flax_params(tmp_path / "p.msgpack", {"params": {"w": np.ones(2)}})
    with pytest.raises(ValueError, match="not Flax variables matching target"):
        load_flax_params(tmp_path / "p.msgpack", {"params": {"other": np.ones(2)}})


def test_load_kernel_from_user_files(tmp_path):
    import flax.serialization
    import numpy as np
    import pytest

    from jaxcs.io import load_kernel

    kernel = np.arange(3 * 3 * 2 * 4, dtype=np.float32).reshape(3, 3, 2, 4)
    np.save(tmp_path / "k.npy", kernel)
    np.savez(tmp_path / "named.npz", kernel=kernel, other=kernel[0])
    np.savez(tmp_path / "single.npz", w=kernel)
    np.savez(tmp_path / "two.npz", a=kernel, b=kernel)
    variables = {"params": {"Conv_0": {"kernel": kernel, "bias": np.zeros(4, np.float32)}}}
    (tmp_path / "layer.msgpack").write_bytes(flax.serialization.to_bytes(variables))
    two = {"params": {"Conv_0": {"kernel": kernel}, "Conv_1": {"kernel": kernel}}}
    (tmp_path / "two.msgpack").write_bytes(flax.serialization.to_bytes(two))
    for name in ("k.npy", "named.npz", "single.npz", "layer.msgpack"):
        np.testing.assert_array_equal(load_kernel(tmp_path / name), kernel)
    with pytest.raises(ValueError, match="single array"):
        load_kernel(tmp_path / "two.npz")
    with pytest.raises(ValueError, match="exactly one 'kernel'"):
        load_kernel(tmp_path / "two.msgpack")
    with pytest.raises(ValueError, match=".npy, .npz or .msgpack"):
        load_kernel(tmp_path / "k.txt")
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match=r"objects\.npy: holds Python objects"):  # not unpickled
        load_kernel(tmp_path / "objects.npy")


def test_load_kernel_names_the_file_and_what_it_is(tmp_path):
    """A text file is called what it is, with its path (it was called "pickled", without a
    path); a pickle is refused without unpickling, and so is a broken msgpack."""
    import pickle

    import pytest

    from jaxcs.io import load_kernel

    for name in ("text.npy", "text.npz", "text.msgpack"):
        (tmp_path / name).write_text("0.1 0.2 0.3\n")
    (tmp_path / "pickled.npy").write_bytes(pickle.dumps({"kernel": [1.0]}))
    cases = {
        "text.npy": "not a NumPy .npy file",
        "text.npz": "not an .npz file",
        "text.msgpack": "not Flax msgpack variables",
        "pickled.npy": "not a NumPy .npy file",
    }
    for name, what in cases.items():
        path = tmp_path / name
        with pytest.raises(ValueError, match=f"^{path}: {what}") as info:
            load_kernel(path)
        if name.startswith("text"):
            assert "pickled data" not in str(info.value) and "(object)" not in str(info.value)
    with pytest.raises(FileNotFoundError, match="missing.npy"):
        load_kernel(tmp_path / "missing.npy")
