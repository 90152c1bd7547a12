"""The properties a soak must show, judged from run_soak's results."""

from bench.soak.config import WATCHDOG_SEC


def checks(results: dict) -> list[dict]:
    """Every property the soak asserts: [{'check', 'passed', 'detail'}]."""
    config, expected, final = results["config"], results["expected"], results["final_status"]
    log, journal_ = results["event_log"], results["journal"]
    faults = results["faults"]
    loops = results["detection"]["loops"]
    memory_ = results["memory"]
    outages = [fault for fault in faults if fault["kind"] == "outage"]
    bursts = [fault for fault in faults if fault["kind"] == "burst"]
    swaps = [fault for fault in faults if fault["kind"].startswith("swap")]
    counters = ("xruns", "controls_rejected", "controls", "model_reloads", "model_failures")
    counted = {key: final.get(key) for key in counters}
    first, last = loops[0], loops[-1]
    allowed_growth = config["memory_slack_mib"] + config["max_growth_mib_per_h"] * memory_.get(
        "audio_h_after_warmup", 0.0
    )
    growth = memory_.get("end_mib", 0.0) - memory_.get("start_mib", 0.0)
    named = {"xruns", "osc_errors", "controls_rejected", "model_failures"}
    rows = [
        (
            "no crash",
            results["returncode"] == 0 and journal_["tracebacks"] == journal_["error_lines"] == 0,
            f"exit status {results['returncode']}, {journal_['tracebacks']} tracebacks, "
            f"{journal_['error_lines']} error lines",
        ),
        (
            "event log is valid JSON",
            log["invalid_lines"] == 0,
            f"{log['invalid_lines']} invalid lines",
        ),
        (
            "no gesture lost",
            log["status_hit_count_mismatches"] == 0
            and final.get("hits") == log["hits_logged"]
            and log["last_line_is_status"],
            f"{log['hits_logged']} logged, final status counts {final.get('hits')}, "
            f"{log['status_hit_count_mismatches']} status lines disagree with the log before them",
        ),
        ("gestures in order", log["hits_out_of_order"] == 0, f"{log['hits_out_of_order']}"),
        (
            "status lines through the whole run",
            final.get("frame") == expected["engine_frames"]
            and log["longest_status_gap_s"] is not None
            and log["longest_status_gap_s"] <= log["status_gap_limit_s"],
            f"{log['status_lines']} lines, last at frame {final.get('frame')} of "
            f"{expected['engine_frames']}, longest gap {log['longest_status_gap_s']} s",
        ),
        (
            "every injected fault counted in the status",
            all(counted[key] == expected[key] for key in counted),
            ", ".join(f"{key} {counted[key]}/{expected[key]}" for key in counted),
        ),
        (
            "receiver outages: errors counted while away, delivery after each return",
            len(outages) == expected["outages"]
            and all(
                fault["errors_counted"] > 0
                and fault["first_message_after_return_s"] is not None
                and results["osc_phases"][fault["phase"]]["status"] > 0
                for fault in outages
            ),
            "; ".join(
                f"{fault['errors_counted']} errors, back after "
                f"{fault['first_message_after_return_s']} s"
                for fault in outages
            ),
        ),
        (
            "control bursts: every malformed message rejected, every valid one applied",
            len(bursts) == len(config["bursts_at_s"])
            and all(
                fault["rejected_counted"] == fault["malformed_sent"]
                and fault["applied_counted"] == fault["valid_sent"]
                for fault in bursts
            ),
            f"{len(bursts)} bursts",
        ),
        (
            "model swaps: each counted, logged, and gestures go on after it",
            len(swaps) == len(config["swaps"])
            and all(fault["counted"] and fault["hits_in_next_minute"] > 0 for fault in swaps)
            and journal_["reloaded_lines"] == expected["model_reloads"]
            and journal_["refused_lines"] == expected["model_failures"],
            f"{journal_['reloaded_lines']} reloaded and {journal_['refused_lines']} refused "
            "in the log",
        ),
        (
            "faults named in the journal and in systemd's STATUS line",
            named <= set(journal_["fault_started_lines"])
            and named <= set(results["notify"]["faults_named"]),
            f"journal {sorted(journal_['fault_started_lines'])}, "
            f"STATUS {results['notify']['faults_named']}",
        ),
        (
            "watchdog fed: READY, pings less than WatchdogSec apart, STOPPING",
            results["notify"]["ready"]
            and results["notify"]["stopping"]
            and (results["notify"]["longest_gap_s"] or WATCHDOG_SEC) < WATCHDOG_SEC,
            f"{results['notify']['watchdog_pings']} pings, longest gap "
            f"{results['notify']['longest_gap_s']} s",
        ),
        (
            "every loop detects within the known misses",
            all(loop["unknown_misses"] == 0 for loop in loops),
            f"unknown misses per loop: max {max(loop['unknown_misses'] for loop in loops)}",
        ),
        (
            "every loop classifies each hit as the first loop did",
            all((loop["same_classes_as_first_loop"] or 0) >= 0.95 for loop in loops),
            f"lowest share {min(loop['same_classes_as_first_loop'] or 0 for loop in loops):.3f}",
        ),
        (
            "detection as good in the last loop as in the first",
            last["f_measure"] >= first["f_measure"] - 0.01,
            f"F {first['f_measure']:.4f} first, {last['f_measure']:.4f} last",
        ),
        (
            "memory flat after warm-up",
            "end_mib" in memory_ and growth <= allowed_growth,
            f"{growth:+.1f} MiB (allowed {allowed_growth:.1f})",
        ),
    ]
    return [{"check": name, "passed": bool(ok), "detail": detail} for name, ok, detail in rows]
