"""VIP's own Python client, vip-client 0.1.10, unchanged, against the vip-run sandbox.

A whole VipSession: upload a local input folder (with a sub-folder), launch CQUEST/0.6 with
two paired list inputs (two jobs), monitor, download and extract the results, then finish
(delete the session's data on VIP). Run by tests/integration/python_client.rs as

    python vipsession_roundtrip.py PORTAL_URL WORKDIR

with the API key in the VIP_API_KEY environment variable (vip-client's default source).
PORTAL_URL is the sandbox's address without `/rest`: vip-client appends it. Exits non-zero
with a message if anything is off; prints `ROUNDTRIP OK` at the end.
"""

import json
import sys
from pathlib import Path

from vip_client import VipSession
from vip_client.utils import vip

SESSION = "sandbox_roundtrip"


def check(condition, message):
    if not condition:
        print(f"ROUNDTRIP FAILED: {message}", flush=True)
        sys.exit(1)


def main():
    portal, workdir = sys.argv[1], Path(sys.argv[2])
    inputs = workdir / "inputs"
    (inputs / "signals").mkdir(parents=True, exist_ok=True)
    (inputs / "basis.zip").write_bytes(b"PK\x03\x04 basis set")
    (inputs / "p1.txt").write_text("te=30\n")
    (inputs / "p2.txt").write_text("te=35\n")
    (inputs / "signals" / "d1.mrui").write_bytes(b"signal one")
    (inputs / "signals" / "d2.mrui").write_bytes(b"signal two")
    outputs = workdir / "outputs"

    # The documented way to point vip-client at another VIP instance.
    VipSession.init(api_key="VIP_API_KEY", vip_portal_url=portal)
    session = VipSession(
        session_name=SESSION,
        input_dir=inputs,
        pipeline_id="CQUEST/0.6",
        input_settings={
            "zipped_folder": inputs / "basis.zip",
            "parameter_file": [inputs / "p1.txt", inputs / "p2.txt"],
            "data_file": [inputs / "signals" / "d1.mrui", inputs / "signals" / "d2.mrui"],
            "iterations": "50",
            "verbose": "false",
        },
        output_dir=outputs,
    )
    session.upload_inputs()
    check(vip.exists(f"/vip/Home/API/{SESSION}/INPUTS/signals/d2.mrui"), "inputs not uploaded")
    session.launch_pipeline()
    workflows = session.workflows
    check(len(workflows) == 1, f"expected one workflow, got {workflows}")
    session.monitor_workflows(refresh_time=0.5)
    (wid, workflow), = session.workflows.items()
    check(workflow["status"] == "Finished", f"workflow ended {workflow['status']}")
    session.download_outputs()
    outputs_on_vip = session.workflows[wid]["outputs"]
    check(len(outputs_on_vip) == 2, f"expected two outputs, got {outputs_on_vip}")
    check(all(o["exists"] and o["size"] > 0 for o in outputs_on_vip), f"bad outputs {outputs_on_vip}")
    extracted = sorted(str(p.relative_to(outputs)) for p in outputs.rglob("quantification.csv"))
    check(len(extracted) == 2, f"expected two extracted archives, got {extracted}")
    session.finish(timeout=30)
    check(not vip.exists(f"/vip/Home/API/{SESSION}"), "session data still on VIP after finish()")
    check(session.workflows[wid]["status"] == "Removed", "workflow not marked Removed")
    (workdir / "report.json").write_text(json.dumps({"workflow": wid, "extracted": extracted}))
    print("ROUNDTRIP OK", flush=True)


if __name__ == "__main__":
    main()
