-- Daily time spine MetricFlow needs for the semantic models of the marts: 2020-01-01 .. 2035-12-31.
{{ day_spine('2020-01-01', '2036-01-01') }}
