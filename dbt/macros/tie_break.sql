{#-
  The SPEC section 1 tie-break, defined once: the order that puts the row a key keeps first.
  Upsert feeds keep the latest version (updated_at, then business date, then file name, then
  row number, all descending; fx_rates has no updated_at); event feeds keep the earliest copy
  (business date, file name, row number, ascending). `reverse=true` gives the opposite order
  (e.g. a deal's first version). dbt's staging models order with it, and the quality gates
  (src/cosell/gates/queries.py) render this file with plain Jinja, so it uses nothing of dbt.
-#}
{% macro spec_tie_break(feed, reverse=false) -%}
{%- set lineage = ['_business_date', '_file_name', '_row_number'] -%}
{%- set rules = {
    'partners': (['updated_at'] + lineage, 'desc'),
    'deals': (['updated_at'] + lineage, 'desc'),
    'engagements': (['updated_at'] + lineage, 'desc'),
    'fx_rates': (lineage, 'desc'),
    'activities': (lineage, 'asc'),
    'satisfaction': (lineage, 'asc'),
} -%}
{%- set columns, direction = rules[feed] -%}
{%- if reverse -%}{%- set direction = 'asc' if direction == 'desc' else 'desc' -%}{%- endif -%}
{%- for column in columns -%}{{ column }} {{ direction }}{{ ', ' if not loop.last }}{%- endfor -%}
{%- endmacro %}
