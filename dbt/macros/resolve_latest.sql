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


{#- The incremental filter of a staging model reading raw: loads after the last one it read. -#}
{% macro new_loads_only(incremental) %}
    {%- if incremental %}
    where _load_id > (select coalesce(max(_load_id_watermark), -1) from {{ this }})
    {%- endif %}
{% endmacro %}


{#- Rates persisted as DOUBLE are rounded so a rerun on the same data is byte-identical. -#}
{% macro round_rate(expression) -%}
    round({{ expression }}, {{ var('cosell_rate_decimals') }})
{%- endmacro %}


{#- The mean of rates already rounded by round_rate, rounded half-even to the same decimals
    with exact integer arithmetic, as DOUBLE. A DOUBLE mean depends on the order of the rows
    (which differs between engines) and a mean of rounded rates can fall exactly on a half
    (0.08387316965): only exact arithmetic gives both engines one answer.
    over: a window (`partition by ...`) for a window mean. -#}
{% macro exact_mean_of_rates(expression, over=none) -%}
    {%- set window = ' over (' ~ over ~ ')' if over else '' -%}
    {%- set scale = 10 ** var('cosell_rate_decimals') -%}
    {%- set units = 'sum(cast(round(' ~ expression ~ ' * ' ~ scale ~ ') as bigint))' ~ window -%}
    {%- set n = 'count(' ~ expression ~ ')' ~ window -%}
    {%- set quotient = integer_divide(units, n) -%}
    cast(
        {{ quotient }} + case
            when 2 * ({{ units }} - {{ quotient }} * {{ n }}) > {{ n }}
                or (2 * ({{ units }} - {{ quotient }} * {{ n }}) = {{ n }} and {{ quotient }} % 2 = 1) then 1
            else 0
        end
        as double
    ) / {{ scale }}
{%- endmacro %}


{#-
  Money computed in DOUBLE (revenue and deal size means): rounded to 6 decimals first to drop
  floating noise, then half-even to cents, as DECIMAL(18,2).
-#}
{% macro double_to_cents(expression) -%}
    cast({{ round_half_even('cast(round(' ~ expression ~ ', 6) as decimal(38, 6))', 2) }} as decimal(18, 2))
{%- endmacro %}


{#- First day of the UTC month / quarter of an instant or date, as a DATE (SPEC section 3). -#}
{% macro month_of(expression) -%}
    cast({{ dbt.date_trunc('month', expression) }} as date)
{%- endmacro %}

{% macro quarter_of(expression) -%}
    cast({{ dbt.date_trunc('quarter', expression) }} as date)
{%- endmacro %}
