"""The sample workflow `jobtui create` writes: a commented, runnable 14-job CI/CD pipeline.

Its steps only echo and sleep (stand-ins for real builds), so it runs anywhere with sh and python3. It has
nine levels, three jobs side by side at its widest, a critical path of nine jobs (by timeouts: setup,
install_deps, build_backend, test_unit_backend, integration_tests, package, deploy_staging, smoke_tests,
rollback_staging), a `failure` step (rollback_staging), an `any` step (cleanup), a Python job, a retried
job and a condition on the environment. `sample_configs/workflow-ci.yaml` is this text with its default name.
"""

from __future__ import annotations

import yaml

DEFAULT_NAME = "Sample CI/CD"

_TEMPLATE = """\
# A workflow: jobs with dependencies, run as one DAG by jobtui.
#   jobtui analyze FILE        levels, critical path and parallelism (--dot / --mermaid to draw it)
#   jobtui run FILE            queue every job and follow them to the end
# The steps below only echo and sleep: replace their commands with your own.
name: __NAME__
version: "1.0.0"
description: "Build, test, package and deploy to staging; roll back if the smoke tests fail"

global_config:
  max_retries: 0          # retries of a job that sets none (retry_config.max_attempts wins)
  timeout: 3600           # seconds (or 15m, 2h) for a job that sets none
  max_concurrent_jobs: 4  # jobs of this workflow running at once

jobs:
  # Level 0
  - id: setup
    name: "Set up the workspace"
    command: "echo 'checking out'; sleep 1"   # a text command runs with sh -c
    timeout: 60

  # Level 1
  - id: install_deps
    name: "Install dependencies"
    command: "echo 'installing dependencies'; sleep 2"
    dependencies: [setup]
    timeout: 300
    retry_config:           # the network fails sometimes: up to 3 attempts, 5 s then 10 s apart
      max_attempts: 3
      initial_delay: 5
      backoff_factor: 2.0
      max_delay: 60
    tags: [network]

  # Level 2: three jobs side by side
  - id: lint
    command: [echo, "lint: no problems"]   # a list is the argv itself: no shell
    dependencies: [install_deps]
    timeout: 120

  - id: build_frontend
    name: "Build the frontend"
    command: "echo 'building the frontend'; sleep 3"
    dependencies: [install_deps]
    timeout: 600
    environment:
      NODE_ENV: production

  - id: build_backend
    name: "Build the backend"
    command: "echo \\"building the backend with $JOBS jobs\\"; sleep 4"
    dependencies: [install_deps]
    timeout: 900
    resource_limits:
      max_memory_mb: 2048   # or 2G
      max_cpu_percent: 400  # four cores
    environment:
      JOBS: "4"

  # Level 3
  - id: test_unit_frontend
    command: "echo 'frontend unit tests passed'; sleep 2"
    dependencies: [build_frontend]
    timeout: 600

  - id: test_unit_backend
    command: "echo 'backend unit tests passed'; sleep 3"
    dependencies: [build_backend]
    timeout: 1200

  - id: security_scan
    command: "echo 'no known vulnerabilities'; sleep 1"
    dependencies: [build_backend]
    timeout: 300
    tags: [security]

  # Level 4
  - id: integration_tests
    name: "Integration tests"
    command: "echo 'integration tests passed'; sleep 3"
    dependencies: [lint, test_unit_frontend, test_unit_backend]
    timeout: 1800

  # Level 5: Python code, run with python3
  - id: package
    name: "Package the release"
    job_type: python
    command: |
      import json, os
      manifest = {"version": os.environ.get("VERSION", "dev"), "parts": ["frontend", "backend"]}
      print(json.dumps(manifest))
    dependencies: [integration_tests, security_scan]
    timeout: 300
    environment:
      VERSION: "${RELEASE_VERSION:-1.0.0}"   # from your environment, 1.0.0 when unset

  # Level 6: only when DEPLOY is yes (run with DEPLOY_STAGING=no to skip it and what follows)
  - id: deploy_staging
    name: "Deploy to staging"
    command: "echo \\"deploying $VERSION to staging\\"; sleep 2"
    dependencies: [package]
    timeout: 600
    environment:
      DEPLOY: "${DEPLOY_STAGING:-yes}"
      VERSION: "${RELEASE_VERSION:-1.0.0}"
    conditions:
      only_if: {DEPLOY: "yes"}
    # requires_approval: true   # hold it until a lead approves

  # Level 7
  - id: smoke_tests
    command: "echo 'staging answers'; sleep 1"
    dependencies: [deploy_staging]
    timeout: 300
    # An HTTP check instead (the engine makes the request itself):
    # job_type: http
    # http: {method: GET, url: "https://staging.example.org/health", expected_status: 200, timeout: 10}

  # Level 8: what happens after the smoke tests
  - id: rollback_staging
    name: "Roll back staging"
    command: "echo 'rolling staging back'"
    dependencies: [{smoke_tests: failure}]   # only when the smoke tests failed
    timeout: 300

  - id: cleanup
    name: "Clean up"
    command: "echo 'removing the workspace'"
    after: {package: any, smoke_tests: any}  # once these ended, however they ended
    timeout: 120
"""


def sample_workflow(name: str = DEFAULT_NAME) -> str:
    """The sample's text, named `name` (quoted as YAML needs, whatever the name holds)."""
    quoted = yaml.safe_dump(name, default_style='"', allow_unicode=True, width=2**31).strip()
    return _TEMPLATE.replace("__NAME__", quoted, 1)
