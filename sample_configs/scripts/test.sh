#!/bin/sh
# The test step of sample_configs/workflow-seed.yaml: a stand-in for a real test run.
echo "running the tests in $(pwd)"
