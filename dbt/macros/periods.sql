{#- First day of the UTC month / quarter of an instant or date, as a DATE (SPEC section 3). -#}
{% macro month_of(expression) -%}
    cast({{ dbt.date_trunc('month', expression) }} as date)
{%- endmacro %}

{% macro quarter_of(expression) -%}
    cast({{ dbt.date_trunc('quarter', expression) }} as date)
{%- endmacro %}
