"""`dancenow avatar create`: one job from target videos to a finished avatar bundle.

The job prepares the data, times a few training steps of each stage on this machine,
fits the step counts to a time budget, trains the stages in order, exports the bundle
with its parity check, evaluates it on held-out frames and writes the report. Its state
(plan, step counts, phases done and their durations) lives in `job.json` in the work
folder, so an interrupted job continues where it stopped.

Modules: `budget` (the recipes and the budget arithmetic, pure functions), `state` (the
job file and the work folder's lock), `checks` (input checks before any training),
`heldout` (the held-out data folder), `timing` (seconds per step, measured),
`progress` (one display for the whole job), `runner` (the job itself).
"""
