"""The soak's section of docs/BENCHMARKS.md."""

from bench.common import describe_machine
from bench.soak.config import LOOP_TOTALS, NEAR_OVERRUN_MS, SESSION_PLAYERS, WATCHDOG_SEC


def report(results: dict) -> str:
    config, expected, final = results["config"], results["expected"], results["final_status"]
    session, memory_, load, notify = (
        results["session"],
        results["memory"],
        results["load"],
        results["notify"],
    )
    faults, journal_ = results["faults"], results["journal"]
    loops = results["detection"]["loops"]
    audio_h = results["audio_s"] / 3600
    outages = [fault for fault in faults if fault["kind"] == "outage"]
    swaps = [fault["kind"].split(":")[1] for fault in faults if fault["kind"].startswith("swap")]
    started = journal_["fault_started_lines"]
    overruns = config["overruns"]
    failed = [check for check in results["checks"] if not check["passed"]]
    total = {key: sum(loop[key] for loop in loops) for key in LOOP_TOTALS}
    received = {
        key: sum(phase[key] for phase in results["osc_phases"]) for key in ("status", "hits")
    }
    lines = [
        "## Soak: survives a gig",
        "",
        f"Command: `.venv/bin/python -m bench soak` (bench/soak/; "
        f"{results.get('bench_seconds', results['wall_s']) / 60:.0f} min in all). Machine: "
        f"{describe_machine(results['machine'])}.",
        "",
        f"**{int(audio_h)} h {round(audio_h % 1 * 60)} min of audio** (a "
        f"{session['seconds']:.0f} s simulated session, {session['hits']} hits by players "
        f"{SESSION_PLAYERS}, strings in its first 60 %, looped {config['loops']} times) through "
        "the firmware as a process of its own (`bench/soak/run_firmware.py`: `python -m firmware "
        f"run --board {session['board']} --period-frames {session['period_frames']}` with the "
        "looped recording as input), "
        + ("as fast as it goes" if config["speed"] is None else f"at most {config['speed']:g}x")
        + f": {results['wall_s']:.0f} s wall, {results['audio_s'] / results['wall_s']:.0f}x "
        "real time. The OSC receiver, the controller and systemd's notify socket are real "
        "sockets on this machine; the bundles go through the real bundle store.",
        "",
        f"**{len(results['checks']) - len(failed)} of {len(results['checks'])} checks pass**"
        + (f"; failed: {', '.join(check['check'] for check in failed)}." if failed else "."),
        "",
        "| check | result | detail |",
        "| --- | --- | --- |",
        *(
            f"| {check['check']} | {'pass' if check['passed'] else '**FAIL**'} | "
            f"{check['detail']} |"
            for check in results["checks"]
        ),
        "",
        "| fault injected | how often | the status said | the journal said |",
        "| --- | --- | --- | --- |",
        f"| overrun: 1..{overruns['max_lost_periods']} periods lost (Poisson, mean every "
        f"{overruns['mean_interval_s']:.0f} s of audio) | {expected['xruns']} "
        f"({expected['lost_frames']} frames) | xruns {final.get('xruns')} | "
        f"{started.get('xruns', 0)} `xruns: N at T s` lines (one per stretch of intervals "
        "with new ones) |",
        f"| OSC receiver gone (at least {config['outage_min_s']:.0f} s wall), then back | "
        f"{len(outages)} | osc_errors {final.get('osc_errors')} (per outage: "
        f"{', '.join(str(fault['errors_counted']) for fault in outages)}); first message "
        f"after each return within {max(_seconds(fault) for fault in outages):.2f} s | "
        f"{started.get('osc_errors', 0)} `osc_errors` lines |",
        f"| control burst: {config['burst_malformed']} malformed + {config['burst_valid']} "
        f"valid | {len(config['bursts_at_s'])} | controls_rejected "
        f"{final.get('controls_rejected')}, controls {final.get('controls')} | "
        f"{started.get('controls_rejected', 0)} `controls_rejected` lines |",
        f"| bundle swapped in through `current` | {', '.join(swaps)} | model_reloads "
        f"{final.get('model_reloads')}, model_failures {final.get('model_failures')} | "
        f"{journal_['reloaded_lines']} reloaded, {journal_['refused_lines']} refused |",
        "",
        f"Detection over all {len(loops)} loops: {total['detected']} of {total['scored']} hits "
        f"found ({total['misses']} missed, {total['unknown_misses']} of them not missed by a "
        f"clean pass), {total['false_alarms']} false alarms; {total['near_overruns']} hits "
        f"within {NEAR_OVERRUN_MS:.0f} ms of lost frames not scored "
        f"({total['near_overruns_detected']} of them detected all the same), "
        f"{total['overrun_artefacts']} detections at overrun splices "
        f"({total['overrun_artefacts'] / max(1, expected['xruns']):.2f} spurious gestures per "
        "overrun: where frames are lost the signal jumps, a click the detector would take for "
        f"a hit; the hit path drops onsets around each loss, {final.get('masked_onsets', 0)} "
        "in this run) and "
        f"{total['seam_artefacts']} at loop seams not counted as false alarms. F-measure "
        f"{loops[0]['f_measure']:.4f} in the first loop, {loops[-1]['f_measure']:.4f} in the "
        f"last, {min(loop['f_measure'] for loop in loops):.4f} at worst. Hand part "
        f"{_percent(loops[0]['hand'])} / location {_percent(loops[0]['location'])} correct in "
        f"the first loop, {_percent(loops[-1]['hand'])} / {_percent(loops[-1]['location'])} "
        "in the last (the shipped bundle's accuracy on these held-out players; the soak "
        "checks that it does not change, not its level).",
        "",
        f"Resident memory (VmRSS, every {config['rss_interval_s']} s): "
        f"{memory_.get('first_mib')} MiB at start, {memory_.get('start_mib')} MiB after the "
        f"first loop (warm-up), {memory_.get('end_mib')} MiB at the end, "
        f"{memory_.get('max_mib')} MiB at most; growth "
        f"{memory_.get('growth_mib_per_h')} MiB per hour of audio (least-squares slope over "
        f"{memory_.get('after_warmup')} samples). Trace, [audio s, MiB]: "
        f"{', '.join(f'[{t}, {m}]' for t, m in memory_.get('trace', []))}.",
        "",
        f"CPU load from the status lines ({results['event_log']['status_lines']} of them, one "
        f"per second of audio): mean time per period {load['median']:.1%} of the period "
        f"(median over intervals), p99 {load['p99']:.1%}; slowest period of an interval "
        f"{load['peak_median']:.0%} median, {load['peak_p99']:.0%} p99, "
        f"{load['peak_max']:.0%} max: peaks on a shared 2-core machine whose other jobs preempt "
        "the process at will; on the board the audio thread runs SCHED_FIFO on an isolated "
        "core.",
        "",
        f"systemd's side: READY {'received' if notify['ready'] else 'missing'}, "
        f"{notify['watchdog_pings']} WATCHDOG pings, never more than "
        f"{notify['longest_gap_s']} s apart (WatchdogSec={WATCHDOG_SEC:.0f}s), STOPPING "
        f"{'received' if notify['stopping'] else 'missing'}; STATUS lines named "
        f"{', '.join(notify['faults_named'])}. The receiver got {received['status']} status "
        f"messages and {received['hits']} hits of {final.get('hits')} while it was up.",
        "",
        "Not covered here: wall-clock time is compressed (the bundle watcher polled about "
        f"{results['wall_s']:.0f} times, not the {results['audio_s']:.0f} of a real gig of "
        "this length); overruns are the source's, not ALSA's (no sound card here); the restart "
        "after a crash is systemd's (tests/test_soak.py checks the unit and that a crash exits "
        "non-zero).",
    ]
    return "\n".join(lines)


def _seconds(fault: dict) -> float:
    seconds = fault["first_message_after_return_s"]
    return float("inf") if seconds is None else seconds


def _percent(share: float | None) -> str:
    return "-" if share is None else f"{share:.1%}"
