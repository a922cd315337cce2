{#-
  Latest state per key for the staging models, full or incremental (SPEC section 1).

  `batch` is the CTE holding the typed rows of this run: every landed row on a full build,
  only rows of loads after the watermark on an incremental one. On an incremental run the
  rows already kept for the batch's keys compete again with the batch, so a late file whose
  row loses the tie-break (older updated_at, earlier business date, ...) never replaces the
  winner; the winners are written back with delete+insert on the key.
  `_load_id_watermark` is the greatest _load_id of the batch that wrote the row; its
  maximum over the table is the last load this model has read.
-#}
{% macro resolve_latest(batch, key, order_by, incremental) %}
candidates as (
    select * from {{ batch }}
    {%- if incremental %}
    union all by name
    select {{ star_except(['_load_id_watermark'], 'existing') }}
    from {{ this }} as existing
    where existing.{{ key }} in (select {{ key }} from {{ batch }})
    {%- endif %}
),

ranked as (
    select
        *,
        row_number() over (partition by {{ key }} order by {{ order_by }}) as _version_rank
    from candidates
),

resolved as (
    select
        {{ star_except(['_version_rank']) }},
        (select max(_load_id) from {{ batch }}) as _load_id_watermark
    from ranked
    where _version_rank = 1
)
{% endmacro %}
