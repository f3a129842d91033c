"""Who may do what, through the HTTP API of a real daemon, with tokens issued by `POST /api/tokens`."""

from __future__ import annotations

import pytest

from tests.fixtures.engine import Daemon

# Personal mode: jobs of users other than the owner go to SSH nodes or clusters, never this machine.
CONFIG = """\
nodes:
  - {name: local, kind: local}
  - {name: hpc, kind: slurm}
users:
  ann: {role: researcher, team: fem}
  bob: {role: researcher, team: fem}
  lee: {role: lead, team: fem}
  lara: {role: lead, team: ml}
  vic: {role: viewer}
"""
USERS = ("ann", "bob", "lee", "lara", "vic")


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("perm")
    (base / "config.yaml").write_text(CONFIG)
    daemon = Daemon(base / "state", base / "config.yaml").start()
    tokens = {user: daemon.issue_token(user) for user in USERS}
    yield daemon, tokens
    daemon.cleanup()


def submit(daemon: Daemon, token: str, **fields) -> dict:
    response = daemon.post(
        "/api/queue/submit",
        token,
        json={"jobs": [{"command": ["true"], "requires_approval": True, "node": "hpc", **fields}]},
    )
    assert response.status_code == 200, response.text
    return response.json()["jobs"][0]


def test_identity_comes_from_the_token(team) -> None:
    daemon, tokens = team
    job = submit(daemon, tokens["ann"])
    assert (job["user"], job["team"], job["priority"]) == ("ann", "fem", 10)
    spoof = daemon.post("/api/queue/submit", tokens["ann"], json={"jobs": [{"command": ["true"], "user": "root"}]})
    assert spoof.status_code == 422 and "user" in spoof.json()["message"]
    me = daemon.get("/api/queue/me", tokens["lee"]).json()
    assert (me["user"], me["role"], me["team"]) == ("lee", "lead", "fem")


def test_researcher_cannot_cancel_anothers_job_but_the_teams_lead_can(team) -> None:
    daemon, tokens = team
    job = submit(daemon, tokens["ann"])
    for user in ("bob", "lara", "vic"):
        denied = daemon.post(f"/api/queue/{job['id']}/cancel", tokens[user])
        assert denied.status_code == 403, user
        assert f"{user} (" in denied.json()["message"] and "belongs to ann" in denied.json()["message"]
    assert daemon.job(job["id"])["job"]["status"] == "blocked"
    allowed = daemon.post(f"/api/queue/{job['id']}/cancel", tokens["lee"])
    assert allowed.status_code == 200
    assert allowed.json()["status"] == "cancelled" and allowed.json()["message"] == "cancelled by lee"
    events = daemon.job(job["id"])["events"]
    assert events[-1]["actor"] == "lee"


def test_owner_may_act_on_their_own_job(team) -> None:
    daemon, tokens = team
    job = submit(daemon, tokens["bob"])
    assert daemon.post(f"/api/queue/{job['id']}/cancel", tokens["bob"]).status_code == 200


def test_viewer_cannot_submit(team) -> None:
    daemon, tokens = team
    denied = daemon.post("/api/queue/submit", tokens["vic"], json={"jobs": [{"command": ["true"]}]})
    assert denied.status_code == 403 and "vic (viewer) may not submit jobs" in denied.json()["message"]
    assert daemon.get("/api/queue", tokens["vic"]).status_code == 200  # but may look


def test_only_an_admin_approves_rejects_and_changes_limits(team) -> None:
    daemon, tokens = team
    job = submit(daemon, tokens["ann"])
    for user in ("ann", "lee"):
        assert daemon.post(f"/api/queue/{job['id']}/approve", tokens[user]).status_code == 403
        assert daemon.post(f"/api/queue/{job['id']}/reject", tokens[user], params={"reason": "no"}).status_code == 403
        assert daemon.post("/api/queue/concurrency", tokens[user], json={"max_concurrent": 1}).status_code == 403
        assert daemon.post("/api/queue/cleanup", tokens[user], params={"days": 0}).status_code == 403
    assert daemon.job(job["id"])["job"]["status"] == "blocked"
    approved = daemon.post(f"/api/queue/{job['id']}/approve")  # the owner of the engine is admin
    assert approved.status_code == 200 and approved.json()["message"] in ("approved by root", "")


def test_only_an_admin_issues_tokens_and_unknown_tokens_are_refused(team) -> None:
    daemon, tokens = team
    assert daemon.post("/api/tokens", tokens["lee"], json={"user": "mallory"}).status_code == 403
    assert daemon.get("/api/queue", "not-a-token").status_code == 401  # no identity: 401, not 403


def test_leads_raise_priority_of_their_teams_jobs_only(team) -> None:
    daemon, tokens = team
    job = submit(daemon, tokens["ann"])
    assert daemon.post(f"/api/queue/{job['id']}/priority", tokens["ann"], json={"priority": 50}).status_code == 403
    assert daemon.post(f"/api/queue/{job['id']}/priority", tokens["lara"], json={"priority": 50}).status_code == 403
    raised = daemon.post(f"/api/queue/{job['id']}/priority", tokens["lee"], json={"priority": 50})
    assert raised.status_code == 200 and raised.json()["priority"] == 50
    too_high = daemon.post("/api/queue/submit", tokens["ann"], json={"jobs": [{"command": ["true"], "priority": 40}]})
    assert too_high.status_code == 403 and too_high.json()["error"] == "Not allowed"


def test_issued_tokens_survive_a_restart(team) -> None:
    daemon, tokens = team
    daemon.stop()
    daemon.start()
    assert daemon.get("/api/queue/me", tokens["ann"]).json()["user"] == "ann"
