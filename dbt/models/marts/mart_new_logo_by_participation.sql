-- New-logo acquisition by co-sell participation (SPEC section 8.7). For each UTC quarter q
-- and each partner with a deal registered in q: participation_rate = its deals registered in q
-- that are co-sell supported / its deals registered in q; ABOVE_AVERAGE when the rate is
-- strictly greater than the mean rate of those partners in q (both rounded to
-- cosell_rate_decimals first, so equal rates are never split by floating noise; the mean is
-- taken in DECIMAL, so it does not depend on the order an engine adds the rates in), else
-- BELOW_AVERAGE. new_logo_deals_won counts the partner's won new-logo deals with closed_at in
-- q, wherever they were registered. partner_type is the partner's current type.

with deals as (
    select * from {{ ref('fct_cosell_deals') }}
),

registered as (
    select
        {{ quarter_of('registered_at') }} as quarter,
        partner_id,
        partner_type,
        count(*) as deals_registered,
        count(case when is_cosell_supported then 1 end) as supported_deals
    from deals
    group by 1, 2, 3
),

rated as (
    select
        *,
        {{ round_rate('supported_deals / deals_registered') }} as participation_rate
    from registered
),

leveled as (
    select
        *,
        case
            when participation_rate > {{ round_rate(exact_mean_of_rates('participation_rate', over='partition by quarter')) }}
                then 'ABOVE_AVERAGE'
            else 'BELOW_AVERAGE'
        end as participation_level
    from rated
),

new_logo_wins as (
    select
        {{ quarter_of('closed_at') }} as quarter,
        partner_id,
        count(*) as new_logo_deals_won
    from deals
    where is_won and is_new_logo
    group by 1, 2
),

final as (
    select
        leveled.quarter,
        leveled.partner_type,
        leveled.participation_level,
        count(*) as partners,
        cast(sum(leveled.deals_registered) as bigint) as deals_registered,
        cast(sum(leveled.supported_deals) as bigint) as supported_deals,
        {{ round_rate(exact_mean_of_rates('leveled.participation_rate')) }} as avg_participation_rate,
        cast(coalesce(sum(new_logo_wins.new_logo_deals_won), 0) as bigint) as new_logo_deals_won,
        {{ round_rate('coalesce(sum(new_logo_wins.new_logo_deals_won), 0) / count(*)') }} as new_logo_wins_per_partner
    from leveled
    left join new_logo_wins
        on leveled.quarter = new_logo_wins.quarter
        and leveled.partner_id = new_logo_wins.partner_id
    group by 1, 2, 3
)

select * from final
