"""``jaxcs bench``: solver throughput on this device, its flags and its run (the table
printed, the record saved as JSON)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from jaxcs.cli.arguments import COUNT, _HelpFormatter


def add_parser(sub) -> None:
    parser = sub.add_parser(
        "bench",
        help="solver throughput on this device at standard sizes",
        description="Problems/s and steps/s of IHT, NIHT, HTP and CoSaMP on the Fig. 2 conv "
        "problem and a Gaussian 200 × 1000 problem (k = 20), with success rates; saved as JSON.",
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("--problems", type=COUNT, default=1024, help="problems per solver")
    parser.add_argument("--max-steps", type=COUNT, default=300, help="step budget per problem")
    parser.add_argument("--output", default="results", help="directory for bench_*.json")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from jaxcs.experiments import bench, format_bench
    from jaxcs.io import write_json

    record = bench(problems_per_solver=args.problems, max_steps=args.max_steps)
    print(format_bench(record))
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = write_json(out / f"bench_{record['environment']['backend']}_{stamp}.json", record)
    print(f"saved: {path}")
    return 0
