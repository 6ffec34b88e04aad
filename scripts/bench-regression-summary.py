#!/usr/bin/env python3
"""Markdown table of a scripts/bench-regression.sh run: per scenario, OLD
against NEW, medians over the rounds with [min-max].

    bench-regression-summary.py JSONL [MAX_OTHER_PCT] > table.md

MAX_OTHER_PCT: leave out runs during which the rest of the machine used
more than this much CPU (the loadgen's other_cpu_pct, percent of one CPU).

A cell is marked "NEW worse" when every NEW run is worse than every OLD run
(the ranges do not overlap), i.e. the difference is beyond the spread
between rounds.
"""
import json
import statistics
import sys

ORDER = ["tcp-echo", "mqtt-fanin", "mqtt-fanout", "ws-echo-fixed", "tcp-idle", "ws-idle", "mqtt-idle"]


def rate(r):
    # MQTT: deliveries (what the server wrote); the others: messages echoed.
    return r.get("deliveries_per_s") if r["transport"] == "mqtt" else r["throughput_msgs_per_s"]


def cell(xs, fmt):
    xs = [x for x in xs if x is not None]
    if not xs:
        return "-"
    return f"{fmt(statistics.median(xs))} [{fmt(min(xs))}-{fmt(max(xs))}]"


def worse(old, new, higher_is_better):
    old = [x for x in old if x is not None]
    new = [x for x in new if x is not None]
    if not old or not new:
        return False
    return max(new) < min(old) if higher_is_better else min(new) > max(old)


def main():
    runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
    if len(sys.argv) > 2:
        runs = [r for r in runs if r["other_cpu_pct"] <= float(sys.argv[2])]
    by = {}
    for r in runs:
        which, scenario = r["label"].split("/", 1)
        by.setdefault(scenario, {}).setdefault(which, []).append(r)
    load_rows, idle_rows, flags = [], [], []
    metrics = [
        ("throughput", rate, True),
        ("CPU µs/msg", lambda r: r["server_cpu_us_per_msg"], False),
        ("p50", lambda r: (r["latency_us"] or {}).get("p50"), False),
        ("p99", lambda r: (r["latency_us"] or {}).get("p99"), False),
        ("bytes/conn", lambda r: r.get("rss_per_conn_bytes"), False),
    ]
    for scenario in [s for s in ORDER if s in by] + [s for s in by if s not in ORDER]:
        for which in ("old", "new"):
            rs = by[scenario].get(which, [])
            if not rs:
                continue
            other = ", ".join(f"{r['other_cpu_pct']:.0f}" for r in rs)
            if scenario.endswith("idle"):
                opened = ", ".join(str(r["connections_open"]) for r in rs)
                idle_rows.append(
                    f"| {scenario} | {which} | {cell([r['rss_per_conn_bytes'] for r in rs], lambda v: f'{v:,.0f}')} "
                    f"| {opened} | {other} |"
                )
                continue
            user = [r.get("server_user_us_per_msg") for r in rs]
            kernel = [r.get("server_kernel_us_per_msg") for r in rs]
            load_rows.append(
                f"| {scenario} | {which} | {cell([rate(r) for r in rs], lambda v: f'{v:,.0f}')} "
                f"| {cell([r['server_cpu_us_per_msg'] for r in rs], lambda v: f'{v:.2f}')} "
                f"| {cell(user, lambda v: f'{v:.2f}')} / {cell(kernel, lambda v: f'{v:.2f}')} "
                f"| {cell([(r['latency_us'] or {}).get('p50') for r in rs], lambda v: f'{v:,.0f}')} "
                f"| {cell([(r['latency_us'] or {}).get('p99') for r in rs], lambda v: f'{v:,.0f}')} "
                f"| {other} |"
            )
        old, new = by[scenario].get("old", []), by[scenario].get("new", [])
        for name, get, higher in metrics:
            o, n = [get(r) for r in old], [get(r) for r in new]
            if worse(o, n, higher):
                om, nm = statistics.median(o), statistics.median(n)
                flags.append(f"- {scenario}, {name}: NEW worse in every round "
                             f"(median {nm:,.2f} against {om:,.2f}, {100 * (nm - om) / om:+.1f} %)")
    print("| scenario | build | throughput msgs/s | server CPU µs/msg | user / kernel µs/msg | p50 µs | p99 µs | other CPU % per run |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(load_rows))
    print()
    print("| scenario | build | bytes per idle connection | connections open | other CPU % per run |")
    print("|---|---|---|---|---|")
    print("\n".join(idle_rows))
    print()
    print("Ranges that do not overlap, NEW on the worse side:")
    print("\n".join(flags) if flags else "- none")


main()
