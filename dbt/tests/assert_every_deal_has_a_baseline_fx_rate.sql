-- SPEC section 8.1: the baseline amount needs an fx row for the baseline currency with
-- rate_date <= the deal's registered date (USD needs none), as amount_usd does (section 3).
-- Failing rows name the deal, its baseline currency and the date.
select deal_id, baseline_currency, baseline_fx_reference_date, baseline_amount
from {{ ref('fct_cosell_deals') }}
where baseline_amount_usd is null
