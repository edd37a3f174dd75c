#!/usr/bin/env python3
"""model.py MEASURED.json OUT.svg — the allreduce model of docs/multihost.md: predicted step
time and weak-scaling efficiency per mode, printed as Markdown tables, and an SVG of the
predicted step time against the host count with the measured 3-host points on it.

MEASURED.json (written by Tests/multihost/scaling.sh TOPOLOGY=3x4, or by hand):
  alpha_shm_us, beta_shm_gb_per_s   a message within a host (shared memory): latency, bandwidth
  alpha_tcp_us, beta_tcp_gb_per_s   a message between hosts (TCP, at the gradient's size)
  beta_at_tiny: {beta_shm_gb_per_s, beta_tcp_gb_per_s}   β at the measured (tiny) model's gradient size
  hop_us: {world_ring, host_rings, cross_host_rings, leader_ring}   one hop's latency in the measured layout
                                    (bench --hops: MPI_Sendrecv rings, every rank at once), medians
  rounds: [{hop_us: {…}, allreduce_ms: {mode: ms}}]   each round's hops beside its allreduces
  points: [{mode, model, hosts, ranks_per_host, compute_ms, step_ms, allreduce_ms, imbalance_ms}]  measured;
                                    imbalance_ms: of allreduce_ms, the wait for the slowest rank's compute
                                    (bench's waiting_for_slowest_rank_s), added to the model's step
  cluster: {alpha_tcp_us, beta_tcp_gb_per_s, alpha_shm_us, beta_shm_gb_per_s}  the links predicted for
  compute_ms: {model: ms}           one rank's forward + backward + optimizer per step

The model, per mode (the allreduce after BPTT; b = 4 bytes × gradient elements, p = H·L ranks on
H hosts of L):
  ring       2(p−1)·α_tcp + 2(p−1)/p · b/β_tcp
             every step of the flat ring has a link between hosts, and waits for it.
  two-level-rings    2[(L−1)·α_shm + (L−1)/L · b/β_shm] + 2(H−1)·α_tcp + 2(H−1)/H · b/β_tcp
             gather and scatter within the host (L−1 messages per rank each), then the L rings
             of H owners, whose 2(H−1)/H · b/L each share the host's link.
  two-level-leaders  2[α_shm + (L−1) · b/β_shm] + 2(H−1)·α_tree + 2(H−1)/H · b/β_tcp
             every rank sends its whole piece to the host's leader at once (one latency, L−1
             pieces into one rank), then one ring of the H leaders (one message per link and
             hop: in a measured layout the leader ring's hop), then the leader sends back.
  two-level (auto) runs whichever of the two was faster when timed at start: the smaller.
  mpi        2[⌈log2 L⌉·(α_shm + b/β_shm) + ⌈log2 H⌉·(α_tcp + b/β_tcp)]  (in a measured layout α_tcp of a
             level between hosts is the leader ring's hop: one message per link at a time)
             OpenMPI 4.1's libnbc runs an in-place allreduce as a binomial reduce then broadcast
             of the whole buffer (ranks placed host by host: the lower levels stay in a host).
Step = compute + allreduce (+ on the measured points, their measured wait for the slowest rank's
compute: load imbalance is not the allreduce's, and on dedicated cores it is ~0); weak-scaling
efficiency = compute / step.
"""
import json, math, sys

MODELS = {
    # name: (label, gradient elements)
    "tanh512": ("H=512 tanh", 512 * 512 + 2 * 512 * 65 + 512 + 65),
    "lstm2x1024": ("2×1024 LSTM", sum(4 * 1024 * (i + 1024) + 2 * 4 * 1024 for i in (65, 1024)) + 65 * 1024 + 65),
    "tiny": ("H=32 tanh", 32 * 32 + 2 * 32 * 65 + 32 + 65),
}
MODES = ["ring", "two-level-rings", "two-level-leaders", "mpi"]


