"""Quality gates: the Great Expectations suites on the raw batch and on the built marts, and their Data Docs."""
