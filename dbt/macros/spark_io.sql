{#-
  What a Spark build reads and leaves beside its tables (`cosell build --engine spark`); on
  DuckDB both hooks do nothing (sources are the landed tables; build.py reruns a failing
  test's query on the warehouse file).
-#}

{#- on-run-start: schema raw as views over the raw Parquet export (src/cosell/build/raw_export.py),
    one per source table, under COSELL_RAW_PARQUET. -#}
{% macro register_raw_sources() -%}
    {{ return(adapter.dispatch('register_raw_sources', 'cosell')()) }}
{%- endmacro %}

{% macro default__register_raw_sources() -%}
{%- endmacro %}

{% macro spark__register_raw_sources() -%}
    {%- if execute -%}
        {%- set root = env_var('COSELL_RAW_PARQUET', '') -%}
        {%- if not root -%}
            {{ exceptions.raise_compiler_error("COSELL_RAW_PARQUET is not set: run `cosell build --engine spark`, which exports the raw layer") }}
        {%- endif -%}
        {%- do run_query('create database if not exists raw') -%}
        {%- for source in graph.sources.values() if source.source_name == 'raw' -%}
            {%- do run_query("create or replace view raw." ~ source.identifier ~ " as select * from parquet.`" ~ root ~ "/" ~ source.identifier ~ "`") -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}


{#- on-run-end: the first rows of each failing data test, as Parquet under
    COSELL_SPARK_FAILURES/<test name>/ (the session's catalog is gone when dbt exits, so
    build.py cannot rerun the query; nothing is written when every test passes). -#}
{% macro keep_failing_rows(results) -%}
    {{ return(adapter.dispatch('keep_failing_rows', 'cosell')(results)) }}
{%- endmacro %}

{% macro default__keep_failing_rows(results) -%}
{%- endmacro %}

{% macro spark__keep_failing_rows(results) -%}
    {%- if execute -%}
        {%- set root = env_var('COSELL_SPARK_FAILURES', '') -%}
        {%- for result in results if root and result.status == 'fail' and result.node.resource_type == 'test' -%}
            {%- do run_query("insert overwrite directory '" ~ root ~ "/" ~ result.node.name ~ "' using parquet select * from (" ~ result.node.compiled_code ~ ") as failing limit 3") -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}