def allreduce_seconds(mode, elements, hosts, per_host, links):
    b = 4.0 * elements
    p = hosts * per_host
    a_shm, b_shm = links["alpha_shm_us"] * 1e-6, links["beta_shm_gb_per_s"] * 1e9
    a_tcp, b_tcp = links["alpha_tcp_us"] * 1e-6, links["beta_tcp_gb_per_s"] * 1e9
    if p == 1:
        return 0.0
    if mode == "ring":
        a, beta = (a_tcp, b_tcp) if hosts > 1 else (a_shm, b_shm)
        # In a measured layout the flat ring's hop is measured as such (bench --hops' world ring).
        a = links.get("alpha_ring_us", a * 1e6) * 1e-6
        return 2 * (p - 1) * a + 2 * (p - 1) / p * b / beta
    if mode == "two-level-rings":
        within = 2 * ((per_host - 1) * a_shm + (per_host - 1) / per_host * b / b_shm)
        across = 2 * (hosts - 1) * a_tcp + 2 * (hosts - 1) / hosts * b / b_tcp
        return within + across
    if mode == "two-level-leaders":
        a_tree = links.get("alpha_tree_tcp_us", a_tcp * 1e6) * 1e-6
        within = 2 * (a_shm + (per_host - 1) * b / b_shm) if per_host > 1 else 0.0
        across = 2 * (hosts - 1) * a_tree + 2 * (hosts - 1) / hosts * b / b_tcp
        return within + across
    if mode == "two-level":
        return min(allreduce_seconds("two-level-rings", elements, hosts, per_host, links),
                   allreduce_seconds("two-level-leaders", elements, hosts, per_host, links))
    if mode == "mpi":
        # A tree's level between hosts has one message per link at a time (the leader ring's hop).
        a_tree = links.get("alpha_tree_tcp_us", a_tcp * 1e6) * 1e-6
        return 2 * (math.ceil(math.log2(per_host)) * (a_shm + b / b_shm) + math.ceil(math.log2(hosts)) * (a_tree + b / b_tcp))
    raise ValueError(mode)


