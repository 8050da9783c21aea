#!/usr/bin/env python3
"""Writes BENCHMARKS.md from the figures `make bench` collected (target/bench-results.jsonl)."""
import datetime
import json
import os
import platform
import sys

figures = {}
for line in open(sys.argv[1]):
    figure = json.loads(line)
    figures[figure["figure"]] = figure

def cpu():
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"

def mem_gib():
    for line in open("/proc/meminfo"):
        if line.startswith("MemTotal"):
            return round(int(line.split()[1]) / 1024 / 1024)
    return "?"

mb = lambda b: f"{b / 1_000_000:.2f} MB ({b / 1048576:.2f} MiB, {b:,} bytes)"
size, warm, cold, memory, trips, tput = (figures.get(k) for k in ("size", "warm_cost", "cold_start", "memory", "round_trips", "throughput"))
delivery, latency, inbound = figures.get("warm_delivery"), figures.get("latency"), figures.get("inbound_e2e")
hooks = figures.get("webhooks_beside_email")
variants = {v["name"]: v for v in cold["variants"]} if cold else {}
hello = variants.get("hello world, whole core")
no_io = variants.get("bootstrap, no I/O in init, whole core")
shipped = variants.get("bootstrap, TLS, CPU share")
bare = variants.get("bootstrap, TLS, CPU share, no warm-up")

def span(s):
    return f"median {s['median_ms']} ms (min {s['min_ms']}, max {s['max_ms']}, {s['runs']} runs)"

rows = []
if size:
    ok = size["binary_bytes"] <= 6_000_000 and size["zip_bytes"] <= 3_000_000
    rows.append(("binary size (arm64)", "≤ 6 MB binary, ≤ 3 MB zip",
                 f"binary {mb(size['binary_bytes'])}; zip {mb(size['zip_bytes'])}" + ("" if ok else " **over target**"),
                 "`cargo lambda build --release --arm64`: the stripped `bootstrap` and its zip"))
if cold:
    ratio = no_io["init"]["median_ms"] / hello["init"]["median_ms"]
    rows.append(("cold start: init", "≤ 2× the hello-world's",
                 f"bootstrap {span(no_io['init'])}; hello world {span(hello['init'])}; ratio {ratio:.2f}×" + ("" if ratio <= 2 else " **over target**"),
                 f"harness playing the Runtime API on 127.0.0.1: exec → first poll of `/runtime/invocation/next`, on a whole core, with no I/O in init (the pepper in the environment, no warm-up, no CA bundle); {cold['runs']} rounds, each starting every variant once after 250 ms of quiet (round robin, so drift touches all alike)"))
    share = f"{cold['cpu_share']:.3f} of a core" if cold.get("cpu_share") else "not applied (no cgroup could be made)"
    rows.append(("cold start as Lambda runs it", "reported",
                 f"first response {span(shipped['first_response'])}, of it the first invocation median {shipped['first_invocation']['median_ms']} ms; without the warm-up {bare['first_response']['median_ms']} ms and {bare['first_invocation']['median_ms']} ms",
                 f"TLS fronts with a test CA before DynamoDB Local and moto (`AWS_CA_BUNDLE`), the process held to {cold['memory_mb']} MB's CPU share ({share}); every variant below"))
if warm:
    rows.append(("warm cost per create", "p50 ≤ 30 µs, p99 ≤ 100 µs",
                 f"p50 {warm['p50_us']} µs, p90 {warm['p90_us']} µs, p99 {warm['p99_us']} µs, max {warm['max_us']} µs ({warm['samples']:,} creates)",
                 "the whole create through the Router with in-memory ports (criterion, then each create timed alone)"))
if delivery:
    rows.append(("warm cost per e-mail delivered", "reported",
                 f"p50 {delivery['p50_us']} µs, p99 {delivery['p99_us']} µs ({delivery['samples']:,} e-mails)",
                 "one e-mail of the outbox claimed, its ticket read, its link made again, rendered, sent and recorded, with in-memory ports"))
if memory:
    rows.append(("memory", "≤ 32 MB",
                 f"bootstrap {memory['bootstrap_mib']} MiB peak RSS; hello world {memory['hello_mib']} MiB",
                 f"VmHWM of the process after {memory['invocations']:,} invocations under the harness (creates on the local stand-ins)"))
if trips:
    rows.append(("round trips per create", "warm ≤ 3 sequential (≤ 4 with Idempotency-Key), no SES call",
                 f"warm {trips['warm']}, cold {trips['cold']}; with an Idempotency-Key warm {trips['warm_idempotent']}, cold {trips['cold_idempotent']}",
                 "an SDK interceptor records each AWS call; the longest chain of calls that wait on each other (also a test in `make test`)"))
