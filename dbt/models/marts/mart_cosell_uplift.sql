-- Matched-deal comparison per slice (SPEC section 5): CEM weights w_s = n_T^s / N_T over
-- the slice's matched strata (ATT). Revenue columns: half-even to cents of the value
-- first rounded to 6 decimals (removes floating noise before the cent decision).

with all_strata as (
    select * from {{ ref('int_uplift_strata') }}
),

strata as (
    select
        *,
        cast(treated_wins as double) / treated_deals as p_treated,
        cast(control_wins as double) / control_deals as p_control
    from all_strata
    where is_matched
),

slice_totals as (
    select
        slice_type,
        slice_value,
        sum(treated_deals) as matched_treated_deals,
        sum(control_deals) as matched_control_deals,
        count(*) as matched_strata
    from strata
    group by 1, 2
),

weighted as (
    select
        strata.*,
        cast(strata.treated_deals as double) / slice_totals.matched_treated_deals as weight
    from strata
    inner join slice_totals
        on strata.slice_type = slice_totals.slice_type
        and strata.slice_value = slice_totals.slice_value
),

matched as (
    select
        slice_type,
        slice_value,
        sum(weight * p_treated) as treated_win_rate,
        sum(weight * p_control) as control_win_rate,
        sqrt(sum(
            weight * weight * (
                p_treated * (1 - p_treated) / treated_deals
                + p_control * (1 - p_control) / control_deals
            )
        )) as uplift_standard_error,
        sum(weight * (treated_mean_cycle_days - control_mean_cycle_days)) as cycle_days_uplift,
        sum((p_treated - p_control) * cast(treated_pipeline_usd as double)) as incremental_revenue_usd,
        sum((p_treated - p_control) * cast(control_pipeline_usd as double)) as opportunity_revenue_usd
    from weighted
    group by 1, 2
),

naive as (
    -- The strata partition each slice's treated and control deals, so their sums over all
    -- strata (matched or not) are the slice's plain counts.
    select
        slice_type,
        slice_value,
        sum(treated_deals) as treated_deals,
        sum(control_deals) as control_deals,
        sum(treated_wins) / nullif(sum(treated_deals), 0) as naive_treated_win_rate,
        sum(control_wins) / nullif(sum(control_deals), 0) as naive_control_win_rate
    from all_strata
    group by 1, 2
),

as_of as (
    select as_of_date from {{ ref('warehouse_as_of') }}
),

final as (
    select
        naive.slice_type,
        naive.slice_value,
        naive.treated_deals,
        naive.control_deals,
        coalesce(slice_totals.matched_treated_deals, 0) as matched_treated_deals,
        coalesce(slice_totals.matched_control_deals, 0) as matched_control_deals,
        coalesce(slice_totals.matched_strata, 0) as matched_strata,
        {{ round_rate('cast(coalesce(slice_totals.matched_treated_deals, 0) as double) / naive.treated_deals') }}
            as matched_treated_share,
        {{ round_rate('matched.treated_win_rate') }} as treated_win_rate,
        {{ round_rate('matched.control_win_rate') }} as control_win_rate,
        {{ round_rate('matched.treated_win_rate - matched.control_win_rate') }} as win_rate_uplift,
        {{ round_rate('matched.treated_win_rate - matched.control_win_rate - 1.96 * matched.uplift_standard_error') }}
            as uplift_ci_low,
        {{ round_rate('matched.treated_win_rate - matched.control_win_rate + 1.96 * matched.uplift_standard_error') }}
            as uplift_ci_high,
        {{ round_rate('naive.naive_treated_win_rate') }} as naive_treated_win_rate,
        {{ round_rate('naive.naive_control_win_rate') }} as naive_control_win_rate,
        {{ round_rate('naive.naive_treated_win_rate - naive.naive_control_win_rate') }} as naive_win_rate_uplift,
        {{ round_rate('matched.cycle_days_uplift') }} as cycle_days_uplift,
        cast(round_even(cast(round(matched.incremental_revenue_usd, 6) as decimal(38, 6)), 2) as decimal(18, 2))
            as incremental_revenue_usd,
        cast(round_even(cast(round(matched.opportunity_revenue_usd, 6) as decimal(38, 6)), 2) as decimal(18, 2))
            as opportunity_revenue_usd,
        as_of.as_of_date
    from naive
    cross join as_of
    left join slice_totals
        on naive.slice_type = slice_totals.slice_type
        and naive.slice_value = slice_totals.slice_value
    left join matched
        on naive.slice_type = matched.slice_type
        and naive.slice_value = matched.slice_value
    where naive.treated_deals > 0
)

select * from final
