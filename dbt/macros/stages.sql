{#-
  Rank of a stage in SPEC section 1's order: PROSPECT 1 .. CLOSED_WON 6; CLOSED_LOST (outside
  the order, never later than anything) 0. Stage reached (section 3) compares these ranks.
-#}
{% macro stage_rank(stage) -%}
    case {{ stage }}
        when 'PROSPECT' then 1
        when 'QUALIFIED' then 2
        when 'TECHNICAL_VALIDATION' then 3
        when 'BUSINESS_VALIDATION' then 4
        when 'COMMITTED' then 5
        when 'CLOSED_WON' then 6
        else 0
    end
{%- endmacro %}
