-- SPEC section 3: every deal needs an fx row with rate_date <= its reference date (USD
-- needs none). Failing rows name the deal, its currency and the reference date.
select deal_id, currency, fx_reference_date, amount
from {{ ref('fct_cosell_deals') }}
where amount_usd is null
