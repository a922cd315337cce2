{#-
  The deal-level intermediates are incremental on the set of deals a new load can change
  (the nightly cost grows with the day's rows, not with history). Each row carries
  `_load_id_watermark`: the last landing run the raw layer had seen when the row was
  computed. Its maximum over a model is the last run that model has taken in, so a build
  that failed half-way is caught up by the next one.
-#}

{#- The last landing run this incremental model has taken in (-1 when it is empty). -#}
{% macro built_through() -%}
(select coalesce(max(_load_id_watermark), -1) from {{ this }})
{%- endmacro %}


{#- The stamp of the rows this run writes: the last landing run in the raw layer. -#}
{% macro current_load_id() -%}
(select coalesce(max(load_id), -1) from {{ ref('stg_raw__load_audit') }})
{%- endmacro %}


{#-
  Pre-hook of a model that reads an incremental staging model: fails when that staging model
  has not read every landed row of its raw feed (the model rebuilt alone, or its Airflow task
  cleared, after a landing that staging has not read). The model would otherwise stamp its
  rows with a load whose rows staging brings later, and pass over them for good.
  The last load that brought rows of the feed is read from the load audit (a view, always
  current), not from the raw table: models past staging read staging only (dbt/README.md).
-#}
{% macro require_staging_current(staging, feed, staging_load_column='_load_id_watermark') -%}
select case
    when (
            select coalesce(max(load_id), -1) from {{ ref('stg_raw__load_audit') }}
            where feed = '{{ feed }}' and status = 'LANDED' and rows_landed > 0
        )
        > (select coalesce(max({{ staging_load_column }}), -1) from {{ ref(staging) }})
        then {{ raise_error(staging ~ ' has not read the last load of raw.' ~ feed ~ ' yet: build the whole project (cosell build), not ' ~ this.identifier ~ ' alone') }}
end
{%- endmacro %}
