"""Deploy benchmarks on the local lab, printed as JSON lines.

    .venv/bin/python bench/deploy.py [--nodes 3] [--keep]

cold: `pyinfra inventories/lab.py deploys/kafka.py` onto freshly booted bare hosts;
noop: the same command again right after (it must change nothing). The machines are shared
and noisy: compare the ratio measured in one run rather than seconds across runs.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def timed(*argv: str) -> tuple[float, str]:
    started = time.monotonic()
    proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, check=False)
    took = time.monotonic() - started
    if proc.returncode:
        sys.exit(f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return took, proc.stdout


def deploy() -> tuple[float, dict]:
    took, out = timed(
        str(BIN / "pyinfra"), "-y", "--json", "inventories/lab.py", "deploys/kafka.py"
    )
    return took, json.loads(out)["results"]["totals"]


def emit(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="leave the lab up afterwards")
    args = parser.parse_args()

    kafkaform = str(BIN / "kafkaform")
    timed(kafkaform, "lab", "down")
    boot, _ = timed(kafkaform, "lab", "up", "--nodes", str(args.nodes))
    emit(bench="lab_up", nodes=args.nodes, seconds=round(boot, 2))
    cold, cold_totals = deploy()
    emit(
        bench="deploy_cold",
        source="bare",
        nodes=args.nodes,
        seconds=round(cold, 2),
        changed=cold_totals["success"],
    )
    noop, noop_totals = deploy()
    emit(
        bench="deploy_noop",
        nodes=args.nodes,
        seconds=round(noop, 2),
        changed=noop_totals["success"],
        noop_over_cold=round(noop / cold, 3),
    )
    if not args.keep:
        timed(kafkaform, "lab", "down")


if __name__ == "__main__":
    main()
