{{ config(materialized='ephemeral') }}

-- Members of the matched-deal comparison (SPEC sections 5 and 8), counted: one row per group
-- of TREATED or CONTROL deals that share a slice, a stratum and a cohort_group, with their
-- deal count, wins, cycle-day sum and count, pipeline and won pipeline. Deals are counted
-- once into cells of every attribute the slices use, then the cells are listed under each
-- slice, so the cost grows with the number of cells, not with deals times slices. Ephemeral:
-- it only feeds int_uplift_strata, which sums the rows of a (slice, stratum).
-- Strata are on the baseline attributes (section 8.1): the columns keep the names
-- amount_band, complexity_band, ... and hold baseline_amount_band, baseline_complexity_band, ...
-- OVERALL: every deal. PARTNER_TYPE / PARTNER_TIER / MOTION: treated and controls sharing the
-- current value; COMPLEXITY_BAND: sharing baseline_complexity_band. RESOURCE_TYPE: treated
-- deals with a supported request of that type confirmed before close, against all controls.
-- FIRST_SUPPORT_STAGE S: treated deals by first_support_stage, against the controls that
-- reached S (section 8.2; SPEC section 3 "stage reached"; CLOSED_LOST: the deal has a
-- CLOSED_LOST version). Controls are listed only under slice values that have at least one
-- treated deal (a slice without treated deals has no row).

{%- set counted_deals -%}
count(*) as deals,
        count(case when is_won then 1 end) as wins,
        sum(cycle_days) as cycle_days_sum,
        count(cycle_days) as cycle_days_count,
        sum(amount_usd) as pipeline_usd,
        sum(case when is_won then amount_usd end) as won_pipeline_usd
{%- endset %}
{%- set cell_columns = 'cohort_group, amount_band, complexity_band, competitive_situation, product_category, customer_segment, deals, wins, cycle_days_sum, cycle_days_count, pipeline_usd, won_pipeline_usd' %}

with cohort as (
    select
        deals.deal_id,
        deals.cohort_group,
        coalesce(deals.partner_type, 'UNKNOWN') as partner_type,
        coalesce(deals.partner_tier, 'UNKNOWN') as partner_tier,
        deals.baseline_complexity_band as slice_complexity_band,
        deals.motion,
        deals.first_support_stage,
        -- How far a CONTROL deal got (for the stage-aligned controls): the rank of the latest
        -- stage of the order it reached (0: none), and whether it reached CLOSED_LOST.
        case when deals.cohort_group = 'CONTROL' then stages.highest_stage_rank end as reached_rank,
        case when deals.cohort_group = 'CONTROL' then stages.closed_lost_at is not null end as reached_closed_lost,
        deals.baseline_amount_band as amount_band,
        deals.baseline_complexity_band as complexity_band,
        deals.baseline_competitive_situation as competitive_situation,
        deals.baseline_product_category as product_category,
        deals.baseline_customer_segment as customer_segment,
        deals.is_won,
        deals.cycle_days,
        deals.amount_usd
    from {{ ref('int_deals_enriched') }} as deals
    left join {{ ref('int_deals_stage_reached') }} as stages
        on deals.deal_id = stages.deal_id
    where deals.cohort_group in ('TREATED', 'CONTROL')
),

cells as (
    select
        cohort_group,
        partner_type,
        partner_tier,
        slice_complexity_band,
        motion,
        first_support_stage,
        reached_rank,
        reached_closed_lost,
        amount_band,
        complexity_band,
        competitive_situation,
        product_category,
        customer_segment,
        {{ counted_deals }}
    from cohort
    group by all
),

treated_resource_types as (
    select distinct requests.deal_id, requests.resource_type
    from {{ ref('int_requests_classified') }} as requests
    inner join cohort
        on requests.deal_id = cohort.deal_id
        and cohort.cohort_group = 'TREATED'
    where requests.is_supported_before_close
),

treated_by_resource_type as (
    select
        'RESOURCE_TYPE' as slice_type,
        resource_type as slice_value,
        cohort_group,
        amount_band,
        complexity_band,
        competitive_situation,
        product_category,
        customer_segment,
        {{ counted_deals }}
    from cohort
    inner join treated_resource_types using (deal_id)
    group by all
),

by_attribute as (
    select 'OVERALL' as slice_type, 'ALL' as slice_value, {{ cell_columns }} from cells
    union all
    select 'PARTNER_TYPE' as slice_type, partner_type as slice_value, {{ cell_columns }} from cells
    union all
    select 'PARTNER_TIER' as slice_type, partner_tier as slice_value, {{ cell_columns }} from cells
    union all
    select 'COMPLEXITY_BAND' as slice_type, slice_complexity_band as slice_value, {{ cell_columns }} from cells
    union all
    select 'MOTION' as slice_type, motion as slice_value, {{ cell_columns }} from cells
),

treated_by_support as (
    select * from treated_by_resource_type
    union all
    select 'FIRST_SUPPORT_STAGE' as slice_type, first_support_stage as slice_value, {{ cell_columns }}
    from cells
    where cohort_group = 'TREATED'
),

support_slice_values as (
    select distinct
        slice_type,
        slice_value,
        {{ stage_rank('slice_value') }} as stage_rank
    from treated_by_support
),

controls_by_support as (
    select support_slice_values.slice_type, support_slice_values.slice_value, {{ cell_columns }}
    from support_slice_values
    inner join cells
        on cells.cohort_group = 'CONTROL'
        and (
            support_slice_values.slice_type = 'RESOURCE_TYPE'
            or (support_slice_values.slice_value = 'CLOSED_LOST' and cells.reached_closed_lost)
            or (support_slice_values.slice_value <> 'CLOSED_LOST' and cells.reached_rank >= support_slice_values.stage_rank)
        )
),

final as (
    select * from by_attribute
    union all
    select * from treated_by_support
    union all
    select * from controls_by_support
)

select * from final
