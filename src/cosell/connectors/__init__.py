"""Connectors that pull co-sell records from the hyperscalers' partner systems into inbox extract files."""
