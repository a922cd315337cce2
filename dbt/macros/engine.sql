{#-
  Engine-specific SQL, one macro per construct (adapter.dispatch: duckdb__ for the warehouse,
  spark__ for `cosell build --engine spark`). Models call these and dbt's cross-database
  macros, never an engine's own function, so one model file serves both engines.
-#}

{#- How an incremental model materializes: incremental on DuckDB (delete+insert, see the
    model's config); a table on Spark, where every build rebuilds from the raw Parquet
    (dbt-spark's merge needs Delta, Iceberg or Hudi jars; see dbt/README.md). -#}
{% macro incremental_materialization() -%}
    {{ return(adapter.dispatch('incremental_materialization', 'cosell')()) }}
{%- endmacro %}

{% macro default__incremental_materialization() -%}
    {{ return('incremental') }}
{%- endmacro %}

{% macro spark__incremental_materialization() -%}
    {{ return('table') }}
{%- endmacro %}


{#- Whether this model is materialized incrementally: the post-hooks that remove rows that
    left an incremental model's input render empty (and so do not run) on a table. -#}
{% macro materialized_incrementally() -%}
    {{ return(config.get('materialized') == 'incremental') }}
{%- endmacro %}


{#- Half-even rounding (SPEC: money rounded once, half-even). -#}
{% macro round_half_even(expression, scale) -%}
    {{ return(adapter.dispatch('round_half_even', 'cosell')(expression, scale)) }}
{%- endmacro %}

{% macro duckdb__round_half_even(expression, scale) -%}
    round_even({{ expression }}, {{ scale }})
{%- endmacro %}

{% macro spark__round_half_even(expression, scale) -%}
    bround({{ expression }}, {{ scale }})
{%- endmacro %}


{#- amount x usd_per_unit, exact: DECIMAL(18,2) x DECIMAL(24,12) needs 14 decimals. DuckDB
    keeps them in DECIMAL(38,2) x DECIMAL(38,12) -> DECIMAL(38,14); Spark caps a product at 38
    digits by cutting decimals, so its operands are narrowed to DECIMAL(18,2) x DECIMAL(19,12)
    -> DECIMAL(38,14) (rates up to 9,999,999 USD per unit). -#}
{% macro exact_money_times_rate(amount, rate) -%}
    {{ return(adapter.dispatch('exact_money_times_rate', 'cosell')(amount, rate)) }}
{%- endmacro %}

{% macro default__exact_money_times_rate(amount, rate) -%}
    cast({{ amount }} as decimal(38, 2)) * cast({{ rate }} as decimal(38, 12))
{%- endmacro %}

{% macro spark__exact_money_times_rate(amount, rate) -%}
    cast({{ amount }} as decimal(18, 2)) * cast({{ rate }} as decimal(19, 12))
{%- endmacro %}


{#- Integer division (rounded toward zero) of two integers. -#}
{% macro integer_divide(dividend, divisor) -%}
    {{ return(adapter.dispatch('integer_divide', 'cosell')(dividend, divisor)) }}
{%- endmacro %}

{% macro duckdb__integer_divide(dividend, divisor) -%}
    (({{ dividend }}) // ({{ divisor }}))
{%- endmacro %}

{% macro spark__integer_divide(dividend, divisor) -%}
    (({{ dividend }}) div ({{ divisor }}))
{%- endmacro %}


{#- Every column of a relation (or of the row source when none is named) but some. -#}
{% macro star_except(columns, relation=none) -%}
    {{ return(adapter.dispatch('star_except', 'cosell')(columns, relation)) }}
{%- endmacro %}

{% macro duckdb__star_except(columns, relation) -%}
    {% if relation %}{{ relation }}.{% endif %}* exclude ({{ columns | join(', ') }})
{%- endmacro %}

{% macro spark__star_except(columns, relation) -%}
    {% if relation %}{{ relation }}.{% endif %}* except ({{ columns | join(', ') }})
{%- endmacro %}


{#- Text of the distinct non-null values of a group, sorted, joined by the separator ('' when none). -#}
{% macro sorted_distinct_text(expression, separator) -%}
    {{ return(adapter.dispatch('sorted_distinct_text', 'cosell')(expression, separator)) }}
{%- endmacro %}

{% macro duckdb__sorted_distinct_text(expression, separator) -%}
    array_to_string(list_sort(list_distinct(list({{ expression }}))), '{{ separator }}')
{%- endmacro %}

{% macro spark__sorted_distinct_text(expression, separator) -%}
    array_join(array_sort(array_distinct(collect_list({{ expression }}))), '{{ separator }}')
{%- endmacro %}


{#- The continuous (linearly interpolated) quantile of a group's non-null values. -#}
{% macro quantile_continuous(expression, fraction) -%}
    {{ return(adapter.dispatch('quantile_continuous', 'cosell')(expression, fraction)) }}
{%- endmacro %}

{% macro duckdb__quantile_continuous(expression, fraction) -%}
    quantile_cont({{ expression }}, {{ fraction }})
{%- endmacro %}

{% macro spark__quantile_continuous(expression, fraction) -%}
    percentile({{ expression }}, {{ fraction }})
{%- endmacro %}


{#- Whole days from one date to another, as BIGINT on both engines (Spark's datediff is INT);
    null when either is null (dbt.datediff on Spark asserts both are set). -#}
{% macro days_between(start_date, end_date) -%}
    {{ return(adapter.dispatch('days_between', 'cosell')(start_date, end_date)) }}
{%- endmacro %}

{% macro default__days_between(start_date, end_date) -%}
    {{ dbt.datediff(start_date, end_date, 'day') }}
{%- endmacro %}

{% macro spark__days_between(start_date, end_date) -%}
    cast(datediff({{ end_date }}, {{ start_date }}) as bigint)
{%- endmacro %}


{#- Second boundaries crossed from one timestamp to another; null when either is null. -#}
{% macro seconds_between(start_at, end_at) -%}
    {{ return(adapter.dispatch('seconds_between', 'cosell')(start_at, end_at)) }}
{%- endmacro %}

{% macro default__seconds_between(start_at, end_at) -%}
    {{ dbt.datediff(start_at, end_at, 'second') }}
{%- endmacro %}

{% macro spark__seconds_between(start_at, end_at) -%}
    (unix_timestamp({{ end_at }}) - unix_timestamp({{ start_at }}))
{%- endmacro %}


{#- An expression that fails the statement with the message when evaluated. -#}
{% macro raise_error(message) -%}
    {{ return(adapter.dispatch('raise_error', 'cosell')(message)) }}
{%- endmacro %}

{% macro duckdb__raise_error(message) -%}
    error('{{ message }}')
{%- endmacro %}

{% macro spark__raise_error(message) -%}
    raise_error('{{ message }}')
{%- endmacro %}


{#-
  As-of left join on a DATE: each left row takes the row of `rates` with the same key and the
  greatest date on or before its own (no such row: nulls), like DuckDB's ASOF LEFT JOIN.
  The left dates are `left_date`, whose greatest value over `bound_relation`.`bound_column`
  is the latest that needs a rate. On Spark, which has no as-of join, each rate is spread
  over the days it is in force (up to the next rate, the last one up to that bound) and joined
  on the day: an equi-join, whatever the number of rates. `rates` must be a relation or CTE
  name; the joined rows are named `rates` as well.
-#}
{% macro asof_left_join_on_date(rates, left_key, right_key, left_date, right_date, bound_relation, bound_column) -%}
    {{ return(adapter.dispatch('asof_left_join_on_date', 'cosell')(rates, left_key, right_key, left_date, right_date, bound_relation, bound_column)) }}
{%- endmacro %}

{% macro duckdb__asof_left_join_on_date(rates, left_key, right_key, left_date, right_date, bound_relation, bound_column) -%}
    asof left join {{ rates }}
        on {{ left_key }} = {{ rates }}.{{ right_key }}
        and {{ left_date }} >= {{ rates }}.{{ right_date }}
{%- endmacro %}

{% macro spark__asof_left_join_on_date(rates, left_key, right_key, left_date, right_date, bound_relation, bound_column) -%}
    left join (
        select
            _with_next.*,
            explode(sequence(
                _with_next.{{ right_date }},
                greatest(_with_next.{{ right_date }}, coalesce(date_sub(_with_next._next_date, 1), _bound._through))
            )) as _as_of_day
        from (
            select
                *,
                lead({{ right_date }}) over (partition by {{ right_key }} order by {{ right_date }}) as _next_date
            from {{ rates }}
        ) as _with_next
        cross join (select max({{ bound_column }}) as _through from {{ bound_relation }}) as _bound
    ) as {{ rates }}
        on {{ left_key }} = {{ rates }}.{{ right_key }}
        and {{ left_date }} = {{ rates }}._as_of_day
{%- endmacro %}


{#- One row per day from start_date up to the day before end_date (DATE literals 'YYYY-MM-DD'), as date_day. -#}
{% macro day_spine(start_date, end_date) -%}
    {{ return(adapter.dispatch('day_spine', 'cosell')(start_date, end_date)) }}
{%- endmacro %}

{% macro duckdb__day_spine(start_date, end_date) -%}
    select cast(range as date) as date_day
    from range(date '{{ start_date }}', date '{{ end_date }}', interval 1 day)
{%- endmacro %}

{% macro spark__day_spine(start_date, end_date) -%}
    select explode(sequence(date '{{ start_date }}', date_sub(date '{{ end_date }}', 1), interval 1 day)) as date_day
{%- endmacro %}
