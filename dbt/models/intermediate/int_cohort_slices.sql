{{ config(materialized='ephemeral') }}

-- Membership of the matched-deal comparison (SPEC section 5): one row per
-- (slice_type, slice_value, deal) for TREATED and CONTROL deals. Ephemeral: it only feeds
-- the aggregation of int_uplift_strata (at 1M deals, materialising it cost most of a build).
-- OVERALL: every deal. PARTNER_TYPE / PARTNER_TIER / COMPLEXITY_BAND: treated and controls
-- sharing the value. RESOURCE_TYPE: treated deals with a supported request of that type
-- confirmed before close, against all controls. FIRST_SUPPORT_STAGE: treated deals by
-- first_support_stage, against all controls. Controls are listed only under slice values
-- that have at least one treated deal (a slice without treated deals has no row).

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

treated_resource_types as (
    select distinct requests.deal_id, requests.resource_type
    from {{ ref('int_requests_classified') }} as requests
    inner join cohort
        on requests.deal_id = cohort.deal_id
        and cohort.cohort_group = 'TREATED'
    where requests.is_supported_before_close
),

by_attribute as (
    select 'OVERALL' as slice_type, 'ALL' as slice_value, * from cohort
    union all
    select 'PARTNER_TYPE' as slice_type, partner_type as slice_value, * from cohort
    union all
    select 'PARTNER_TIER' as slice_type, partner_tier as slice_value, * from cohort
    union all
    select 'COMPLEXITY_BAND' as slice_type, complexity_band as slice_value, * from cohort
),

treated_by_support as (
    select 'RESOURCE_TYPE' as slice_type, treated_resource_types.resource_type as slice_value, cohort.*
    from cohort
    inner join treated_resource_types
        on cohort.deal_id = treated_resource_types.deal_id
    union all
    select 'FIRST_SUPPORT_STAGE' as slice_type, first_support_stage as slice_value, *
    from cohort
    where cohort_group = 'TREATED'
),

support_slice_values as (
    select distinct slice_type, slice_value from treated_by_support
),

controls_by_support as (
    select support_slice_values.slice_type, support_slice_values.slice_value, cohort.*
    from support_slice_values
    cross join cohort
    where cohort.cohort_group = 'CONTROL'
),

final as (
    select * from by_attribute
    union all
    select * from treated_by_support
    union all
    select * from controls_by_support
)

select * from final
