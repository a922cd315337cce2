-- Strata over all closed partner deals (the OVERALL slice of int_uplift_strata).

select
    amount_band,
    complexity_band,
    competitive_situation,
    product_category,
    customer_segment,
    treated_deals,
    control_deals,
    treated_wins,
    control_wins,
    case when treated_deals > 0 then {{ round_rate('treated_wins / treated_deals') }} end as treated_win_rate,
    case when control_deals > 0 then {{ round_rate('control_wins / control_deals') }} end as control_win_rate,
    cast(treated_pipeline_usd as decimal(18, 2)) as treated_pipeline_usd,
    cast(control_pipeline_usd as decimal(18, 2)) as control_pipeline_usd,
    case when treated_deals > 0 then {{ round_rate('treated_mean_cycle_days') }} end as treated_mean_cycle_days,
    case when control_deals > 0 then {{ round_rate('control_mean_cycle_days') }} end as control_mean_cycle_days,
    is_matched
from {{ ref('int_uplift_strata') }}
where slice_type = 'OVERALL'
