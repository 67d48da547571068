"""How `events classify` grows with the number of headlines (issue 11, defect 7).

Builds synthetic news files of 1,000, 10,000 and 100,000 headlines from the labelled sets
(tests/data), each made unique by a tail of made-up words after a clause break (so no cache of
repeated headlines could help), one every 10 minutes from 2023-01-01 UTC, from seven sources.
For each size it prints, in seconds of wall time and CPU time: reading, classifying, merging
stories and retractions (in process), and the whole command (`python -m backtests events
classify FILE --out`, in a subprocess, output discarded), with microseconds per headline.

    python bench/bench_classify.py [--sizes 1000,10000,100000] [--classifier rules|model|ensemble]

The machine is shared: CPU time is the steadier figure when other work is running.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SETS = [
    REPO / "tests/data/labelled_headlines.csv",
    REPO / "tests/data/holdout_headlines.csv",
    *sorted((REPO / "tests/data/headline_sets/dev").glob("*.csv")),
]
SYLLABLES = ["zor", "vex", "lun", "tri", "mab", "quo", "fen", "dax", "pil", "rho", "sul", "ket"]


def write_headlines(path: Path, count: int, seed: int = 7) -> None:
    """``count`` unique headlines in a CSV news file (deterministic for a seed)."""
    import pandas as pd

    pool = [row["headline"] for file in SETS for row in csv.DictReader(file.open())]
    rng = random.Random(seed)
    start = pd.Timestamp("2023-01-01T00:00:00Z")
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(["published_at", "source", "headline"])
        for i in range(count):
            tail = " ".join("".join(rng.choices(SYLLABLES, k=3)) for _ in range(2))
            when = (start + pd.Timedelta(minutes=10 * i)).isoformat()
            writer.writerow([when, f"source{i % 7}", f"{rng.choice(pool)} | {tail}"])


def timed(action):
    wall, cpu = time.perf_counter(), time.process_time()
    result = action()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--classifier", default="rules", choices=("rules", "model", "ensemble"))
    args = parser.parse_args()
    from data.news.classifiers import make_classifier
    from data.news.feeds import load_news
    from data.news.rules import load_rules
    from data.news.triggers import classify_items, deduplicate

    rules = load_rules()
    classifier = make_classifier(args.classifier, rules)
    print(f"classifier: {args.classifier}")
    print(f"{'headlines':>9} {'stage':<9} {'wall s':>8} {'cpu s':>8} {'us/headline':>12}")
    with tempfile.TemporaryDirectory() as folder:
        for size in (int(s) for s in args.sizes.split(",")):
            news = Path(folder) / f"news_{size}.csv"
            write_headlines(news, size)
            batch, w_read, c_read = timed(lambda: load_news([news]))  # noqa: B023
            classified, w_cls, c_cls = timed(lambda: classify_items(batch.items, classifier))  # noqa: B023
            triggers, w_mrg, c_mrg = timed(lambda: deduplicate(classified, 36, 168))  # noqa: B023
            out = Path(folder) / f"events_{size}.csv"
            command = [sys.executable, "-m", "backtests", "events", "classify", str(news)]
            command += ["--out", str(out), "--classifier", args.classifier]
            before = os.times()
            start = time.perf_counter()
            subprocess.run(command, cwd=REPO, check=True, stdout=subprocess.DEVNULL)
            w_cli = time.perf_counter() - start
            after = os.times()
            c_cli = (after.children_user - before.children_user) + (
                after.children_system - before.children_system
            )
            for stage, wall, cpu in (
                ("read", w_read, c_read),
                ("classify", w_cls, c_cls),
                ("merge", w_mrg, c_mrg),
                ("command", w_cli, c_cli),
            ):
                print(f"{size:>9} {stage:<9} {wall:>8.2f} {cpu:>8.2f} {cpu / size * 1e6:>12.0f}")
            fired = sum(c.verdict.triggered for c in classified)
            retracted = sum(bool(t.retracts) for t in triggers)
            print(
                f"{size:>9} {fired} headlines triggered, {len(triggers) - retracted} triggers "
                f"after merging, {retracted} retractions"
            )


if __name__ == "__main__":
    main()
