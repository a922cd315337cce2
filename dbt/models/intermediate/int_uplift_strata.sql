-- Strata of the coarsened exact matching (SPEC sections 5 and 8.1) within each slice: a
-- stratum is (amount_band, complexity_band, competitive_situation, product_category,
-- customer_segment) of the deal's baseline version; it is matched when it holds at least one
-- TREATED and one CONTROL deal. The won pipeline per group feeds the deal size columns (8.4).

with members as (
    select * from {{ ref('int_cohort_slices') }}
),

strata as (
    select
        slice_type,
        slice_value,
        amount_band,
        complexity_band,
        competitive_situation,
        product_category,
        customer_segment,
        cast(coalesce(sum(case when cohort_group = 'TREATED' then deals end), 0) as bigint) as treated_deals,
        cast(coalesce(sum(case when cohort_group = 'CONTROL' then deals end), 0) as bigint) as control_deals,
        cast(coalesce(sum(case when cohort_group = 'TREATED' then wins end), 0) as bigint) as treated_wins,
        cast(coalesce(sum(case when cohort_group = 'CONTROL' then wins end), 0) as bigint) as control_wins,
        sum(case when cohort_group = 'TREATED' then cycle_days_sum end)
            / nullif(sum(case when cohort_group = 'TREATED' then cycle_days_count end), 0) as treated_mean_cycle_days,
        sum(case when cohort_group = 'CONTROL' then cycle_days_sum end)
            / nullif(sum(case when cohort_group = 'CONTROL' then cycle_days_count end), 0) as control_mean_cycle_days,
        coalesce(sum(case when cohort_group = 'TREATED' then pipeline_usd end), 0) as treated_pipeline_usd,
        coalesce(sum(case when cohort_group = 'CONTROL' then pipeline_usd end), 0) as control_pipeline_usd,
        coalesce(sum(case when cohort_group = 'TREATED' then won_pipeline_usd end), 0) as treated_won_pipeline_usd,
        coalesce(sum(case when cohort_group = 'CONTROL' then won_pipeline_usd end), 0) as control_won_pipeline_usd
    from members
    group by 1, 2, 3, 4, 5, 6, 7
),

final as (
    select
        *,
        treated_deals > 0 and control_deals > 0 as is_matched
    from strata
)

select * from final
