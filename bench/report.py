#!/usr/bin/env python3
"""Turns bench/run's result lines into one Markdown table: medians and tether/ssh ratios."""
import statistics
import sys
from collections import defaultdict

# (scenario, key, label, which way is better)
METRICS = [
    ("stream", "up_mbps", "1 stream up, MB/s", "higher"),
    ("stream", "down_mbps", "1 stream down, MB/s", "higher"),
    ("parallel", "agg_mbps", "parallel streams (100) aggregate, MB/s", "higher"),
    ("parallel", "fairness", "parallel streams slowest/fastest", "higher"),
    ("parallel", "all_flowing_s", "parallel streams: s until every one has data", "lower"),
    ("short", "conn_per_s", "short connections/s (2000, 50 at a time)", "higher"),
    ("short", "fb_p50_ms", "short conn first byte p50, ms", "lower"),
    ("short", "fb_p99_ms", "short conn first byte p99, ms", "lower"),
    ("short", "failures", "short conn failures", "lower"),
    ("pingpong", "rtt_p50_ms", "200 conns 64 B round trip p50, ms", "lower"),
    ("pingpong", "rtt_p99_ms", "200 conns 64 B round trip p99, ms", "lower"),
    ("ready", "ready_s", "exec to first byte through (-f), s", "lower"),
    ("hold", "rss_idle_kib", "RSS idle, KiB", "lower"),
    ("hold", "pss_idle_kib", "PSS idle, KiB", "lower"),
    ("hold", "anon_idle_kib", "anonymous memory idle, KiB", "lower"),
    ("hold", "rss_conns_kib", "RSS with 1000 conns open, KiB", "lower"),
    ("hold", "anon_conns_kib", "anonymous memory with 1000 conns open, KiB", "lower"),
    ("hold", "held", "connections held and working", "higher"),
    ("hold", "rtt_idle10_p99_ms", "1 conn round trip p99, 10 idle open, ms", "lower"),
    ("hold", "rtt_idle_many_p99_ms", "1 conn round trip p99, 1000 idle open, ms", "lower"),
    ("hold", "cpu_us_per_rt_idle10", "tunnel CPU per round trip, 10 idle open, us", "lower"),
    ("hold", "cpu_us_per_rt_idle_many", "tunnel CPU per round trip, 1000 idle open, us", "lower"),
    ("stream", "cpu_tunnel_per_gib", "CPU s/GiB, tunnel process", "lower"),
    ("stream", "cpu_peer_per_gib", "CPU s/GiB, sshd session", "lower"),
]
# bench/run --link: the scenarios of a modeled wide-area link.
LINK_METRICS = [
    ("burst", "first_p50_ms", "burst of 20 right after start: median client's first echo, ms", "lower"),
    ("burst", "first_last_ms", "burst of 20 right after start: last client's first echo, ms", "lower"),
    ("burst", "later_p50_ms", "later bursts of 20: median client's first echo, ms", "lower"),
    ("burst", "later_last_ms", "later bursts of 20: last client's first echo, ms", "lower"),
    ("burst", "failures", "burst clients without an echo", "lower"),
    ("stream", "down_mbps", "1 stream down, MB/s", "higher"),
    ("stream", "up_mbps", "1 stream up, MB/s", "higher"),
    ("parallel", "all_flowing_s", "parallel streams (100): s until every one has data", "lower"),
    ("parallel", "agg_mbps", "parallel streams (100) aggregate, MB/s", "higher"),
    ("parallel", "fairness", "parallel streams slowest/fastest", "higher"),
    ("ready", "ready_s", "exec to first byte through (-f), s", "lower"),
    ("stream", "cpu_tunnel_per_gib", "CPU s/GiB, tunnel process", "lower"),
]
EXTRA = [("ssh-default", "ssh default cipher (chacha20-poly1305)"),
         ("ssh-gcm", "ssh aes128-gcm")]


def load(path):
    data = defaultdict(dict)  # (tool, scenario, key) -> {round: value}
    with open(path) as f:
        for line in f:
            fields = dict(kv.split("=", 1) for kv in line.split())
            tool, rnd, scenario = fields.pop("tool"), int(fields.pop("round")), fields.pop("scenario")
            for key, value in fields.items():
                data[(tool, scenario, key)][rnd] = float(value)
    return data


def fmt(x):
    if x is None:
        return "-"
    return f"{x:.3g}" if abs(x) < 100 else f"{x:.0f}"


def row(data, label, better, scenario, key, other, me="tether", limit=None):
    mine = data.get((me, scenario, key), {})
    theirs = data.get((other, scenario, key), {})
    if not mine or not theirs:
        return None
    ratios = [mine[r] / theirs[r] for r in sorted(mine) if r in theirs and theirs[r] != 0]
    median_ratio = statistics.median(ratios) if ratios else None
    line = (f"| {label} | {better} | {fmt(statistics.median(mine.values()))} | "
            f"{fmt(statistics.median(theirs.values()))} | {' '.join(fmt(r) for r in ratios)} | "
            f"**{fmt(median_ratio)}** |")
    if limit is not None:
        raw = data.get(("raw", scenario, key), {})
        if raw and statistics.median(raw.values()) != 0:
            lim = statistics.median(raw.values())
            mine_med, theirs_med = statistics.median(mine.values()), statistics.median(theirs.values())
            line += f" {fmt(lim)} | {fmt(mine_med / lim)} | {fmt(theirs_med / lim)} |"
        else:
            line += " - | - | - |"
    return line


def tool_pairs(data):
    """tether against ssh; with TETHER_BENCH_BIN_B, tether-b against ssh and against tether."""
    pairs = [("tether", "ssh")]
    if any(tool == "tether-b" for tool, _, _ in data):
        pairs += [("tether-b", "ssh"), ("tether-b", "tether")]
    return pairs


def link_tables(data, link):
    """One table per measured tether (tether, and tether-b when TETHER_BENCH_BIN_B was set)
    against ssh, with the relay-alone (raw TCP) figures as the link's limit."""
    print(f"Link: {link} (round trip[,rate]) through tether-delay-relay.\n")
    ping = data.get(("raw", "rawping", "rtt_p50_ms"), {})
    if ping:
        print(f"Round trip through the relay alone (64 B ping-pong, p50): "
              f"{fmt(statistics.median(ping.values()))} ms\n")
    for me, other in tool_pairs(data):
        print(f"| metric | better | {me} (median) | {other} (median) | {me}/{other} per pair | "
              f"median ratio | raw TCP (limit) | {me}/raw | {other}/raw |")
        print("|---|---|---|---|---|---|---|---|---|")
        for scenario, key, label, better in LINK_METRICS:
            line = row(data, label, better, scenario, key, other, me, limit=True)
            if line:
                print(line)
        print()


def main():
    data = load(sys.argv[1])
    if len(sys.argv) > 3 and sys.argv[2] == "--link":
        link_tables(data, sys.argv[3])
        return
    for me, other in tool_pairs(data):
        print(f"| metric | better | {me} (median) | {other} (median) | {me}/{other} per pair | "
              f"median ratio |")
        print("|---|---|---|---|---|---|")
        for scenario, key, label, better in METRICS:
            line = row(data, label, better, scenario, key, other, me)
            if line:
                print(line)
        print()
    for tool, name in EXTRA:
        for key, what in (("up_mbps", "up"), ("down_mbps", "down")):
            line = row(data, f"1 stream {what}, MB/s vs {name}", "higher", "stream", key, tool)
            if line:
                print(line)


if __name__ == "__main__":
    main()
