#!/usr/bin/env python3
"""Turns bench/run.sh's raw figures (bench/out/raw) into the Markdown tables of results.md.

Usage: report.py RAW_DIR > results.md
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

TARGETS = {
    "same_rps": 30_000,
    "translated_rps": 20_000,
    "added_p50_ms": 0.25,
    "peak_mb": 20,
    "ttfb_added_ms": 0.25,
}
ROUTE_ORDER = ["mock", "nginx", "busbar"]
NAMES = {"openai": "OpenAI", "anthropic": "Anthropic"}


def load(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def perf_counts(path: Path) -> dict[str, float]:
    """Counter values from a `perf stat -x,` file, by event name."""
    counts: dict[str, float] = {}
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return counts
    for line in lines:
        fields = line.split(",")
        if len(fields) > 2 and not line.startswith("#"):
            try:
                counts[fields[2]] = float(fields[0])
            except ValueError:
                pass
    return counts


def describe(name: str) -> tuple[str, str]:
    target, ingress, egress, mode = name.split("-")
    if target == "mock":
        route = f"direct → mock ({NAMES[egress]})"
    elif target == "nginx":
        route = f"nginx → mock ({NAMES[egress]})"
    elif ingress == egress:
        route = f"Busbar {NAMES[ingress]} → {NAMES[egress]}"
    else:
        route = f"Busbar {NAMES[ingress]} → {NAMES[egress]} (translated)"
    return route, "streamed" if mode == "stream" else "JSON"


def sort_key(name: str) -> tuple:
    target, ingress, egress, mode = name.split("-")
    return (mode, ROUTE_ORDER.index(target), ingress != egress, ingress)


def ms(us: float | None) -> str:
    return "–" if us is None else f"{us / 1000:.3f}"


def signed_ms(us: float | None) -> str:
    return "–" if us is None else f"{us / 1000:+.3f}"


def main() -> int:
    raw = Path(sys.argv[1] if len(sys.argv) > 1 else "bench/out/raw")
    names = sorted(
        {p.name[len("sat-") : -len(".wrk.json")] for p in raw.glob("sat-*.wrk.json")}
        | {p.name[len("pace-") : -len(".json")] for p in raw.glob("pace-*.json") if ".proc." not in p.name},
        key=sort_key,
    )
    sat = {n: (load(raw / f"sat-{n}.wrk.json"), load(raw / f"sat-{n}.proc.json")) for n in names}
    pace = {n: (load(raw / f"pace-{n}.json"), load(raw / f"pace-{n}.proc.json")) for n in names}
    rig = {}
    if (raw / "rig.txt").exists():
        for line in (raw / "rig.txt").read_text().splitlines():
            key, _, value = line.partition("=")
            rig[key] = value
    load_before = (raw / "loadavg-before").read_text().strip() if (raw / "loadavg-before").exists() else "?"
    load_after = (raw / "loadavg-after").read_text().strip() if (raw / "loadavg-after").exists() else "?"

    print("# Busbar load benchmark results\n")
    print(f"- {rig.get('busbar', 'busbar ?')}, {rig.get('nginx', 'nginx ?')}, {rig.get('wrk', 'wrk ?')}")
    print(f"- CPU: {rig.get('cpu', '?')}; kernel {rig.get('kernel', '?')}")
    print(f"- {rig.get('settings', '')}")
    print(f"- load average before / after: {load_before} / {load_after}\n")

    print("## Saturation (wrk, one thread, pinned with the mock to the load core)\n")
    print("Proxy CPU is Busbar's or nginx's user+system time over the run divided by the requests;")
    print("it includes the kernel's work in the proxy's context (loopback packets are processed on the")
    print("sending core). 'Core busy' is that time over the wall time (100 % = the proxy's core is the")
    print("bottleneck); 'req/s per core' is 1 s divided by the CPU time per request, ksoftirqd's share included:")
    print("what one core could carry.\n")
    print("'Load core busy' is all time on the core of wrk and the mock, interrupts included (100 % = the client")
    print("side is the bottleneck); 'other on proxy core' is CPU that processes other than the proxies")
    print("took on the proxy's core (noise from the rest of the machine). 'ksoftirqd' is the kernel thread")
    print("that takes over packet processing on the proxy's core when it is flooded: work caused by the")
    print("traffic but charged to no process of ours, so add it to the proxy's CPU for the full cost.\n")
    print("| route | body | req/s | p50 ms | p99 ms | errors | proxy CPU µs/req | proxy core busy | req/s per core | proxy peak RSS MB | proxy syscalls/req | proxy ctx switches/req | ksoftirqd µs/req | mock CPU µs/req | load core busy | other on proxy core |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    sat_rows = {}
    events: dict[str, int] = {}
    for name in names:
        wrk, proc = sat[name]
        if not wrk or not proc:
            continue
        route, body = describe(name)
        duration_s = wrk["duration_us"] / 1e6
        rps = wrk["requests"] / duration_s
        errors = sum(wrk["errors"].values())
        cpu_s = proc["proxy_cpu_ticks"] / proc["ticks_per_s"]
        wall_s = proc["wall_ns"] / 1e9
        mock_us = proc["mock_cpu_ticks"] / proc["ticks_per_s"] / max(1, wrk["requests"]) * 1e6
        foreign = proc.get("foreign_proxy_core_ticks", 0) / proc["ticks_per_s"] / wall_s
        softirqd_s = proc.get("softirqd_proxy_core_ticks", 0) / proc["ticks_per_s"]
        softirqd_us = softirqd_s / max(1, wrk["requests"]) * 1e6
        load_busy = "–"
        if "load_core_ticks" in proc:
            load_busy = f"{proc['load_core_ticks'] / proc['ticks_per_s'] / wall_s:.0%}"
        if name.endswith("-stream") and proc.get("stream_events"):
            events[name] = proc["stream_events"]
        if name.startswith("mock-"):
            cpu_cell = busy_cell = per_core_cell = rss_cell = "–"
            per_core = None
        else:
            cpu_us = cpu_s / max(1, wrk["requests"]) * 1e6
            busy = cpu_s / wall_s
            full_us = (cpu_s + softirqd_s) / max(1, wrk["requests"]) * 1e6
            per_core = 1e6 / full_us if full_us else None
            cpu_cell = f"{cpu_us:.1f}"
            busy_cell = f"{busy:.0%}"
            per_core_cell = f"{per_core:,.0f}" if per_core else "–"
            rss_cell = f"{proc['proxy_peak_rss_kb'] / 1024:.1f}"
        perf = perf_counts(raw / f"sat-{name}.perf.csv")
        sys_cell = ctx_cell = "–"
        if "raw_syscalls:sys_enter" in perf:
            sys_cell = f"{perf['raw_syscalls:sys_enter'] / max(1, wrk['requests']):.1f}"
        if "context-switches" in perf:
            ctx_cell = f"{perf['context-switches'] / max(1, wrk['requests']):.2f}"
        sat_rows[name] = {"rps": rps, "per_core": per_core, "rss_kb": proc["proxy_peak_rss_kb"]}
        print(
            f"| {route} | {body} | {rps:,.0f} | {ms(wrk['latency_us']['p50'])} | {ms(wrk['latency_us']['p99'])} "
            f"| {errors} | {cpu_cell} | {busy_cell} | {per_core_cell} | {rss_cell} | {sys_cell} | {ctx_cell} | {softirqd_us:.1f} | {mock_us:.1f} | {load_busy} | {max(0.0, foreign):.0%} |"
        )

    if events:
        counts = sorted(set(events.values()))
        print(f"\nEach stream carries {'–'.join(map(str, counts))} events (`data:` lines) as the client receives it;")
        print("divide a streamed row's CPU time by that for the cost per relayed event.")
    print(f"\n## Paced ({rig.get('settings', '').split('rate=')[-1].split()[0] if 'rate=' in rig.get('settings', '') else '?'} req/s, bench/pace.py)\n")
    print("'Added' is the difference from calling the mock directly in the upstream's protocol (what")
    print("the proxy itself calls). 'First byte' is the time to the first body byte (a stream's first event).\n")
    print("| route | body | req/s | p50 ms | p99 ms | added p50 ms | added p99 ms | first byte p50 ms | added first byte p50 ms | late | errors | proxy CPU µs/req |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    pace_rows = {}
    for name in names:
        result, proc = pace[name]
        if not result or not result.get("latency_us"):
            continue
        route, body = describe(name)
        target, _ingress, egress, mode = name.split("-")
        base = pace.get(f"mock-{egress}-{egress}-{mode}", (None, None))[0]
        lat, first = result["latency_us"], result["first_body_us"]
        added50 = added99 = added_first = None
        if base and base.get("latency_us") and target != "mock":
            added50 = lat["p50"] - base["latency_us"]["p50"]
            added99 = lat["p99"] - base["latency_us"]["p99"]
            added_first = first["p50"] - base["first_body_us"]["p50"]
        cpu_cell = "–"
        if proc and target != "mock" and result["requests"]:
            # The run also paced a warm-up second; count its requests too.
            sent = result["achieved_rate"] * (result["seconds"] + 1)
            cpu_cell = f"{proc['proxy_cpu_ticks'] / proc['ticks_per_s'] / sent * 1e6:.0f}"
        pace_rows[name] = {"added50": added50, "added_first": added_first}
        print(
            f"| {route} | {body} | {result['achieved_rate']:,.0f} | {ms(lat['p50'])} | {ms(lat['p99'])} "
            f"| {signed_ms(added50)} | {signed_ms(added99)} | {ms(first['p50'])} | {signed_ms(added_first)} "
            f"| {result['late']} | {result['errors'] + result['non_200']} | {cpu_cell} |"
        )

    print("\n## Targets (Busbar on one core)\n")
    print("| target | goal | measured | met |")
    print("|---|---|---|---|")

    def busbar(rows: dict, same: bool, mode: str | None = None) -> list[tuple[str, dict]]:
        out = []
        for name, row in rows.items():
            target, ingress, egress, m = name.split("-")
            if target == "busbar" and (ingress == egress) == same and (mode is None or m == mode):
                out.append((name, row))
        return out

    for label, same, goal in (
        ("same-protocol throughput (JSON)", True, TARGETS["same_rps"]),
        ("translated throughput (JSON)", False, TARGETS["translated_rps"]),
    ):
        rows = busbar(sat_rows, same, "json")
        if not rows:
            continue
        worst = min(rows, key=lambda r: r[1]["rps"])
        capacity = [r[1]["per_core"] for r in rows if r[1]["per_core"]]
        measured = f"{worst[1]['rps']:,.0f} req/s measured (lowest: {worst[0]})"
        if capacity:
            measured += f"; {min(capacity):,.0f}–{max(capacity):,.0f} req/s per core from CPU time"
        met = worst[1]["rps"] >= goal
        print(f"| {label} | ≥ {goal:,} req/s | {measured} | {'yes' if met else 'no'} |")

    added = [(n, r["added50"]) for n, r in busbar(pace_rows, True) + busbar(pace_rows, False) if r["added50"] is not None]
    if added:
        worst = max(added, key=lambda r: r[1])
        ok = worst[1] <= TARGETS["added_p50_ms"] * 1000
        print(
            f"| added p50 at the paced rate | ≤ {TARGETS['added_p50_ms']} ms | up to {worst[1] / 1000:.3f} ms ({worst[0]}) "
            f"| {'yes' if ok else 'no'} |"
        )
    rss = [r["rss_kb"] for n, r in sat_rows.items() if n.startswith("busbar-")]
    if rss:
        peak_mb = max(rss) / 1024
        print(f"| peak memory (VmHWM) | ≤ {TARGETS['peak_mb']} MB | {peak_mb:.1f} MB | {'yes' if peak_mb <= TARGETS['peak_mb'] else 'no'} |")
    ttfb = [(n, r["added_first"]) for n, r in pace_rows.items() if n.startswith("busbar-") and n.endswith("-stream") and r["added_first"] is not None]
    if ttfb:
        worst = max(ttfb, key=lambda r: r[1])
        ok = worst[1] <= TARGETS["ttfb_added_ms"] * 1000
        print(
            f"| time to first stream byte over the mock's | ≤ {TARGETS['ttfb_added_ms']} ms | up to {worst[1] / 1000:.3f} ms ({worst[0]}) "
            f"| {'yes' if ok else 'no'} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
