#!/usr/bin/env python3
"""Medians and ranges of scripts/bench-mqtt-storm.sh's runs, as Markdown.

    python3 scripts/bench-mqtt-storm-summary.py bench-results/mqtt-connect-storm

reads PREFIX.jsonl (the load generator's objects, labelled
VARIANT-BACKEND-rROUND) and PREFIX-metrics.tsv (the server's counters after
each run) and prints one row per scenario, backend and build: the median of
the rounds and, in brackets, their lowest and highest value.
"""

import collections
import json
import statistics
import sys


def cell(values, fmt):
    if not values or any(v is None for v in values):
        return "-"
    med = statistics.median(values)
    if len(values) == 1:
        return fmt.format(med)
    return f"{fmt.format(med)} [{fmt.format(min(values))}–{fmt.format(max(values))}]"


def main(prefix):
    runs = collections.defaultdict(list)
    with open(prefix + ".jsonl") as f:
        for line in f:
            r = json.loads(line)
            variant, backend, _round = r["label"].split("-")
            key = (r["scenario"], r["connections"], backend, variant)
            runs[key].append(r)
    home = collections.defaultdict(list)
    with open(prefix + "-metrics.tsv") as f:
        next(f)
        for line in f:
            label, connects, _takeovers, sent_home = line.rstrip("\n").split("\t")
            variant, backend, _round = label.split(" ")[0].split("-")
            if "storm" in label and int(connects) > 0:
                ids = int(label.split("--connections ")[1].split()[0])
                home[("storm", ids, backend, variant)].append(int(sent_home) / int(connects))

    cols = [
        ("rate/s", lambda r: r["throughput_msgs_per_s"], "{:,.0f}"),
        ("p50 µs", lambda r: r["latency_us"]["p50"], "{:,}"),
        ("p99 µs", lambda r: r["latency_us"]["p99"], "{:,}"),
        ("max µs", lambda r: r["latency_us"]["max"], "{:,}"),
        ("server µs/msg", lambda r: r["server_cpu_us_per_msg"], "{:.2f}"),
        ("user", lambda r: r["server_user_us_per_msg"], "{:.2f}"),
        ("kernel", lambda r: r["server_kernel_us_per_msg"], "{:.2f}"),
        ("server %", lambda r: r["server_cpu_pct"], "{:.0f}"),
        ("loadgen %", lambda r: r["loadgen_cpu_pct"], "{:.0f}"),
        ("other %", lambda r: r["other_cpu_pct"], "{:.0f}"),
        ("errors", lambda r: r["errors"], "{}"),
    ]
    print("| scenario | backend | build | runs | " + " | ".join(c[0] for c in cols) + " | sent home |")
    print("|---|---|---|---:|" + "---:|" * len(cols) + "---:|")
    for key in sorted(runs, key=lambda k: (k[0] != "storm", k[0], k[1], k[2] != "uring", k[3] != "old")):
        scenario, conns, backend, variant = key
        rs = runs[key]
        name = f"storm {conns} ids" if scenario == "storm" else f"{scenario} QoS 0 max"
        cells = [cell([get(r) for r in rs], fmt) for _, get, fmt in cols]
        share = home.get(key)
        sent_home = cell([100 * s for s in share], "{:.1f} %") if share and variant == "new" else "-"
        print(f"| {name} | {backend} | {variant.upper()} | {len(rs)} | " + " | ".join(cells) + f" | {sent_home} |")


if __name__ == "__main__":
    main(sys.argv[1])
