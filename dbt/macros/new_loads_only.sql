{#- The incremental filter of a staging model reading raw: loads after the last one it read. -#}
{% macro new_loads_only(incremental) %}
    {%- if incremental %}
    where _load_id > (select coalesce(max(_load_id_watermark), -1) from {{ this }})
    {%- endif %}
{% endmacro %}
