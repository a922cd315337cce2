"""Build: the dbt project run on the warehouse (DuckDB) or on Spark over the exported raw layer."""
