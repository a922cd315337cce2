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
