-- Deal-registration trend by co-sell participation (SPEC section 8.8) by (registered_month,
-- partner_type, partner_tier, is_cosell_participant). A partner is a participant in a month
-- when it had a supported request (as the requesting partner, on a live partner deal)
-- confirmed before the month's first instant. Partner attributes are current.

with deals as (
    select * from {{ ref('fct_cosell_deals') }}
),

first_support as (
    select partner_id, min(confirmed_at) as first_confirmed_at
    from {{ ref('fct_cosell_engagements') }}
    where is_supported
    group by partner_id
),

final as (
    select
        deals.registered_month,
        deals.partner_type,
        deals.partner_tier,
        coalesce(first_support.first_confirmed_at < cast(deals.registered_month as timestamp), false)
            as is_cosell_participant,
        count(distinct deals.partner_id) as partners,
        count(*) as deals_registered,
        count(case when deals.is_cosell_eligible then 1 end) as eligible_deals_registered,
        cast(coalesce(sum(deals.amount_usd), 0) as decimal(18, 2)) as registered_pipeline_usd
    from deals
    left join first_support
        on deals.partner_id = first_support.partner_id
    group by 1, 2, 3, 4
)

select * from final
