"""Export: a trained run becomes an avatar bundle the runtime loads without torch.

The steps compose like Polygraphy's loaders, each taking and returning an
`ExportedModel`:

    saved(checked(simplified(onnx_from_checkpoint(run, "generator"))), folder)

`export.bundle.export_avatar` chains them for every model of a run, checks parity
against torch on real samples of the run's data, and writes the bundle.
"""
