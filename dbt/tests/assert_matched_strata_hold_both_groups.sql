-- A stratum is matched exactly when it holds at least one TREATED and one CONTROL deal.
select *
from {{ ref('mart_matched_cohort_strata') }}
where is_matched <> (treated_deals > 0 and control_deals > 0)
