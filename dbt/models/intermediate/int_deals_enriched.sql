{{
    config(
        materialized=incremental_materialization(),
        unique_key='deal_id',
        incremental_strategy='delete+insert',
        post_hook="{% if materialized_incrementally() %}delete from {{ this }} where deal_id not in (select deal_id from {{ ref('int_deals_converted') }} where motion <> 'DIRECT'){% endif %}",
    )
}}

-- Live partner deals (motion <> DIRECT) with partner attributes (current state), the
-- derived fields of SPEC section 3, the baseline attributes (section 8.1), co-sell support,
-- eligibility and cohort_group (section 5).
-- Incremental: deals recomputed since the last run in int_deals_converted or
-- int_deals_stage_reached, deals of partners with a version landed since, and deals whose
-- support no longer matches int_deals_support_aggregated (compared, not tracked, so a
-- request moving to another deal or losing its deal updates both deals). The post-hook
-- removes deals that left int_deals_converted or became DIRECT.
-- depends_on: {{ ref('stg_raw__partner_versions') }}

with
{% if is_incremental() %}
changed as (
    select deal_id from {{ ref('int_deals_converted') }}
    where _load_id_watermark > {{ built_through() }}
    union
    select deal_id from {{ ref('int_deals_stage_reached') }}
    where _load_id_watermark > {{ built_through() }}
    union
    select existing.deal_id
    from {{ this }} as existing
    where existing.partner_id in (
        select partner_id from {{ ref('stg_raw__partner_versions') }}
        where _load_id > {{ built_through() }}
    )
    union
    select existing.deal_id
    from {{ this }} as existing
    left join {{ ref('int_deals_support_aggregated') }} as support
        on existing.deal_id = support.deal_id
    where existing.requests_total is distinct from coalesce(support.requests_total, 0)
        or existing.supported_requests is distinct from coalesce(support.supported_requests, 0)
        or existing.first_support_at is distinct from support.first_support_at
        or existing.first_support_stage is distinct from support.first_support_stage
        or existing.resource_types is distinct from support.resource_types
        or existing.is_supported_before_close is distinct from coalesce(support.is_supported_before_close, false)
),
{% endif %}

deals as (
    select * from {{ ref('int_deals_converted') }}
    where motion <> 'DIRECT'
    {% if is_incremental() %}
        and deal_id in (select deal_id from changed)
    {% endif %}
),

partners as (
    select * from {{ ref('stg_raw__partners') }}
),

support as (
    select * from {{ ref('int_deals_support_aggregated') }}
),

stages as (
    select * from {{ ref('int_deals_stage_reached') }}
),

joined as (
    select
        deals.deal_id,
        deals.partner_id,
        partners.partner_name,
        partners.partner_type,
        partners.partner_tier,
        partners.certified_specialists as partner_certified_specialists,
        deals.customer_id,
        deals.customer_name,
        deals.customer_segment,
        deals.industry,
        deals.country,
        deals.product_category,
        deals.motion,
        deals.marketplace,
        deals.sourced_by,
        deals.is_new_logo,
        deals.competitive_situation,
        deals.complexity,
        {{ complexity_band('deals.complexity') }} as complexity_band,
        deals.stakeholder_level,
        deals.stage,
        deals.stage in ('CLOSED_WON', 'CLOSED_LOST') as is_closed,
        deals.stage = 'CLOSED_WON' as is_won,
        deals.amount,
        deals.currency,
        deals.fx_reference_date,
        deals.fx_rate_date,
        deals.usd_per_unit,
        deals.amount_usd,
        {{ amount_band('deals.amount_usd') }} as amount_band,
        deals.baseline_amount,
        deals.baseline_currency,
        deals.baseline_fx_reference_date,
        deals.baseline_usd_per_unit,
        deals.baseline_amount_usd,
        {{ amount_band('deals.baseline_amount_usd') }} as baseline_amount_band,
        deals.baseline_complexity,
        {{ complexity_band('deals.baseline_complexity') }} as baseline_complexity_band,
        deals.baseline_competitive_situation,
        deals.baseline_product_category,
        deals.baseline_customer_segment,
        deals.registered_at,
        {{ month_of('deals.registered_at') }} as registered_month,
        deals.expected_close_on,
        deals.closed_at,
        case
            when deals.stage in ('CLOSED_WON', 'CLOSED_LOST')
                then {{ days_between('cast(deals.registered_at as date)', 'cast(deals.closed_at as date)') }}
        end as cycle_days,
        coalesce(support.requests_total, 0) as requests_total,
        coalesce(support.supported_requests, 0) as supported_requests,
        coalesce(support.requests_total, 0) > 0 as is_cosell_requested,
        coalesce(support.supported_requests, 0) > 0 as is_cosell_supported,
        coalesce(support.is_supported_before_close, false) as is_supported_before_close,
        support.first_support_at,
        {{ month_of('support.first_support_at') }} as first_support_month,
        support.first_support_stage,
        support.resource_types,
        stages.technical_validation_at,
        deals.updated_at
    from deals
    left join partners
        on deals.partner_id = partners.partner_id
    left join support
        on deals.deal_id = support.deal_id
    left join stages
        on deals.deal_id = stages.deal_id
),

qualified as (
    select
        *,
        -- The complexity bar C: higher for a VAR with many certified specialists (it can
        -- carry complex deals alone).
        case
            when partner_type = 'VAR'
                and partner_certified_specialists >= {{ var('cosell_eligible_var_min_certified_specialists') }}
                then {{ var('cosell_eligible_var_min_complexity') }}
            else {{ var('cosell_eligible_min_complexity') }}
        end as eligibility_min_complexity
    from joined
),

final as (
    select
        *,
        coalesce(
            amount_usd >= {{ var('cosell_eligible_min_amount_usd') }}
            and (
                complexity >= eligibility_min_complexity
                or competitive_situation in ('COMPETITIVE_EVAL', 'INCUMBENT_DISPLACEMENT')
                or stakeholder_level = 'C_LEVEL'
            ),
            false
        ) as is_cosell_eligible,
        case
            when not is_closed then null
            when is_supported_before_close then 'TREATED'
            when requests_total = 0 then 'CONTROL'
            else 'EXCLUDED'
        end as cohort_group,
        {{ current_load_id() }} as _load_id_watermark
    from qualified
)

select * from final