def main():
    measured = json.load(open(sys.argv[1]))
    svg_path = sys.argv[2]
    lab = {k: measured[k] for k in ("alpha_shm_us", "beta_shm_gb_per_s", "alpha_tcp_us", "beta_tcp_gb_per_s")}
    cluster = dict(lab, **measured["cluster"])
    # The measured points are of the tiny model: their bytes move at the β of their own size.
    lab = dict(lab, **measured.get("beta_at_tiny", {}))
    out = []
    out.append("Measured 3-host points against the model (this machine's links):\n")
    out.append("| mode | model | hosts × ranks | compute | allreduce measured | allreduce model | step measured | step model | error |")
    out.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    errors = []
    for point in measured["points"]:
        label, elements = MODELS[point["model"]]
        t = allreduce_seconds(point["mode"], elements, point["hosts"], point["ranks_per_host"], lab) * 1e3
        t += point.get("imbalance_ms", 0.0)
        step = point["compute_ms"] + t
        error = step / point["step_ms"] - 1
        errors.append(error)
        out.append(f"| {point['mode']} | {label} | {point['hosts']} × {point['ranks_per_host']} | {point['compute_ms']:.1f} ms | "
                   f"{point['allreduce_ms']:.2f} ms | {t:.2f} ms | {point['step_ms']:.1f} ms | {step:.1f} ms | {error * 100:+.0f}% |")
    # The same model with the hop latencies of the measured layout itself (bench --hops in the
    # same rounds: plain MPI_Sendrecv rings of the 12 ranks, none of the allreduce code): the
    # flat ring's hop from the world ring, the shared-memory hop from the host rings, the
    # cross-host hop from the rings across the hosts. Nothing is fitted to the points.
    layout = lab
    errors_layout = []
    hops = measured.get("hop_us")
    if hops:
        layout = dict(lab, alpha_ring_us=hops["world_ring"], alpha_shm_us=hops["host_rings"],
                      alpha_tcp_us=hops["cross_host_rings"], alpha_tree_tcp_us=hops["leader_ring"])
        out.append("")
        out.append(f"The same model with one hop's latency measured in the layout itself (bench --hops, the same rounds): "
                   f"world ring {hops['world_ring']:.0f} µs, within a host {hops['host_rings']:.0f} µs, "
                   f"across hosts {hops['cross_host_rings']:.0f} µs (4 rings at once), {hops['leader_ring']:.0f} µs (one ring of the hosts' first ranks) (medians); β at the tiny gradient's size "
                   f"(TCP {lab['beta_tcp_gb_per_s']:g} GB/s, shared memory {lab['beta_shm_gb_per_s']:g} GB/s); "
                   "the allreduce model plus each point's measured wait for the slowest rank's compute:\n")
        rounds = measured.get("rounds", [])
        out.append("| mode | allreduce measured | allreduce model | step measured | step model | error | each round's error: median (min … max) |")
        out.append("| --- | --- | --- | --- | --- | --- | --- |")
        for point in measured["points"]:
            _, elements = MODELS[point["model"]]
            t = allreduce_seconds(point["mode"], elements, point["hosts"], point["ranks_per_host"], layout) * 1e3
            t += point.get("imbalance_ms", 0.0)
            step = point["compute_ms"] + t
            errors_layout.append(step / point["step_ms"] - 1)
            # The same, round by round: a round's hops predict that round's step (the machine's
            # load moves both within minutes).
            per_round = []
            for r in rounds:
                hop = r["hop_us"]
                links = dict(lab, alpha_ring_us=hop["world_ring"], alpha_shm_us=hop["host_rings"], alpha_tcp_us=hop["cross_host_rings"],
                             alpha_tree_tcp_us=hop["leader_ring"])
                predicted = point["compute_ms"] + allreduce_seconds(point["mode"], elements, point["hosts"], point["ranks_per_host"], links) * 1e3
                predicted += r.get("imbalance_ms", {}).get(point["mode"], 0.0)
                per_round.append(predicted / (point["compute_ms"] + r["allreduce_ms"][point["mode"]]) - 1)
            per_round.sort()
            spread = (f"{per_round[len(per_round) // 2] * 100:+.0f}% ({per_round[0] * 100:+.0f} … {per_round[-1] * 100:+.0f}%, "
                      f"{len(per_round)} rounds)") if per_round else "—"
            out.append(f"| {point['mode']} | {point['allreduce_ms']:.2f} ms | {t:.2f} ms | {point['step_ms']:.2f} ms | "
                       f"{step:.2f} ms | {errors_layout[-1] * 100:+.0f}% | {spread} |")
    out.append("")
    out.append(f"Predicted on {cluster['beta_tcp_gb_per_s']:g} GB/s links (α_tcp {cluster['alpha_tcp_us']:g} µs, "
               f"α_shm {cluster['alpha_shm_us']:g} µs, β_shm {cluster['beta_shm_gb_per_s']:g} GB/s), 32 ranks per host, "
               "the allreduce after BPTT (overlap only helps): step time (weak-scaling efficiency)\n")
    hosts_list = [4, 16, 64, 256]
    out.append("| model | mode | " + " | ".join(f"{h} hosts ({h * 32} ranks)" for h in hosts_list) + " |")
    out.append("| --- | --- | " + " | ".join("---" for _ in hosts_list) + " |")
    curves = []
    for key in ("tanh512", "lstm2x1024"):
        label, elements = MODELS[key]
        compute = measured["compute_ms"][key]
        for mode in MODES + ["two-level"]:
            cells, xs, ys = [], [], []
            for h in hosts_list:
                step = compute + allreduce_seconds(mode, elements, h, 32, cluster) * 1e3
                cells.append(f"{step:.1f} ms ({100 * compute / step:.0f}%)")
            if mode in MODES:
                for h in [2 ** k for k in range(1, 9)]:
                    xs.append(h)
                    ys.append(compute + allreduce_seconds(mode, elements, h, 32, cluster) * 1e3)
                curves.append((f"{label}, {mode}, 32/host, cluster links", xs, ys, False))
            name = "**two-level (auto: the faster)**" if mode == "two-level" else mode
            out.append(f"| {label} ({compute:.0f} ms compute) | {name} | " + " | ".join(cells) + " |")
    # The measured configuration's curves (this machine's links, 4 ranks per host) with its points.
    for point_model in sorted({p["model"] for p in measured["points"]}):
        label, elements = MODELS[point_model]
        compute = [p["compute_ms"] for p in measured["points"] if p["model"] == point_model]
        compute = sum(compute) / len(compute)
        for mode in MODES:
            xs = [2 ** k for k in range(1, 9)]
            ys = [compute + allreduce_seconds(mode, elements, h, 4, layout) * 1e3 for h in xs]
            curves.append((f"{label}, {mode}, 4/host, this machine (hops measured)", xs, ys, True))
    print("\n".join(out))
    if errors:
        print(f"\nlargest model error on the measured points: link latencies {max(abs(e) for e in errors) * 100:.0f}%"
              + (f", hop latencies of the layout {max(abs(e) for e in errors_layout) * 100:.0f}%" if errors_layout else ""))
    write_svg(svg_path, curves, measured["points"])


