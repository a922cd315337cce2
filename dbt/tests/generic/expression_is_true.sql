{#- Rows of the model for which the expression is not true (null counts as a failure). -#}
{% test expression_is_true(model, expression, where_clause='true') %}
select *
from {{ model }}
where ({{ where_clause }})
    and not coalesce(({{ expression }}), false)
{% endtest %}
