"""The slow side paths on the shipped sample, before and after a change, in one run.

    python benchmarks/side_paths.py                 # this checkout vs the commit named by --before
    python benchmarks/side_paths.py --before 273ca17 --repeat 3

For each version (a detached ``git worktree`` of ``--before``, and this checkout) it runs the console
command as a user would (``python -m labelaudit.cli``, a fresh process each time): ``scan`` of
``sample_data/digits_noisy.parquet`` with ``--model logreg``, ``hgb`` and ``mlp`` (torch), then
``retrain`` of ``digits_train.parquet`` scored on ``digits_test_clean.parquet`` with ``--rounds 3``.
It reports the median wall time, the detection F1 against ``digits_truth.csv`` and the retrain
strategies' clean-test accuracy, so a speed-up is shown beside what it cost (or did not).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"


def run(src: Path, args: list[str], cwd: Path) -> tuple[float, subprocess.CompletedProcess]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "labelaudit.cli", *args], cwd=cwd, env=env, capture_output=True, text=True
    )
    return time.perf_counter() - start, proc


def measure(src: Path, work: Path, repeat: int, torch: bool) -> dict:
    out: dict = {}
    models = ["logreg", "hgb"] + (["mlp"] if torch else [])
    for model in models:
        times = []
        for _ in range(repeat):
            secs, proc = run(
                src,
                [
                    "scan",
                    str(SAMPLE / "digits_noisy.parquet"),
                    "--model",
                    model,
                    "-q",
                    "--force",
                    "--out",
                    "s.labelaudit",
                ],
                work,
            )
            if proc.returncode not in (0, 1):
                raise SystemExit(f"scan --model {model} failed: {proc.stderr}")
            times.append(secs)
        _, rep = run(
            src, ["report", "s.labelaudit", "--format", "json", "--truth", str(SAMPLE / "digits_truth.csv")], work
        )
        truth = json.loads(rep.stdout)["truth"]
        out[f"scan {model}"] = {"seconds": statistics.median(times), "f1": truth["f1"]}
    if torch:
        run(src, ["scan", str(SAMPLE / "digits_train.parquet"), "-q", "--force", "--out", "t.labelaudit"], work)
        secs, proc = run(
            src,
            [
                "retrain",
                "t.labelaudit",
                "--test",
                str(SAMPLE / "digits_test_clean.parquet"),
                "--rounds",
                "3",
                "--format",
                "json",
                "--bootstrap",
                "200",
            ],
            work,
        )
        if proc.returncode != 0:
            raise SystemExit(f"retrain failed: {proc.stderr}")
        doc = json.loads(proc.stdout)
        out["retrain --rounds 3"] = {
            "seconds": secs,
            "accuracy": {s["name"]: s["metrics"]["accuracy"]["value"] for s in doc["strategies"]},
            "rounds_flagged": [r["flagged"] for r in doc["rounds"]],
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", default="273ca17", help="git revision to compare with (default: %(default)s)")
    ap.add_argument("--repeat", type=int, default=3, help="scans per model; the median is reported")
    args = ap.parse_args()
    torch = importlib.util.find_spec("torch") is not None
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        old = tmp / "before"
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(old), args.before], cwd=ROOT, check=True, capture_output=True
        )
        try:
            for name, src in ((f"before ({args.before})", old / "src"), ("after (this checkout)", ROOT / "src")):
                work = tmp / f"work-{name.split()[0]}"
                work.mkdir()
                results[name] = measure(src, work, args.repeat, torch)
                print(name, json.dumps(results[name], indent=1), flush=True)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(old)], cwd=ROOT, capture_output=True)
    (before, b), (after, a) = results.items()
    print(f"\n| step | {before} | {after} | ratio |\n|---|---:|---:|---:|")
    for key in a:
        extra_b = f", F1 {b[key]['f1']:.3f}" if "f1" in b.get(key, {}) else ""
        extra_a = f", F1 {a[key]['f1']:.3f}" if "f1" in a[key] else ""
        if key in b:
            ratio = b[key]["seconds"] / a[key]["seconds"]
            print(f"| {key} | {b[key]['seconds']:.1f} s{extra_b} | {a[key]['seconds']:.1f} s{extra_a} | {ratio:.2f}x |")
    if "retrain --rounds 3" in a and "retrain --rounds 3" in b:
        print("\nclean-test accuracy per strategy (before -> after):")
        for s, acc in a["retrain --rounds 3"]["accuracy"].items():
            print(f"  {s}: {b['retrain --rounds 3']['accuracy'].get(s, float('nan')):.4f} -> {acc:.4f}")
    logreg = a["scan logreg"]["seconds"]
    print(
        f"\nafter: hgb / logreg = {a['scan hgb']['seconds'] / logreg:.2f}x"
        + (f", mlp / logreg = {a['scan mlp']['seconds'] / logreg:.2f}x" if "scan mlp" in a else "")
    )


if __name__ == "__main__":
    main()
