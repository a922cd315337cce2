-- Daily time spine MetricFlow needs for the semantic models of the marts.
-- Days 2020-01-01 .. 2035-12-31 (dbt's cross-database date_spine excludes the end date).
select cast(date_day as date) as date_day
from (
    {{ dbt.date_spine('day', "cast('2020-01-01' as date)", "cast('2036-01-01' as date)") }}
) as spine
