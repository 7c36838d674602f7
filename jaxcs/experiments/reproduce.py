"""``jaxcs reproduce``: the paper's evidence beyond Fig. 2 on offline data, as resumable stages.

Stages, in order (each one's rows are kept in ``DIR/stages/<stage>.json`` as soon as it
finishes, and Table 1 after every trained network, so an interrupted run resumes where it
stopped; a directory written by a different setup is refused):

1. ``table1``: the CNN grid (depths × filter sizes × widths × seeds), random frozen filters vs
   learned, trained on the patch task (:func:`jaxcs.experiments.data.patch_task`, the CIFAR-10
   stand-in).
   The *analysed network* (deepest, first filter size, widest, seed 0) and its random twin are
   saved (``DIR/networks/*.msgpack``) for the stages after it.
2. ``table2``: sparsity after ReLU and pooling; 3. ``table4``: coherence (and VGG-16 sizes);
4. ``fig3``: model-RIP ratios and δ brackets; 5. ``table3``: one-step IHT reconstruction,
   NIHT and image-space errors (decoders trained here); 6. ``theorem_3_3``.

:func:`jaxcs.experiments.write_report` turns the stages into ``report.md`` / ``report.json``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

from jaxcs.experiments import evidence
from jaxcs.experiments._stage_schema import check_stage, read_json
from jaxcs.experiments.data import (
    BUNDLED_IMAGES,
    digits_task,
    load_bundled_images,
    patch_task,
    standardize,
)
from jaxcs.experiments.networks import NetworkConfig, train_decoder, train_network
from jaxcs.io import environment, load_flax_params, save_flax_params, write_json

STAGES = ("table1", "table2", "table4", "fig3", "table3", "theorem_3_3")


@dataclasses.dataclass(frozen=True)
class ReproduceSetup:
    """Every size and seed of a ``jaxcs reproduce`` run; ``quick()`` is CI-sized.

    Data: ``classes`` bundled images (:data:`jaxcs.experiments.data.BUNDLED_IMAGES`, in order),
    downscaled to ``short_side``, ``train_per_class`` / ``test_per_class`` patches of
    ``patch_size`` from disjoint rows (``dataset="digits"``: scikit-learn's digits instead).
    Table 1's grid: ``depths × filter_sizes × widths × seeds``, Adam for ``epochs``. The
    analysed network is ``(max(depths), filter_sizes[0], widths[-1])`` at seed 0.
    """

    dataset: str = "patches"
    classes: int = 18
    train_per_class: int = 150
    test_per_class: int = 50
    patch_size: int = 32
    short_side: int = 256
    depths: tuple[int, ...] = (1, 2, 3)
    filter_sizes: tuple[int, ...] = (3, 5)
    widths: tuple[int, ...] = (16, 32)
    seeds: int = 3
    epochs: int = 10
    batch_size: int = 64
    learning_rate: float = 2e-3
    analysis_examples: int = 64
    fig3_samples: int = 1000
    bracket_samples: int = 128
    algorithm2_examples: int = 16
    algorithm2_fraction: float = 0.05
    algorithm2_steps: int = 300
    niht_steps: int = 100
    decoder_epochs: int = 10
    decoder_examples: int = 1024
    coherence_seeds: int = 3
    vgg_map_size: int = 14
    vgg_max_channels: int = 512
    theorem_k_fractions: tuple[float, ...] = (1.0, 0.05)
    seed: int = 0

    def __post_init__(self):
        if self.dataset not in ("patches", "digits"):
            raise ValueError(f"dataset must be 'patches' or 'digits'; got {self.dataset!r}")
        for field in dataclasses.fields(self):
            value, low = getattr(self, field.name), 0 if field.name == "seed" else 1
            if field.type == "int" and (
                isinstance(value, bool) or not isinstance(value, int) or value < low
            ):
                raise ValueError(f"{field.name} must be an int >= {low}; got {value!r}")
        if not 2 <= self.classes <= len(BUNDLED_IMAGES):
            raise ValueError(
                f"classes must be in [2, {len(BUNDLED_IMAGES)}] (the bundled images); got "
                f"{self.classes}"
            )
        for name in ("depths", "filter_sizes", "widths"):
            value = getattr(self, name)
            if (
                not isinstance(value, tuple)
                or not value
                or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value)
            ):
                raise ValueError(f"{name} must be a non-empty tuple of ints >= 1; got {value!r}")
        size = 8 if self.dataset == "digits" else self.patch_size
        if size % 2 ** max(self.depths):
            raise ValueError(
                f"patch_size must be a multiple of 2**max(depths) = {2 ** max(self.depths)} "
                f"(every 2 x 2 pooling halves the map exactly); got {size}"
                + (" (the digits are 8 x 8)" if self.dataset == "digits" else "")
            )
        if not 0 < self.algorithm2_fraction < 1:
            raise ValueError(
                f"algorithm2_fraction must be in (0, 1); got {self.algorithm2_fraction}"
            )
        if not self.theorem_k_fractions or not all(0 < f <= 1 for f in self.theorem_k_fractions):
            raise ValueError(
                f"theorem_k_fractions must be fractions in (0, 1]; got {self.theorem_k_fractions}"
            )
        if not 0 < self.learning_rate < 1:
            raise ValueError(f"learning_rate must be in (0, 1); got {self.learning_rate}")

    @classmethod
    def quick(cls, **changes) -> ReproduceSetup:
        """CI sizes: 10 classes, 8-wide networks, few samples (a couple of minutes on 2 cores)."""
        base: dict[str, Any] = dict(
            classes=10, train_per_class=64, test_per_class=24, filter_sizes=(3,), widths=(8,),
            seeds=2, epochs=6, analysis_examples=16, fig3_samples=200, bracket_samples=32,
            algorithm2_examples=4, algorithm2_steps=100, niht_steps=30, decoder_epochs=3,
            decoder_examples=256, coherence_seeds=1, vgg_map_size=8, vgg_max_channels=128,
        )  # fmt: skip
        return cls(**(base | changes))

    def fingerprint(self) -> str:
        """A hash of the setup: a directory's stages belong to exactly one setup."""
        text = json.dumps(dataclasses.asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def grid(self) -> list[NetworkConfig]:
        return [
            NetworkConfig((width,) * depth, size, self.num_classes, frozen)
            for depth in self.depths
            for size in self.filter_sizes
            for width in self.widths
            for frozen in (True, False)
        ]

    @property
    def num_classes(self) -> int:
        return 10 if self.dataset == "digits" else self.classes

    def analysed(self, frozen: bool) -> NetworkConfig:
        depth, width = max(self.depths), self.widths[-1]
        return NetworkConfig((width,) * depth, self.filter_sizes[0], self.num_classes, frozen)

    def task(self):
        """The standardised task (deterministic for the seed)."""
        key = jr.fold_in(jr.key(self.seed), 0)
        if self.dataset == "digits":
            return standardize(digits_task(key))
        images = load_bundled_images(BUNDLED_IMAGES[: self.classes], short_side=self.short_side)
        return standardize(
            patch_task(
                key, images, patch_size=self.patch_size, train_per_class=self.train_per_class,
                test_per_class=self.test_per_class,
            )
        )  # fmt: skip


class SetupMismatch(ValueError):
    """The output directory holds the stages of a different setup."""


class StageStore:
    """The run's directory: ``stages/<name>.json`` and ``networks/<name>.msgpack``.

    Each stage file carries the fingerprint of the setup that wrote it, and is reused only by
    that setup: ``setup.json`` is not trusted alone (a directory that lost it, or a stage file
    copied in, would pass another setup's tables off as this one's). A stage of another setup,
    or one with no fingerprint, is refused (:class:`SetupMismatch`) rather than recomputed,
    as a directory of another setup is: recomputing would silently replace results that may
    have taken hours. Each saved network's SHA-256 is recorded in the ``table1_networks``
    stage and checked when the network is loaded.
    """

    def __init__(self, directory: Path, setup: ReproduceSetup, *, overwrite: bool = False):
        self.directory = Path(directory)
        self.setup = setup
        self.fingerprint = setup.fingerprint()
        self.stages = self.directory / "stages"
        self.networks = self.directory / "networks"
        marker = self.directory / "setup.json"
        if marker.exists() and not overwrite:
            marked = read_json(marker)
            found = marked.get("fingerprint") if isinstance(marked, dict) else None
            if found != self.fingerprint:
                raise SetupMismatch(
                    f"{self.directory} holds a run of another setup (fingerprint {found}, this "
                    f"one {self.fingerprint}): choose another --output, or --overwrite"
                )
        if not overwrite:  # before anything is written: every stage there is this setup's
            for path in sorted(self.stages.glob("*.json")):
                content = read_json(path, "a stage file")
                self._check(path, content)  # another setup's stage: said first
                check_stage(path.stem, content, path)
        self.stages.mkdir(parents=True, exist_ok=True)
        self.networks.mkdir(exist_ok=True)
        if overwrite:
            for path in list(self.stages.glob("*.json")) + list(self.networks.glob("*")):
                path.unlink()
        write_json(marker, {"fingerprint": self.fingerprint, "setup": dataclasses.asdict(setup)})

    def _check(self, path: Path, content) -> None:
        found = content.get("fingerprint") if isinstance(content, dict) else None
        if found != self.fingerprint:
            what = (
                "carries no setup fingerprint (written by hand or by an older jaxcs), so it may "
                "be another setup's"
                if found is None
                else f"is a stage of another setup (fingerprint {found})"
            )
            raise SetupMismatch(
                f"{path} {what}; this setup's fingerprint is {self.fingerprint}, and a stage is "
                "reused only by the setup that wrote it: choose another --output, or --overwrite"
            )

    def load(self, name: str) -> dict | None:
        """The content of stage ``name``, or ``None`` if it has not finished.

        Raises:
            SetupMismatch: the stage file is not this setup's.
        """
        path = self.stages / f"{name}.json"
        if not path.exists():
            return None
        content = read_json(path, "a stage file")
        self._check(path, content)
        check_stage(name, content, path)
        return {key: value for key, value in content.items() if key != "fingerprint"}

    def save(self, name: str, content: dict) -> None:
        """Keep stage ``name``'s content, stamped with the setup's fingerprint."""
        write_json(self.stages / f"{name}.json", {"fingerprint": self.fingerprint} | content)

    def save_network(self, name: str, variables) -> str:
        """Save a network's variables; return the file's SHA-256 (to record in a stage)."""
        path = self.networks / f"{name}.msgpack"
        save_flax_params(path, variables)
        return hashlib.sha256(path.read_bytes()).hexdigest()

    def load_network(self, name: str, sha256: str | None):
        """The variables saved by :meth:`save_network`, if the file still has the recorded
        SHA-256 ``sha256`` (else :class:`SetupMismatch`: not the network this run trained)."""
        path = self.networks / f"{name}.msgpack"
        found = hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None
        if sha256 is None or found != sha256:
            raise SetupMismatch(
                f"{path} is not the network this run trained (SHA-256 {found}; the "
                f"table1_networks stage records {sha256}): choose another --output, or "
                "--overwrite"
            )
        return load_flax_params(path)


def _log(message: str, progress: bool) -> None:
    if progress:
        print(message, flush=True)


def _train_grid(store: StageStore, task, progress: bool) -> dict:
    setup = store.setup
    done = store.load("table1_networks") or {"networks": []}
    finished = {(n["network"], n["seed"]) for n in done["networks"]}
    for config in setup.grid():
        for seed in range(setup.seeds):
            if (config.name, seed) in finished:
                continue
            trained = train_network(
                _network_key(setup, config, seed), config, task, epochs=setup.epochs,
                batch_size=setup.batch_size, learning_rate=setup.learning_rate,
                progress=progress,
            )  # fmt: skip
            done["networks"].append(trained.summary() | {"seed": seed})
            if seed == 0 and config in (setup.analysed(True), setup.analysed(False)):
                files = done.setdefault("network_files", {})
                files[config.name] = store.save_network(config.name, trained.variables)
            store.save("table1_networks", done)
            _log(
                f"  {config.name} seed {seed}: test accuracy {float(trained.test_accuracy):.3f}"
                f" ({trained.seconds:.1f} s)",
                progress,
            )
    return {"rows": evidence.table1_rows(done["networks"]), "networks": done["networks"]}


def _network_key(setup: ReproduceSetup, config: NetworkConfig, seed: int) -> jax.Array:
    """One key per network of the grid (its name, random or learned included, and its seed),
    from a stable hash of the name (not Python's salted ``hash``), so that a resumed run trains
    each remaining network exactly as an uninterrupted one would."""
    digest = int(hashlib.sha256(f"{config.name}/{seed}".encode()).hexdigest()[:7], 16)
    return jr.fold_in(jr.fold_in(jr.key(setup.seed), 1), digest)


def _analysed(store: StageStore, task, frozen: bool):
    """The analysed network's variables and its activations on the analysis images."""
    config = store.setup.analysed(frozen)
    recorded = (store.load("table1_networks") or {}).get("network_files", {})
    variables = store.load_network(config.name, recorded.get(config.name))
    variables = jax.tree.map(jnp.asarray, variables)
    return (
        config,
        variables,
        _activations(config, variables, task.x_test[: store.setup.analysis_examples]),
    )


def _activations(config, variables, x, batch: int = 256) -> list[dict]:
    parts = [
        config.module().apply(variables, jnp.asarray(x[i : i + batch]), method="activations")[0]
        for i in range(0, len(x), batch)
    ]
    return [
        {name: jnp.concatenate([p[b][name] for p in parts]) for name in parts[0][b]}
        for b in range(len(parts[0]))
    ]


def _trained_decoders(setup, config, variables, task, progress) -> tuple[dict, dict]:
    x = task.x_train[: setup.decoder_examples]
    blocks = _activations(config, variables, x)
    decoders, info = {}, {}
    for level in range(1, config.depth):
        decoder, dvars, losses, seconds = train_decoder(
            jr.fold_in(jr.key(setup.seed), 100 + level), np.asarray(blocks[level]["input"]), x,
            levels=level, epochs=setup.decoder_epochs, batch_size=setup.batch_size,
            progress=progress,
        )  # fmt: skip
        decoders[level] = jax.jit(lambda h, d=decoder, v=dvars: d.apply(v, h))
        info[level] = {"final_loss": losses[-1], "seconds": seconds}
    return decoders, info


def run_reproduce(
    setup: ReproduceSetup,
    directory: str | Path,
    *,
    progress: bool = False,
    overwrite: bool = False,
    on_stage: Callable[[str, dict], None] | None = None,
) -> dict:
    """Run every stage not already in ``directory``; return ``{stage: content}``.

    Raises:
        SetupMismatch: ``directory`` holds another setup's stages (unless ``overwrite``).
        StageFileError: a stage file kept there is not JSON, lacks its rows, or holds a value of
            the wrong type or out of range (the file, row and key named).
    """
    store = StageStore(Path(directory), setup, overwrite=overwrite)
    task = setup.task()
    results: dict = {"task": task.summary(), "environment": environment()}
    key = jr.fold_in(jr.key(setup.seed), 2)
    analysed: dict = {}

    def network(frozen: bool):
        if frozen not in analysed:
            analysed[frozen] = _analysed(store, task, frozen)
        return analysed[frozen]

    def operators():
        if "ops" not in analysed:
            _, variables, blocks = network(False)
            analysed["ops"] = evidence.layer_operators(jr.fold_in(key, 0), variables, blocks)
        return analysed["ops"]

    def stage_table1():
        return _train_grid(store, task, progress)

    def stage_table2():
        rows = []
        for frozen in (False, True):
            config, _, blocks = network(frozen)
            rows += evidence.table2_rows(config.name, blocks)
        return {"rows": rows}

    def stage_table4():
        config, variables, blocks = network(False)
        rows = evidence.table4_rows(
            jr.fold_in(key, 4), config.name, variables, blocks, seeds=setup.coherence_seeds
        )
        layers = [s for s in evidence.VGG16_LAYERS if max(s) <= setup.vgg_max_channels]
        rows += evidence.vgg16_coherence_rows(
            jr.fold_in(key, 5), seeds=setup.coherence_seeds, map_size=setup.vgg_map_size,
            layers=layers,
        )  # fmt: skip
        return {"rows": rows}

    def stage_fig3():
        _, _, blocks = network(False)
        rows = evidence.fig3_rows(
            jr.fold_in(key, 6), operators(), blocks, num_samples=setup.fig3_samples,
            bracket_samples=setup.bracket_samples, algorithm2_examples=setup.algorithm2_examples,
            algorithm2_fraction=setup.algorithm2_fraction, algorithm2_steps=setup.algorithm2_steps,
        )  # fmt: skip
        return {"rows": rows}

    def stage_table3():
        config, variables, blocks = network(False)
        decoders, info = _trained_decoders(setup, config, variables, task, progress)
        rows = evidence.table3_rows(
            jr.fold_in(key, 7), config, variables, operators(), blocks,
            niht_steps=setup.niht_steps, decoders=decoders,
        )  # fmt: skip
        return {"rows": rows, "decoders": {str(k): v for k, v in info.items()}}

    def stage_theorem_3_3():
        _, _, blocks = network(False)
        known = {(r["layer"], r["filters"]): r["delta_bracket"] for r in results["fig3"]["rows"]}
        rows = evidence.theorem_rows(
            jr.fold_in(key, 8), operators(), blocks, k_fractions=setup.theorem_k_fractions,
            bracket_samples=setup.bracket_samples, delta_k_brackets=known,
        )  # fmt: skip
        return {"rows": rows}

    runners = {
        "table1": stage_table1,
        "table2": stage_table2,
        "table4": stage_table4,
        "fig3": stage_fig3,
        "table3": stage_table3,
        "theorem_3_3": stage_theorem_3_3,
    }
    for name in STAGES:
        content = store.load(name)
        if content is None:
            _log(f"[{name}] running", progress)
            started = time.perf_counter()
            content = runners[name]()
            content["seconds"] = time.perf_counter() - started
            store.save(name, content)
            _log(f"[{name}] done in {content['seconds']:.1f} s", progress)
        else:
            _log(f"[{name}] kept from {store.stages / (name + '.json')}", progress)
        results[name] = content
        if on_stage is not None:
            on_stage(name, content)
    results["setup"] = dataclasses.asdict(setup)
    results["fingerprint"] = setup.fingerprint()
    return results
