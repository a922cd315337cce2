-- Matched-deal comparison per slice (SPEC sections 5 and 8): CEM weights w_s = n_T^s / N_T
-- over the slice's matched strata (ATT), the interval of section 8.3 and the deal size of
-- section 8.4. Money columns: the exact-in-DOUBLE value first rounded to 6 decimals (removes
-- floating noise before the cent decision), then half-even to cents.

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
        count(*) as matched_strata,
        -- pbar_G: the group's pooled win rate over the slice's matched strata (section 8.3).
        cast(sum(treated_wins) as double) / sum(treated_deals) as pooled_treated_win_rate,
        cast(sum(control_wins) as double) / sum(control_deals) as pooled_control_win_rate
    from strata
    group by 1, 2
),

weighted as (
    select
        strata.*,
        cast(strata.treated_deals as double) / slice_totals.matched_treated_deals as weight,
        -- v_G^s: p(1 - p) / (n - 1) for n >= 2 (unbiased), pbar (1 - pbar) for a one-deal group.
        case
            when strata.treated_deals >= 2 then strata.p_treated * (1 - strata.p_treated) / (strata.treated_deals - 1)
            else slice_totals.pooled_treated_win_rate * (1 - slice_totals.pooled_treated_win_rate)
        end as treated_variance,
        case
            when strata.control_deals >= 2 then strata.p_control * (1 - strata.p_control) / (strata.control_deals - 1)
            else slice_totals.pooled_control_win_rate * (1 - slice_totals.pooled_control_win_rate)
        end as control_variance
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
        sqrt(sum(weight * weight * (treated_variance + control_variance))) as uplift_standard_error,
        sum(weight * (treated_mean_cycle_days - control_mean_cycle_days)) as cycle_days_uplift,
        sum((p_treated - p_control) * cast(treated_pipeline_usd as double)) as incremental_revenue_usd,
        sum((p_treated - p_control) * cast(control_pipeline_usd as double)) as opportunity_revenue_usd
    from weighted
    group by 1, 2
),

won_matched as (
    -- Section 8.4: matched strata with at least one won TREATED and one won CONTROL deal;
    -- v_s = won TREATED in s / won TREATED in all of them, so sum v_s a_T^s is the plain mean
    -- amount_usd of the won TREATED deals of these strata.
    select
        slice_type,
        slice_value,
        sum(treated_wins) as won_matched_treated_deals,
        sum(control_wins) as won_matched_control_deals,
        cast(sum(treated_won_pipeline_usd) as double) / sum(treated_wins) as treated_avg_won_usd,
        sum(treated_wins * (cast(control_won_pipeline_usd as double) / control_wins)) / sum(treated_wins)
            as control_avg_won_usd
    from strata
    where treated_wins > 0 and control_wins > 0
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
        -- sums of counts are HUGEINT on DuckDB: the contract publishes counts as BIGINT
        cast(naive.treated_deals as bigint) as treated_deals,
        cast(naive.control_deals as bigint) as control_deals,
        cast(coalesce(slice_totals.matched_treated_deals, 0) as bigint) as matched_treated_deals,
        cast(coalesce(slice_totals.matched_control_deals, 0) as bigint) as matched_control_deals,
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
        {{ double_to_cents('matched.incremental_revenue_usd') }} as incremental_revenue_usd,
        {{ double_to_cents('matched.opportunity_revenue_usd') }} as opportunity_revenue_usd,
        cast(coalesce(won_matched.won_matched_treated_deals, 0) as bigint) as won_matched_treated_deals,
        cast(coalesce(won_matched.won_matched_control_deals, 0) as bigint) as won_matched_control_deals,
        {{ double_to_cents('won_matched.treated_avg_won_usd') }} as treated_avg_won_usd,
        {{ double_to_cents('won_matched.control_avg_won_usd') }} as control_avg_won_usd,
        {{ double_to_cents('won_matched.treated_avg_won_usd - won_matched.control_avg_won_usd') }} as deal_size_uplift_usd,
        as_of.as_of_date
    from naive
    cross join as_of
    left join slice_totals
        on naive.slice_type = slice_totals.slice_type
        and naive.slice_value = slice_totals.slice_value
    left join matched
        on naive.slice_type = matched.slice_type
        and naive.slice_value = matched.slice_value
    left join won_matched
        on naive.slice_type = won_matched.slice_type
        and naive.slice_value = won_matched.slice_value
    where naive.treated_deals > 0
)

select * from final
