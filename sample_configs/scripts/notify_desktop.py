#!/usr/bin/env python3
"""A jobtui hook command: a desktop notification (notify-send) for the event JSON on stdin.

The job's name and message go to notify-send as arguments of their own (no shell sees them); notify-send
needs the desktop session's DISPLAY / DBUS_SESSION_BUS_ADDRESS, which jobtui passes on to hook commands.
"""

import json
import subprocess
import sys

event = json.load(sys.stdin)
job = event.get("job") or {}
kind = event["event"].replace("_", " ")
if job:
    summary = f"jobtui: job {job['id']} {job['name']}: {kind}"
elif "workflow" in event:
    summary = f"jobtui: workflow {event['workflow']['name']} finished"
else:
    summary = f"jobtui: {kind} {event.get('node', '')}".rstrip()
urgency = "critical" if event["event"] in ("job_failed", "node_unreachable", "job_stalled") else "normal"
body = event.get("message") or ""
sys.exit(subprocess.run(["notify-send", "--app-name=jobtui", f"--urgency={urgency}", summary, body]).returncode)
