-- Matched treated deals never exceed the slice's treated deals; matched columns are null
-- exactly when no stratum of the slice is matched.
select *
from {{ ref('mart_cosell_uplift') }}
where matched_treated_deals > treated_deals
    or (matched_strata = 0) <> (win_rate_uplift is null)
