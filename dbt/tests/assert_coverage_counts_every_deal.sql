-- mart_cosell_coverage counts every deal of fct_cosell_deals exactly once.
with coverage as (
    select coalesce(sum(deals), 0) as deals from {{ ref('mart_cosell_coverage') }}
),

facts as (
    select count(*) as deals from {{ ref('fct_cosell_deals') }}
)

select coverage.deals as coverage_deals, facts.deals as fact_deals
from coverage
cross join facts
where coverage.deals <> facts.deals
