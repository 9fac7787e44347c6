#!/usr/bin/env python3
"""Query a fakecp transcript (JSON lines). Usable as a module or a CLI.

    transcript.py FILE requests  [--op OP] [--status N] [--bad-sig]
    transcript.py FILE events    [--event NAME] [--deployment D]
    transcript.py FILE commands  [--deployment D]   # issued command names
    transcript.py FILE acks      [--deployment D]
    transcript.py FILE completes [--deployment D]   # command_completed events
    transcript.py FILE specs     [--deployment D]   # spec_served events
    transcript.py FILE deployment D                 # final status or "running"
    transcript.py FILE count     [--op OP] [--status N] [--bad-sig] [--event NAME]
    transcript.py FILE wait      [--event NAME] [--deployment D] [--timeout S]
                                 [--count N]    # exit 0 once seen, 1 on timeout

Lists print as one JSON array (indent 1). --deployment matches the
deployment_id of events and requests ("d-X").
"""
import argparse
import json
import sys
import time


def load(path):
    out = []
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line:
                    try:
                        out.append(json.loads(line))
                    except ValueError:
                        pass    # a line being written
    except FileNotFoundError:
        pass
    return out


def requests(recs, op=None, status=None, bad_sig=False):
    r = [x for x in recs if x.get("type") == "request"]
    if op:
        r = [x for x in r if x.get("operation") == op]
    if status is not None:
        r = [x for x in r if x.get("status") == status]
    if bad_sig:
        r = [x for x in r if x.get("signature_ok") is False]
    return r


def events(recs, name=None, deployment=None):
    r = [x for x in recs if x.get("type") == "event"]
    if name:
        r = [x for x in r if x.get("event") == name]
    if deployment:
        r = [x for x in r if x.get("deployment_id") == deployment]
    return r


def commands(recs, deployment=None):
    return [e["command"] for e in events(recs, "command_issued", deployment)]


def acks(recs, deployment=None):
    return events(recs, "command_acked", deployment)


def completes(recs, deployment=None):
    return events(recs, "command_completed", deployment)


def specs(recs, deployment=None):
    return events(recs, "spec_served", deployment)


def deployment_status(recs, deployment):
    f = events(recs, "deployment_finished", deployment)
    return f[-1]["status"] if f else "running"


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("what", choices=["requests", "events", "commands", "acks", "completes",
                                     "specs", "deployment", "count", "wait"])
    ap.add_argument("arg", nargs="?")
    ap.add_argument("--op")
    ap.add_argument("--status", type=int)
    ap.add_argument("--bad-sig", action="store_true")
    ap.add_argument("--event")
    ap.add_argument("--deployment")
    ap.add_argument("--timeout", type=float, default=30)
    ap.add_argument("--count", type=int, default=1)
    a = ap.parse_args(argv)
    dep = a.deployment or a.arg

    if a.what == "wait":
        end = time.time() + a.timeout
        while True:
            if len(events(load(a.file), a.event or "deployment_finished", dep)) >= a.count:
                return 0
            if time.time() >= end:
                return 1
            time.sleep(0.1)

    recs = load(a.file)
    if a.what == "deployment":
        print(deployment_status(recs, dep))
        return 0
    if a.what == "count":
        if a.event:
            print(len(events(recs, a.event, a.deployment)))
        else:
            print(len(requests(recs, a.op, a.status, a.bad_sig)))
        return 0
    res = {
        "requests": lambda: requests(recs, a.op, a.status, a.bad_sig),
        "events": lambda: events(recs, a.event, dep),
        "commands": lambda: commands(recs, dep),
        "acks": lambda: acks(recs, dep),
        "completes": lambda: completes(recs, dep),
        "specs": lambda: specs(recs, dep),
    }[a.what]()
    json.dump(res, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
