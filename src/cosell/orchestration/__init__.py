"""Orchestration: the nightly run over the run ledger, the delivery calendar, and what the Airflow DAGs call."""
