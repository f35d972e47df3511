"""Goals (issue 4), the knee of a sweep, and the printed table.

Goals are reported next to each figure, never asserted: the bench's exit
status says whether it ran, not whether callverify met them.
"""
from __future__ import annotations

REFERENCE_RATE = 20  # the latency goals hold "at 20 calls per second"


def passed(step: dict) -> bool:
    return step["calls"] > 0 and step["failed"] == 0 and step["wrong"] == 0


def knee(steps: list[dict]) -> dict:
    """Highest rate with zero failures and zero wrong verdicts, every lower rate
    passing too (RFC 7502's session establishment rate); `reached` is False when
    the highest rate tried still passed, so the knee is at least that."""
    best, reached = None, False
    for step in sorted(steps, key=lambda s: s["rate"]):
        if not passed(step):
            reached = True
            break
        best = step["rate"]
    return {"rate": best, "reached": reached}


def knee_ratio(engine: dict, dialplan: dict) -> dict:
    """engine / dialplan knee, with what is known when a sweep never failed:
    "bound" is "exact", ">=" (only the engine's knee lies above the sweep),
    "<=" (only the dialplan's does) or "unknown" (neither failed)."""
    e, d = engine["rate"], dialplan["rate"]
    if not e or not d:
        return {"ratio": 0.0 if d and engine["reached"] else None, "ratio_bound": "exact"}
    bound = {(True, True): "exact", (False, True): ">=", (True, False): "<=",
             (False, False): "unknown"}[(engine["reached"], dialplan["reached"])]
    return {"ratio": round(e / d, 3), "ratio_bound": bound}


def reference(steps: list[dict]) -> dict | None:
    """The step at 20 calls/s, else the fastest one that passed."""
    at = [s for s in steps if s["rate"] == REFERENCE_RATE]
    if at:
        return at[0]
    ok = [s for s in steps if passed(s)]
    return max(ok, key=lambda s: s["rate"]) if ok else None


def _percent(share: float | None) -> str:
    return "-" if share is None else f"{100 * share:.0f}%"


