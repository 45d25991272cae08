"""The vip-client side of `cargo bench --bench peer`: plain user code with VIP's own Python
client (vip-client 0.1.10, unchanged), as its documentation shows it, against the sandbox.

    python vip_client_batch.py MODE PORTAL_URL WORKDIR TAG N REFRESH

MODE is one of:

- `separate`: N subjects, one VipSession each (a loop: upload_inputs + launch_pipeline for
  every subject, then monitor_workflows + download_outputs for every subject);
- `cquest`: one VipSession, CQUEST/0.6 with paired lists of N parameter and N data files;
- `hello_list`: one VipSession, Hello/1.0 with a list of N files for `input_file`;
- `transfer`: one VipSession of Big/1.0 on WORKDIR/big/big.bin: upload, run, download.

The inputs are already in WORKDIR (written by the bench). TAG makes the session names of
this repeat unique (vip-client resumes a session of the same name). REFRESH is
monitor_workflows' refresh time in seconds. The key is in VIP_API_KEY (vip-client's
default source). Prints one JSON line of phase timings; exits non-zero if a run did not
finish or an output is missing.
"""

import json
import sys
import time
from pathlib import Path

from vip_client import VipSession


def check(condition, message):
    if not condition:
        print(f"PEER FAILED: {message}", flush=True)
        sys.exit(1)


def finished(session):
    return all(w["status"] == "Finished" for w in session.workflows.values())


def separate(work, tag, n, refresh):
    sessions = []
    for i in range(1, n + 1):
        subject = f"sub-{i:02d}"
        session = VipSession(
            session_name=f"peer_{tag}_{i:02d}",
            input_dir=work / "data" / subject,
            pipeline_id="Hello/1.0",
            input_settings={
                "input_file": work / "data" / subject / "in.bin",
                "message": f"hi {subject}",
            },
            output_dir=work / "vip-client-out" / subject,
        )
        session.upload_inputs()
        session.launch_pipeline()
        sessions.append(session)
    for session in sessions:
        session.monitor_workflows(refresh_time=refresh)
        check(finished(session), f"{session.session_name}: {session.workflows}")
        session.download_outputs()
    got = sorted((work / "vip-client-out").rglob("hello.txt"))
    check(len(got) == n, f"expected {n} greetings, got {len(got)}")
    return {}


def one_workflow(work, tag, pipeline, settings, refresh, expect, pattern):
    session = VipSession(
        session_name=f"peer_{tag}",
        input_dir=work / "data",
        pipeline_id=pipeline,
        input_settings=settings,
        output_dir=work / "vip-client-out",
    )
    session.upload_inputs()
    session.launch_pipeline()
    check(len(session.workflows) == 1, f"expected one workflow, got {session.workflows}")
    session.monitor_workflows(refresh_time=refresh)
    check(finished(session), f"{session.workflows}")
    session.download_outputs()
    got = sorted((work / "vip-client-out").rglob(pattern))
    check(len(got) == expect, f"expected {expect} outputs, got {len(got)}")
    return {}


def cquest(work, tag, n, refresh):
    data = work / "data"
    return one_workflow(
        work,
        tag,
        "CQUEST/0.6",
        {
            "zipped_folder": data / "basis.zip",
            "parameter_file": [data / f"sub-{i:02d}" / "params.txt" for i in range(1, n + 1)],
            "data_file": [data / f"sub-{i:02d}" / "signal.mrui" for i in range(1, n + 1)],
            "iterations": "50",
        },
        refresh,
        n,
        "quantification.csv",
    )


def hello_list(work, tag, n, refresh):
    data = work / "data"
    return one_workflow(
        work,
        tag,
        "Hello/1.0",
        {"input_file": [data / f"sub-{i:02d}" / "in.bin" for i in range(1, n + 1)], "message": "hi"},
        refresh,
        n,
        "hello.txt",
    )


def transfer(work, tag, n, refresh):
    big = work / "big"
    session = VipSession(
        session_name=f"peer_{tag}",
        input_dir=big,
        pipeline_id="Big/1.0",
        input_settings={"input_file": big / "big.bin"},
        output_dir=work / "vip-client-out",
    )
    start = time.perf_counter()
    session.upload_inputs()
    upload = time.perf_counter() - start
    session.launch_pipeline()
    session.monitor_workflows(refresh_time=refresh)
    check(finished(session), f"{session.workflows}")
    start = time.perf_counter()
    session.download_outputs()
    download = time.perf_counter() - start
    got = list((work / "vip-client-out").rglob("big.out"))
    check(len(got) == 1, f"expected the big output, got {got}")
    return {"upload_s": upload, "download_s": download, "downloaded": got[0].stat().st_size}


def main():
    mode, portal, work, tag, n, refresh = sys.argv[1:7]
    VipSession.init(api_key="VIP_API_KEY", vip_portal_url=portal)
    runs = {"separate": separate, "cquest": cquest, "hello_list": hello_list, "transfer": transfer}
    result = runs[mode](Path(work), tag, int(n), float(refresh))
    print("PEER " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
