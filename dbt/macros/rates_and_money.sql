{#- Numbers persisted so a rerun, on either engine, gives the same bytes: rates rounded,
    means of rates in exact arithmetic, money from DOUBLE to half-even cents. -#}

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