if latency:
    rows.append(("create latency, one client", "reported",
                 f"p50 {latency['create_p50_ms']} ms, p99 {latency['create_p99_ms']} ms ({latency['creates']} creates)",
                 "one client posting a create every 20 ms to the local server on DynamoDB Local: request to 201"))
    rows.append(("delivery latency, one client", "reported",
                 f"p50 {latency['delivery_p50_ms']} ms, p99 {latency['delivery_p99_ms']} ms ({latency['delivered']} e-mails)",
                 "from each 201 to its requester's e-mail reaching the SES stand-in (a pass-through in front of it notes the time), through DynamoDB Local's stream and the local stand-in for the event source mapping"))
if inbound:
    rows.append(("a reply by e-mail, end to end", "reported",
                 f"p50 {inbound['p50_ms']} ms, p99 {inbound['p99_ms']} ms ({inbound['samples']} replies)",
                 "from the SMTP stand-in of SES receiving accepting a reply (S3 on moto, then the receipt through the replies' queue) to the other side's e-mail in the SES stand-in's mailbox, through DynamoDB Local's stream (`tests/it/inbound_smtp.rs` with INBOUND_SAMPLES)"))
if hooks:
    def change(with_, without):
        return (with_ / without - 1) * 100
    p50, p99 = change(hooks["p50_beside_ms"], hooks["p50_alone_ms"]), change(hooks["p99_beside_ms"], hooks["p99_alone_ms"])
    rows.append(("e-mail beside webhooks", "p50 and p99 within 20 %",
                 f"201 to mailbox without webhooks p50 {hooks['p50_alone_ms']} ms, p99 {hooks['p99_alone_ms']} ms; with two endpoints p50 {hooks['p50_beside_ms']} ms ({p50:+.0f} %), p99 {hooks['p99_beside_ms']} ms ({p99:+.0f} %)"
                 + ("" if max(p50, p99) <= 20 else " **over target**")
                 + f". All 400 e-mails in {hooks['mail_alone_s']} s without, {hooks['mail_beside_s']} s with; the 400 webhooks delivered within {hooks['hooks_done_s']} s, each once",
                 "200 concurrent creates, each requester's e-mail timed from its 201 to the SES stand-in accepting it (`tests/it/webhooks.rs`): DynamoDB Local, the stream's two mappings, two receivers verifying with standardwebhooks, all on the same two cores"))
if tput:
    rows.append(("local throughput", "reported",
                 f"{tput['rps']} req/s, p50 {tput['p50_ms']} ms, p99 {tput['p99_ms']} ms ({tput['requests']:,} creates)",
                 f"{tput['clients']} keep-alive clients for {tput['seconds']} s against the local server on DynamoDB Local and the SES stand-in"))

out = []
w = out.append
w("# Benchmarks\n")
w(f"Measured by `make bench` on {datetime.date.today().isoformat()}, on {platform.machine()} "
  f"({cpu()}, {os.cpu_count()} cores, {mem_gib()} GiB), Linux {platform.release()}. "
  "The local stand-ins (DynamoDB Local, the SES v2 stand-in, moto) run on the same cores, so the figures that "
  "go through them are about this code's share, not about AWS. This file is rewritten by every `make bench`; "
  "benchmarks print figures and never fail a build on them.\n")
w("| figure | target | measured | how |")
w("| --- | --- | --- | --- |")
for row in rows:
    w("| " + " | ".join(row) + " |")
if cold:
    w("\n## Cold start, variant by variant\n")
    w("Init is exec → the first poll of the Runtime API; the first invocation is the first create, from the poll "
      "to its response; TLS means every AWS endpoint behind a TLS front whose test CA the process trusts through "
      "`AWS_CA_BUNDLE`; the CPU share is a cgroup CPU quota of " + (f"{cold['cpu_share']:.3f}" if cold.get("cpu_share") else "(not applied)") +
      f" of a core ({cold['memory_mb']} MB of 1,769), from exec or from the end of init.\n")
    w("| variant | init | first invocation | first response |")
    w("| --- | --- | --- | --- |")
    for v in cold["variants"]:
        w(f"| {v['name']} | {v['init']['median_ms']} ms | {v['first_invocation']['median_ms']} ms | {v['first_response']['median_ms']} ms |")
    w("\nMedians. The create's calls go to DynamoDB Local on the same two cores, which is most of a first "
      "invocation here; the difference between the variants is this code's.")
if tput and tput.get("calls"):
    w("\n## Where the time of a create goes (local throughput run)\n")
    w("| AWS call | calls | mean | median |")
    w("| --- | --- | --- | --- |")
    for what, f in tput["calls"].items():
        w(f"| {what} | {f['calls']:,} | {f['mean_ms']} ms | {f['p50_ms']} ms |")
    w("\nA create waits on the three counts (together), then the counter, then the transaction; the e-mails are "
      "delivered meanwhile from the stream, on the same cores. What is left of the latency is queueing for the two "
      "cores the stand-ins share with the server.")
levers = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "benches", "levers.md")
if os.path.exists(levers):
    w("\n" + open(levers).read().rstrip())
print("\n".join(out))
