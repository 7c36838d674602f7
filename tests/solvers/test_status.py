"""One result vocabulary: jaxcs.Status, whose members carry their messages."""

import jax.numpy as jnp

import jaxcs
from jaxcs import Status


def test_every_member_has_a_message_and_the_codes_are_stable():
    assert [(s.name, int(s)) for s in Status if s >= 0] == [
        ("CONVERGED", 0),
        ("MAX_STEPS", 1),
        ("NONFINITE", 2),
        ("DIVERGED", 3),
        ("STALLED", 4),
        ("COMPLETED", 5),
    ]
    for member in Status:
        assert member.message.split(":")[0].replace(" ", "_").upper().startswith(member.name[:3])
    assert not hasattr(jaxcs, "STATUS")  # one vocabulary: Status(code).message


def test_counts_and_describe():
    codes = jnp.array([[0, 4], [4, 1]], jnp.int32)
    counts = Status.counts(codes)
    assert counts["STALLED"] == 2 and counts["CONVERGED"] == 1 and counts["MAX_STEPS"] == 1
    assert "RUNNING" not in counts and sum(counts.values()) == 4
    # a solver's members, zeros included; a Monte Carlo estimate's by its COMPLETED code
    assert list(counts) == ["CONVERGED", "MAX_STEPS", "NONFINITE", "DIVERGED", "STALLED"]
    assert Status.counts(jnp.array([5, 5, 2])) == {"NONFINITE": 1, "COMPLETED": 2}
    assert Status.describe(codes) == ["CONVERGED", "STALLED", "STALLED", "MAX_STEPS"]
