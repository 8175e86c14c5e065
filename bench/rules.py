#!/usr/bin/env python3
"""Rule evaluation throughput: the default pack (configs/rules) over a realistic mix of
stored events, one core, in-process (the engine is pure). Prints events/s and alerts.

    .venv/bin/python bench/rules.py [--events 200000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from auditseal.rules.engine import Engine  # noqa: E402
from auditseal.rules.model import load_rules  # noqa: E402

ACTIONS = [
    ("login", "authentication", "failure", 0.25),
    ("login", "authentication", "success", 0.35),
    ("sudo", "process", "success", 0.15),
    ("role_granted", "iam", "success", 0.02),
    ("feature_flag_changed", "configuration", "success", 0.03),
    ("api_key_created", "iam", "success", 0.02),
    ("password_reset", "iam", "success", 0.03),
    ("file_read", "file", "success", 0.15),
]


def events(n: int, seed: int = 7):
    rng = random.Random(seed)
    t0 = dt.datetime(2026, 11, 30, tzinfo=dt.timezone.utc)
    weights = [a[3] for a in ACTIONS]
    for i in range(n):
        action, category, outcome, _ = rng.choices(ACTIONS, weights)[0]
        user = f"user{rng.randrange(2000)}"
        yield {
            "@timestamp": (t0 + dt.timedelta(milliseconds=i * 5)).isoformat().replace("+00:00", "Z"),
            "organization": {"id": f"tenant{rng.randrange(20)}"},
            "event": {"id": f"{i:032x}", "action": action, "category": [category], "outcome": outcome},
            "source": {"ip": f"10.{rng.randrange(4)}.{rng.randrange(256)}.{rng.randrange(256)}"},
            "user": {
                "name": user,
                "roles": ["admin"] if rng.random() < 0.05 else ["user"],
                "target": {"name": f"user{rng.randrange(2000)}"},
            },
        }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    args = parser.parse_args()
    pack = load_rules(Path(__file__).resolve().parent.parent / "configs" / "rules")
    docs = list(events(args.events))
    engine = Engine(pack)
    started = time.process_time()
    alerts = sum(len(engine.process(doc)) for doc in docs)
    cpu = time.process_time() - started
    print(
        f"rules events={args.events} rules={len(pack)} events_per_cpu_s={args.events / cpu:,.0f} "
        f"alerts={alerts} cpu_s={cpu:.2f}"
    )


if __name__ == "__main__":
    main()
