{#- Schemas are named exactly as configured (`marts`, `staging`, `intermediate`), never
    prefixed with the target schema: BI tools and the payout stage read `marts.<model>`. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
