{{ config(materialized='ephemeral') }}

-- Members of the matched-deal comparison (SPEC section 5), counted: one row per group of
-- TREATED or CONTROL deals that share a slice, a stratum and a cohort_group, with their
-- deal count, wins, cycle-day sum and count, and pipeline. Deals are counted once into
-- cells of every attribute the slices use, then the cells are listed under each slice, so
-- the cost grows with the number of cells, not with deals times slices. Ephemeral: it only
-- feeds int_uplift_strata, which sums the rows of a (slice, stratum).
-- OVERALL: every deal. PARTNER_TYPE / PARTNER_TIER / COMPLEXITY_BAND: treated and controls
-- sharing the value. RESOURCE_TYPE: treated deals with a supported request of that type
-- confirmed before close, against all controls. FIRST_SUPPORT_STAGE: treated deals by
-- first_support_stage, against all controls. Controls are listed only under slice values
-- that have at least one treated deal (a slice without treated deals has no row).

{%- set counted_deals -%}
count(*) as deals,
        count(case when is_won then 1 end) as wins,
        sum(cycle_days) as cycle_days_sum,
        count(cycle_days) as cycle_days_count,
        sum(amount_usd) as pipeline_usd
{%- endset %}
{%- set cell_columns = 'cohort_group, amount_band, complexity_band, competitive_situation, product_category, customer_segment, deals, wins, cycle_days_sum, cycle_days_count, pipeline_usd' %}

with cohort as (
    select
        deal_id,
        cohort_group,
        coalesce(partner_type, 'UNKNOWN') as partner_type,
        coalesce(partner_tier, 'UNKNOWN') as partner_tier,
        complexity_band,
        first_support_stage,
        amount_band,
        competitive_situation,
        product_category,
        customer_segment,
        is_won,
        cycle_days,
        amount_usd
    from {{ ref('int_deals_enriched') }}
    where cohort_group in ('TREATED', 'CONTROL')
),

cells as (
    select
        cohort_group,
        partner_type,
        partner_tier,
        complexity_band,
        first_support_stage,
        amount_band,
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
    select 'COMPLEXITY_BAND' as slice_type, complexity_band as slice_value, {{ cell_columns }} from cells
),

treated_by_support as (
    select * from treated_by_resource_type
    union all
    select 'FIRST_SUPPORT_STAGE' as slice_type, first_support_stage as slice_value, {{ cell_columns }}
    from cells
    where cohort_group = 'TREATED'
),

support_slice_values as (
    select distinct slice_type, slice_value from treated_by_support
),

controls_by_support as (
    select support_slice_values.slice_type, support_slice_values.slice_value, {{ cell_columns }}
    from support_slice_values
    cross join cells
    where cells.cohort_group = 'CONTROL'
),

final as (
    select * from by_attribute
    union all
    select * from treated_by_support
    union all
    select * from controls_by_support
)

select * from final
