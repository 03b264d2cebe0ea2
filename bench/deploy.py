"""Deploy benchmarks on the local lab, printed as JSON lines.

    .venv/bin/python bench/deploy.py [--nodes 3] [--keep]

cold: `pyinfra inventories/lab.py deploys/kafka.py` onto freshly booted bare hosts;
noop: the same command again right after (it must change nothing); then (unless --no-box) the
cold deploy again onto hosts started from a lab box baked with deploys/base_box.py: the
box_over_bare ratio is what baking saves. The machines are shared
and noisy: compare the ratio measured in one run rather than seconds across runs. Each deploy
line also has "phases": seconds in startup and connecting, preparing (deploy files and their
facts), the package transaction, each task, and each service's health wait.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from kafkaform.hostops import remove_tree
from kafkaform.lab.state import load_state

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def timed(*argv: str) -> tuple[float, str]:
    started = time.monotonic()
    proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, check=False)
    took = time.monotonic() - started
    if proc.returncode:
        sys.exit(f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return took, proc.stdout


def deploy(entry: str = "deploys/kafka.py", *options: str) -> tuple[float, dict]:
    """Run pyinfra; the totals and, under "phases", the seconds spent in each part of the run
    (read from its progress lines as they come: see ``phases``)."""
    argv = [str(BIN / "pyinfra"), "-y", "--json", *options, "inventories/lab.py", entry]
    started = time.monotonic()
    proc = subprocess.Popen(
        argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    out: list[str] = []  # read beside stderr: a large JSON result must not block pyinfra
    reader = threading.Thread(target=lambda: out.append(proc.stdout.read()))
    reader.start()
    marks: list[tuple[float, str]] = []
    err: list[str] = []
    for line in proc.stderr:
        marks.append((time.monotonic() - started, line))
        err.append(line)
    proc.wait()
    reader.join()
    took = time.monotonic() - started
    if proc.returncode:
        sys.exit(f"{' '.join(argv)} failed ({proc.returncode}):\n{''.join(err)[-4000:]}")
    totals = json.loads(out[0])["results"]["totals"]
    return took, {**totals, "phases": phases(marks, took)}


def phase_of(operation: str) -> str:
    """The part of a run an operation belongs to: its task (the text before the first " | "),
    the package transaction, or a task's health wait / safe restart."""
    task, _, step = operation.partition(" | ")
    if not step and task.startswith("Install "):
        return "packages"
    if step.startswith("Wait until") or (step.startswith("Restart") and "safely" in step):
        return f"{task}: wait"
    return task


def phases(marks: list[tuple[float, str]], end: float) -> dict[str, float]:
    """Seconds per phase from pyinfra's timed progress lines: startup and connecting, then
    preparing (deploy files and prepare-time facts), then each operation's phase."""
    current, since = "start+connect", 0.0
    spent: dict[str, float] = {}
    for at, line in marks:
        text = line.strip()
        if text.startswith("--> Preparing operation files"):
            upcoming = "prepare"
        elif text.startswith("--> Starting ") and "operation: " in text:
            upcoming = phase_of(text.split("operation: ", 1)[1].strip())
        elif text.startswith(("--> Results", "--> Disconnecting")):
            upcoming = "end"
        else:
            continue
        spent[current] = spent.get(current, 0.0) + at - since
        current, since = upcoming, at
    spent[current] = spent.get(current, 0.0) + end - since
    return {name: round(seconds, 2) for name, seconds in spent.items()}


def box_deploy(kafkaform: str, nodes: int, extra: list[str], bare: float) -> None:
    """Bake a lab box from one host, start the same lab from it, time the same deploy."""
    with tempfile.TemporaryDirectory(prefix="kafkaform-bench-box-") as out:
        timed(kafkaform, "lab", "down")
        timed(kafkaform, "lab", "up", "--nodes", "1")
        bake, baked = deploy("deploys/base_box.py", "--data", "base_box=true")
        package, _ = timed(kafkaform, "box", "package", "--provider", "lab", "--output-dir", out)
        emit(bench="box_bake", provider="lab", seconds=round(bake, 2), phases=baked["phases"])
        emit(bench="box_package", provider="lab", seconds=round(package, 2))
        timed(kafkaform, "lab", "down")
        catalog = f"{out}/metadata.json"
        boot, _ = timed(kafkaform, "lab", "up", "--nodes", str(nodes), "--box", catalog, *extra)
        emit(bench="lab_up", source="box", nodes=nodes, seconds=round(boot, 2))
        cold, totals = deploy()
        emit(
            bench="deploy_cold",
            source="box",
            nodes=nodes,
            seconds=round(cold, 2),
            changed=totals["success"],
            box_over_bare=round(cold / bare, 3),
            phases=totals["phases"],
        )


def emit(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="leave the lab up afterwards")
    parser.add_argument(
        "--monitoring", action="store_true", help="add the monitoring host (lab up --monitoring)"
    )
    parser.add_argument(
        "--no-box", action="store_true", help="skip the deploy onto hosts from a baked lab box"
    )
    args = parser.parse_args()

    kafkaform = str(BIN / "kafkaform")
    timed(kafkaform, "lab", "down")
    extra = ["--monitoring"] if args.monitoring else []
    boot, _ = timed(kafkaform, "lab", "up", "--nodes", str(args.nodes), *extra)
    emit(bench="lab_up", nodes=args.nodes, monitoring=args.monitoring, seconds=round(boot, 2))
    cold, cold_totals = deploy()
    emit(
        bench="deploy_cold",
        source="bare",
        nodes=args.nodes,
        seconds=round(cold, 2),
        changed=cold_totals["success"],
        phases=cold_totals["phases"],
    )
    noop, noop_totals = deploy()
    emit(
        bench="deploy_noop",
        nodes=args.nodes,
        seconds=round(noop, 2),
        changed=noop_totals["success"],
        noop_over_cold=round(noop / cold, 3),
        phases=noop_totals["phases"],
    )
    if not args.no_box:
        box_deploy(kafkaform, args.nodes, extra, cold)
    if not args.keep:
        state = load_state() or {}
        timed(kafkaform, "lab", "down")
        if state.get("base"):
            remove_tree(Path(state["base"]))  # the unpacked box


if __name__ == "__main__":
    main()
