-- Daily time spine MetricFlow needs for the semantic models of the marts.
select cast(range as date) as date_day
from range(date '2020-01-01', date '2036-01-01', interval 1 day)
