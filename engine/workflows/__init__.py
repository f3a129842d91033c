"""Workflows: a DAG file read as one object (`schema`), its analysis (`graph`) and the sample (`sample`).

Pure: nothing here touches the engine's state. A workflow becomes an ordinary batch of `JobSpec`s
(`workflow.to_job_specs`), each job keyed by its id, so the engine schedules it like any other batch, with
its edges' conditions and a record of the workflow (`service.submit(..., workflow=)`). `detail` reads a
submitted workflow back (its jobs, levels and critical path) for the API.

`schema` is the entry point; the reading itself is in `model` (the file's format), `expansion`, `problems`,
`jobs` and `reader`, and the result in `workflow`.
"""
