-- Strata of the coarsened exact matching (SPEC section 5) within each slice: a stratum is
-- (amount_band, complexity_band, competitive_situation, product_category, customer_segment);
-- it is matched when it holds at least one TREATED and one CONTROL deal.

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
        count(case when cohort_group = 'TREATED' then 1 end) as treated_deals,
        count(case when cohort_group = 'CONTROL' then 1 end) as control_deals,
        count(case when cohort_group = 'TREATED' and is_won then 1 end) as treated_wins,
        count(case when cohort_group = 'CONTROL' and is_won then 1 end) as control_wins,
        avg(case when cohort_group = 'TREATED' then cycle_days end) as treated_mean_cycle_days,
        avg(case when cohort_group = 'CONTROL' then cycle_days end) as control_mean_cycle_days,
        coalesce(sum(case when cohort_group = 'TREATED' then amount_usd end), 0) as treated_pipeline_usd,
        coalesce(sum(case when cohort_group = 'CONTROL' then amount_usd end), 0) as control_pipeline_usd
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
