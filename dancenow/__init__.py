"""The `dancenow` command line: parses arguments and calls the packages that do the work."""
