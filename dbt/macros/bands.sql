{#- SPEC section 3 bands, used on the current and on the baseline attributes (section 8.1). -#}

{#- amount_band on a USD amount: A_LT_25K [0, 25k), ..., E_GE_1M [1M, ...); null stays null. -#}
{% macro amount_band(amount_usd) -%}
    case
        when {{ amount_usd }} is null then null
        when {{ amount_usd }} < 25000 then 'A_LT_25K'
        when {{ amount_usd }} < 100000 then 'B_25K_100K'
        when {{ amount_usd }} < 250000 then 'C_100K_250K'
        when {{ amount_usd }} < 1000000 then 'D_250K_1M'
        else 'E_GE_1M'
    end
{%- endmacro %}

{#- complexity_band: LOW (1-2), MEDIUM (3), HIGH (4-5). -#}
{% macro complexity_band(complexity) -%}
    case
        when {{ complexity }} <= 2 then 'LOW'
        when {{ complexity }} = 3 then 'MEDIUM'
        else 'HIGH'
    end
{%- endmacro %}
