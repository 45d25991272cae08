"""The vip-client side of `cargo bench --bench failures`: VIP's own Python client (vip-client
0.1.10, unchanged) running a batch of Hello/1.0 executions, one VipSession per subject, as its
documentation shows (upload_inputs, launch_pipeline, monitor_workflows, download_outputs),
against a sandbox that injects failures.

    python vip_client_failures.py PORTAL_URL WORKDIR N REFRESH WAIT

The inputs are in WORKDIR/data/sub-NNN/in.txt (written by the bench). REFRESH is
monitor_workflows' refresh time in seconds. The key is in VIP_API_KEY (vip-client's default
source).

Two things differ from plain user code, both so that every session can be observed rather
than the first stuck one:

- each session's calls are wrapped in try/except (plain code dies at the first exception,
  e.g. the 8015 of an execution cleaned on VIP);
- monitor_workflows is given a budget: until WAIT seconds after the last launch, then
  2 * REFRESH + 2 seconds per session. When the budget runs out while vip-client still
  waits (it polls the workflow status only, and a held, stalled or hung execution stays
  Running), it is interrupted and recorded as "still waiting"; plain code would wait there
  for ever, and the sessions after it would never be monitored nor downloaded.

Everything vip-client prints is captured per session (stdout is redirected while its calls
run). Writes WORKDIR/vip-client-failures.json: one record per session (its workflow id,
what each phase printed, raised or did, the status vip-client holds in memory and in its
session_data.json, the files it downloaded), and prints `DONE` on stdout.
"""

import contextlib
import io
import json
import signal
import sys
import time
import traceback
from pathlib import Path

from vip_client import VipSession


class GaveUp(Exception):
    """The bench's budget for one monitor_workflows call ran out."""


def on_alarm(signum, frame):
    raise GaveUp()


def call(fn, budget=None):
    """Runs fn with stdout captured; returns (printed text, error text or None, gave up)."""
    out = io.StringIO()
    error = None
    gave_up = False
    if budget is not None:
        signal.setitimer(signal.ITIMER_REAL, max(budget, 0.1))
    try:
        with contextlib.redirect_stdout(out):
            fn()
    except GaveUp:
        gave_up = True
    except Exception as e:  # what plain user code would die of
        error = "".join(traceback.format_exception_only(type(e), e)).strip()
    finally:
        if budget is not None:
            signal.setitimer(signal.ITIMER_REAL, 0)
    return out.getvalue(), error, gave_up


def main():
    portal, work, n, refresh, wait = sys.argv[1:6]
    work, n, refresh, wait = Path(work), int(n), float(refresh), float(wait)
    signal.signal(signal.SIGALRM, on_alarm)
    init_text, init_error, _ = call(
        lambda: VipSession.init(api_key="VIP_API_KEY", vip_portal_url=portal)
    )
    if init_error:
        print(f"INIT FAILED: {init_error}\n{init_text}", flush=True)
        sys.exit(1)

    records = []
    for i in range(1, n + 1):
        subject = f"sub-{i:03d}"
        rec = {"subject": subject, "session": f"failures_{subject}"}
        holder = {}

        def launch():
            session = VipSession(
                session_name=rec["session"],
                input_dir=work / "data" / subject,
                pipeline_id="Hello/1.0",
                input_settings={
                    "input_file": work / "data" / subject / "in.txt",
                    "message": f"hi {subject}",
                },
                output_dir=work / "vip-client-out" / subject,
            )
            holder["session"] = session
            session.upload_inputs()
            session.launch_pipeline()

        text, error, _ = call(launch)
        rec["launched_at"] = time.time()
        rec["launch"] = {"text": text, "error": error}
        session = holder.get("session")
        rec["workflows"] = list(session.workflows) if session is not None else []
        records.append((rec, session))
    launched = time.time()
    deadline = launched + wait
    grace = 2 * refresh + 2

    for rec, session in records:
        if session is None or not rec["workflows"]:
            rec["monitor"] = {"ran": False}
            continue
        start = time.time()
        budget = max(deadline - start, grace)
        text, error, gave_up = call(lambda: session.monitor_workflows(refresh_time=refresh), budget)
        end = time.time()
        rec["monitor"] = {
            "ran": True,
            "text": text,
            "error": error,
            "returned": error is None and not gave_up,
            "gave_up": gave_up,
            "seconds": end - start,
            "since_launch": end - rec["launched_at"],
        }

    for rec, session in records:
        if not rec["monitor"].get("returned"):
            rec["download"] = {"ran": False}
            continue
        text, error, _ = call(session.download_outputs)
        rec["download"] = {"ran": True, "text": text, "error": error}

    for rec, session in records:
        if session is not None:
            rec["status"] = {w: v.get("status") for w, v in session.workflows.items()}
        state = work / "vip-client-out" / rec["subject"] / "session_data.json"
        try:
            data = json.loads(state.read_text())
            rec["saved_status"] = {w: v.get("status") for w, v in data.get("workflows", {}).items()}
        except (OSError, ValueError):
            rec["saved_status"] = None
        out = work / "vip-client-out" / rec["subject"]
        rec["files"] = sorted(
            str(p.relative_to(out)) for p in out.rglob("*") if p.is_file() and p.name != "session_data.json"
        )

    (work / "vip-client-failures.json").write_text(
        json.dumps({"launched_at": launched, "records": [r for r, _ in records]})
    )
    print("DONE", flush=True)


if __name__ == "__main__":
    main()