def write_svg(path, curves, points):
    width, height, left, right, top, bottom = 1000, 560, 70, 420, 30, 50
    all_y = [y for _, _, ys, _ in curves for y in ys] + [p["step_ms"] for p in points]
    x0, x1 = math.log10(2), math.log10(256)
    y0, y1 = math.floor(math.log10(min(all_y))), math.ceil(math.log10(max(all_y)))
    def px(x): return left + (math.log10(x) - x0) / (x1 - x0) * (width - left - right)
    def py(y): return top + (y1 - math.log10(y)) / (y1 - y0) * (height - top - bottom)
    colors = {"ring": "#d62728", "two-level-rings": "#1f77b4", "two-level-leaders": "#9467bd", "mpi": "#2ca02c"}
    dashes = ["", "6,3", "2,2"]
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
             f'<rect width="{width}" height="{height}" fill="white"/>',
             f'<text x="{left}" y="18" font-size="14">Predicted step time (ms, log) against hosts (log): lines the model, dots measured (3 hosts × 4 ranks)</text>']
    for k in range(1, 9):
        x = px(2 ** k)
        parts.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{height - bottom}" stroke="#eee"/>')
        parts.append(f'<text x="{x:.1f}" y="{height - bottom + 16}" text-anchor="middle">{2 ** k}</text>')
    for e in range(y0, y1 + 1):
        y = py(10 ** e)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{10 ** e:g}</text>')
    parts.append(f'<text x="{(left + width - right) / 2}" y="{height - 12}" text-anchor="middle">hosts</text>')
    legend_y = top
    groups = {}
    for label, xs, ys, local in curves:
        mode = next(m for m in MODES if f", {m}," in label)
        model = label.split(",")[0] + (" (this machine)" if local else "")
        if model not in groups:
            groups[model] = len(groups)
        dash = dashes[groups[model] % len(dashes)]
        d = " ".join(f"{'M' if i == 0 else 'L'}{px(x):.1f},{py(y):.1f}" for i, (x, y) in enumerate(zip(xs, ys)))
        parts.append(f'<path d="{d}" fill="none" stroke="{colors[mode]}" stroke-width="{1.2 if local else 2}" '
                     f'stroke-dasharray="{dash}" opacity="{0.6 if local else 1}"/>')
        parts.append(f'<line x1="{width - right + 10}" y1="{legend_y}" x2="{width - right + 40}" y2="{legend_y}" '
                     f'stroke="{colors[mode]}" stroke-width="2" stroke-dasharray="{dash}"/>')
        parts.append(f'<text x="{width - right + 46}" y="{legend_y + 4}">{label}</text>')
        legend_y += 16
    for point in points:
        parts.append(f'<circle cx="{px(point["hosts"]):.1f}" cy="{py(point["step_ms"]):.1f}" r="5" fill="{colors[point["mode"]]}" '
                     f'stroke="black"/>')
    parts.append(f'<text x="{width - right + 10}" y="{legend_y + 8}">● measured, 3 hosts × 4 ranks, 1 Gbit/s</text>')
    parts.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(parts) + "\n")


if __name__ == "__main__":
    main()
