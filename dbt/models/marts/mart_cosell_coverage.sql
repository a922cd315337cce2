with deals as (
    select * from {{ ref('fct_cosell_deals') }}
),

aggregated as (
    select
        registered_month,
        partner_type,
        partner_tier,
        customer_segment,
        complexity_band,
        count(*) as deals,
        count(case when is_cosell_eligible then 1 end) as eligible_deals,
        count(case when is_cosell_eligible and is_cosell_supported then 1 end) as supported_eligible_deals,
        count(case when not is_cosell_eligible and is_cosell_supported then 1 end) as supported_ineligible_deals,
        cast(coalesce(sum(case when is_cosell_eligible then amount_usd end), 0) as decimal(18, 2))
            as eligible_pipeline_usd,
        cast(coalesce(sum(case when is_cosell_eligible and is_cosell_supported then amount_usd end), 0) as decimal(18, 2))
            as supported_eligible_pipeline_usd
    from deals
    group by 1, 2, 3, 4, 5
),

final as (
    select
        *,
        case
            when eligible_deals > 0 then {{ round_rate('supported_eligible_deals / eligible_deals') }}
        end as coverage_rate
    from aggregated
)

select * from final
