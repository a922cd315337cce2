-- Co-sell request volume (SPEC section 8.6) by (requested_month, partner_type, partner_tier,
-- complexity_band, resource_type): requests of live partner deals (fct_cosell_engagements),
-- partner_type and partner_tier the requesting partner's (the request's partner_id) current
-- ones, complexity_band the deal's current one.

with requests as (
    select * from {{ ref('fct_cosell_engagements') }}
),

partners as (
    select partner_id, partner_type, partner_tier from {{ ref('dim_partner') }}
),

deals as (
    select deal_id, complexity_band from {{ ref('fct_cosell_deals') }}
),

final as (
    select
        requests.requested_month,
        partners.partner_type,
        partners.partner_tier,
        deals.complexity_band,
        requests.resource_type,
        count(*) as requests,
        count(case when requests.is_supported then 1 end) as supported_requests,
        count(distinct requests.partner_id) as requesting_partners
    from requests
    inner join deals
        on requests.deal_id = deals.deal_id
    left join partners
        on requests.partner_id = partners.partner_id
    group by 1, 2, 3, 4, 5
)

select * from final