def _fmt(value, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        # three figures below 1: a ratio of 0.895 must not print as a missed "0.90"
        value = (f"{value:.3g}" if abs(value) < 1 else f"{value:.1f}" if abs(value) < 100
                 else f"{value:.0f}")
    return f"{value}{unit}"


def _status(ok: bool | None) -> str:
    return "-" if ok is None else ("met" if ok else "MISSED")


def report_rate(results: dict):
    return (results.get("split") or {}).get("rate")


def goals(results: dict) -> list[dict]:
    """Each goal: the figure, the goal as text, and met / MISSED."""
    engine, dialplan = results["knee"]["callverify"], results["knee"]["dialplan"]
    ratio, bound = results["knee"].get("ratio"), results["knee"].get("ratio_bound", "exact")
    ref = results.get("reference") or {}
    conc = results.get("concurrency") or {}
    fd = results.get("front_door") or {}
    out = []

    def add(name, value, goal, ok, unit=""):
        out.append({"figure": name, "value": value, "unit": unit, "goal": goal,
                    "status": _status(ok)})
    knee_txt = "{}{} / {}{} calls/s".format(
        "" if engine["reached"] else ">=", _fmt(engine["rate"]),
        "" if dialplan["reached"] else ">=", _fmt(dialplan["rate"]))
    add("knee callverify / dialplan", knee_txt, "", None)
    if ratio is None or bound == "unknown":
        ok = None
    elif bound == ">=":
        ok = True if ratio >= 0.9 else None
    elif bound == "<=":
        ok = False if ratio < 0.9 else None
    else:
        ok = ratio >= 0.9
    shown = None if ratio is None else (f"{bound} {ratio}" if bound in (">=", "<=") else
                                        ratio if bound == "exact" else f"? ({ratio} at the sweep's top)")
    add("knee ratio callverify / dialplan", shown, ">= 0.9", ok)
    peak = conc.get("peak_concurrent")
    add("concurrent calls, 0 wrong, 0 failed", peak, ">= 100",
        None if peak is None else (peak >= 100 and passed(conc)))
    split = (results.get("split") or {}).get("cpu_ms_per_verification") or {}
    engine_cpu = split.get("engine")
    add(f"engine CPU per verification (engine process) @{_fmt(report_rate(results))}/s",
        engine_cpu, "<= 10 ms", None if engine_cpu is None else engine_cpu <= 10, " ms")
    cpu = ref.get("service_cpu_ms_per_verification_net")
    add(f"callverify run CPU per verification (api+engine+delivery) @{_fmt(ref.get('rate'))}/s",
        cpu, "", None, " ms")
    r2i = (ref.get("request_to_invite_ms") or {}).get("p99")
    add(f"request-to-INVITE p99 @{_fmt(ref.get('rate'))}/s", r2i, "<= 50 ms",
        None if r2i is None else r2i <= 50, " ms")
    l2c = (ref.get("last_digit_to_verdict_ms") or {}).get("p99")
    add(f"last-digit-to-callback p99 @{_fmt(ref.get('rate'))}/s", l2c, "<= 100 ms",
        None if l2c is None else l2c <= 100, " ms")
    for o in (results.get("overload") or [])[1:]:
        held = o.get("verified_rate_over_sustained_knee")
        add(f"{o['label']}: verified/s over the knee's sustained (1x), wrong",
            None if held is None else f"{held}, {o['wrong']} wrong", ">= 0.9, 0 wrong",
            None if held is None else held >= 0.9 and not o["wrong"])
    rps = (fd.get("callverify") or {}).get("accepted_per_s")
    workers = f" ({fd['workers']} workers each)" if fd.get("workers", 1) > 1 else ""
    add("front door accepted/s" + workers, rps, ">= 2000", None if rps is None else rps >= 2000)
    fr = fd.get("ratio")
    add("front door / minimal aiohttp" + workers, fr, ">= 0.3",
        None if fr is None else fr >= 0.3)
    v1 = fd.get("ratio_v1")
    if "callverify_v1" in fd:
        add("front door POST /v1/verifications accepted/s" + workers,
            fd["callverify_v1"]["accepted_per_s"], "", None)
        add("front door /v1 / minimal aiohttp (POST, JSON)" + workers, v1, ">= 0.3",
            None if v1 is None else v1 >= 0.3)
    return out


def table(results: dict) -> str:
    nice = (results.get("settings") or {}).get("service_nice")
    lines = ["", "callverify benchmark  " + results["meta"]["date"]
             + f"  ({results['meta']['cpus']} CPUs, {results['meta']['asterisk']})"
             + ("" if nice is None else f"  callverify at CPU priority (nice) {nice}"), ""]
    rows = [("figure", "value", "goal", "")]
    rows += [(g["figure"], _fmt(g["value"], g["unit"]), g["goal"], g["status"])
             for g in results["goals"]]
    ref, base = results.get("reference") or {}, results.get("dialplan_reference") or {}
    if ref:
        rows.append((f"API latency p50 / p99 @{_fmt(ref['rate'])}/s",
                     f"{_fmt(ref['request_latency_ms']['p50'])} / "
                     f"{_fmt(ref['request_latency_ms']['p99'])} ms", "", ""))
        r2i = ref.get("response_to_invite_ms") or {}
        rows.append((f"API answer to INVITE p50 / p99 @{_fmt(ref['rate'])}/s",
                     f"{_fmt(r2i.get('p50'))} / {_fmt(r2i.get('p99'))} ms", "", ""))
        rows.append((f"Asterisk CPU per call @{_fmt(ref['rate'])}/s: callverify / dialplan",
                     f"{_fmt(ref.get('asterisk_cpu_ms_per_call_net'))} / "
                     f"{_fmt(base.get('asterisk_cpu_ms_per_call_net'))} ms", "", ""))
    widths = [max(len(str(r[i])) for r in rows) for i in range(4)]
    for i, row in enumerate(rows):
        cells = (str(c).ljust(w) for c, w in zip(row, widths, strict=True))
        lines.append("  ".join(cells).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines += ["", "sweep, then the concurrency hold and the three-process step (late: INVITE "
              "over {} s after the request, counted as failed; net CPU: idle use taken off;\n"
              "busy: all CPUs; wait: share of the time some runnable task waited for a CPU\n"
              "(the kernel's CPU pressure); loop wait: share of the time callverify's event\n"
              "loop was ready to run but had no CPU (its schedstat); other: cores used by\n"
              "processes outside the bench)".format(
                  _fmt((results["steps"] or [{}])[0].get("establish_threshold_s")))]
    head = ("step", "calls", "ok", "fail", "late", "wrong", "peak", "svc ms/v", "ast ms/c",
            "r2I p50/p99", "digit2v p50/p99", "API p50/p99", "busy", "wait", "loop wait",
            "other")
    srows = [head]
    extra = [results[k] for k in ("concurrency", "split") if results.get(k)]
    for s in results["steps"] + extra:
        srows.append((s["label"], s["calls"], s["completed"], s["failed"], s["late"], s["wrong"],
                      s["peak_concurrent"], _fmt(s.get("service_cpu_ms_per_verification_net")),
                      _fmt(s.get("asterisk_cpu_ms_per_call_net")),
                      "{}/{}".format(_fmt(s["request_to_invite_ms"]["p50"]),
                                     _fmt(s["request_to_invite_ms"]["p99"])),
                      "{}/{}".format(_fmt(s["last_digit_to_verdict_ms"]["p50"]),
                                     _fmt(s["last_digit_to_verdict_ms"]["p99"])),
                      "{}/{}".format(_fmt(s["request_latency_ms"]["p50"]),
                                     _fmt(s["request_latency_ms"]["p99"])),
                      f"{100 * s['machine_busy']:.0f}%", _percent(s.get("cpu_waiting")),
                      _percent(s.get("service_loop_waiting")),
                      _fmt(s.get("other_cores"))))
    widths = [max(len(str(r[i])) for r in srows) for i in range(len(head))]
    for row in srows:
        lines.append("  ".join(str(c).rjust(w) if j else str(c).ljust(w)
                               for j, (c, w) in enumerate(zip(row, widths, strict=True))))
    setup = [(s["label"], s["accepted_to_originate_ms"], s["originate_to_ringing_ms"])
             for s in results["steps"] + extra if s.get("accepted_to_originate_ms")]
    if setup:
        lines += ["", "callverify's call set-up, p50/p99 ms: accepted -> originate sent "
                  "(API, queue, engine) | originate sent -> Asterisk reports ringing"]
        lines += [f"  {label:>24}: {_fmt(a['p50'])}/{_fmt(a['p99'])} | "
                  f"{_fmt(r['p50'])}/{_fmt(r['p99'])}" for label, a, r in setup]
    over = results.get("overload") or []
    if over:
        lines += ["", "overload (callverify above its knee): offered, accepted, refused by answer, "
                  "dialled, verified, wrong, ended undialled (e.g. expired), no verdict; "
                  "verified per second while verdicts arrive, over the knee's rate, and "
                  "counted from the first request"]
        lines += [f"  {o['label']:>26}: {o['offered']} offered, {o['accepted']} accepted, "
                  f"refused {o['refused'] or '-'}, {o['dialled']} dialled, {o['matched']} verified, "
                  f"{o['wrong']} wrong, {o['not_dialled_ended']} undialled, "
                  f"{o['no_verdict']} no verdict; {o['verified_per_s']}/s "
                  f"({o['verified_rate_over_knee']}; over the knee's sustained "
                  f"{o.get('verified_rate_over_sustained_knee', '-')}; "
                  f"{o.get('verified_per_s_from_first_request', '-')}/s from the first request)"
                  for o in over]
    split = results.get("split") or {}
    if split.get("cpu_ms_per_verification"):
        parts = ", ".join(f"{k} {v:.1f} ms" for k, v in split["cpu_ms_per_verification"].items())
        lines += ["", f"CPU per verification, service as three processes @{_fmt(split['rate'])}/s:"
                  f" {parts} (gross)"]
    fd = results.get("front_door") or {}
    if fd:
        lines += ["", "front door (wrk, {} s each; both on the same event loop; each system "
                  "read at its best connection count, *):".format(fd["callverify"]["seconds"])]
        for workers, runs in (fd.get("by_workers") or {"1": fd}).items():
            levels = runs.get("by_connections") or {str(runs["callverify"]["connections"]): runs}
            for connections, level in levels.items():
                for name in (n for n in ("callverify", "minimal", "callverify_v1", "minimal_v1")
                             if n in level):
                    r = level[name]
                    mark = "*" if r["accepted_per_s"] == runs[name]["accepted_per_s"] else " "
                    lines.append(
                        f"  {name:13} x{workers} c{connections:<4}{mark}{r['accepted_per_s']:8.0f}"
                        f" accepted/s  p50 {r['latency_ms']['p50']:.1f} ms  p99 "
                        f"{r['latency_ms']['p99']:.1f} ms  server CPU "
                        f"{r.get('server_cpu_ms_per_request', 0):.3f} ms/request"
                        f"  busy {_percent(r.get('machine_busy'))}")
                lines.append(f"  ratio x{workers} c{connections}: {level.get('ratio')}"
                             f" (/v1: {level.get('ratio_v1', '-')})")
            lines.append(f"  ratio x{workers}, best / best: {runs.get('ratio')}"
                         f" (/v1: {runs.get('ratio_v1', '-')})")
    for name, prof in (results.get("profiles") or {}).items():
        if not prof.get("samples"):
            continue
        owners = ", ".join(f"{o} {p}%" for o, p in prof["owner_self_pct"][:6])
        top = "; ".join(f"{f} {p}%" for f, p in prof["self_pct"][:5])
        mine = "; ".join(f"{f} {p}%" for f, p in prof["callverify_inclusive_pct"][:6])
        lines += ["", f"profile {name} ({prof['samples']} busy samples): {owners}",
                  f"  top self: {top}", f"  callverify functions (inclusive): {mine}"]
    if results.get("service_restarts"):
        lines += ["", "callverify run was ended from outside the bench and restarted (the step "
                  "it died in ran again): " + "; ".join(results["service_restarts"])]
    if results.get("skipped"):
        lines += ["", "skipped for the time budget: " + ", ".join(results["skipped"])]
    return "\n".join(lines) + "\n"
