{{
    config(
        materialized=incremental_materialization(),
        unique_key='deal_id',
        incremental_strategy='delete+insert',
        post_hook="{% if materialized_incrementally() %}delete from {{ this }} where deal_id not in (select deal_id from {{ ref('int_deals_enriched') }}){% endif %}",
    )
}}

-- The deal fact for BI and payouts: int_deals_enriched without its working columns.
-- Incremental: the deals int_deals_enriched recomputed since the last run; the post-hook
-- removes deals that left it (deleted, or now DIRECT).

select
    deal_id,
    partner_id,
    partner_name,
    partner_type,
    partner_tier,
    customer_id,
    customer_name,
    customer_segment,
    industry,
    country,
    product_category,
    motion,
    marketplace,
    sourced_by,
    is_new_logo,
    competitive_situation,
    complexity,
    complexity_band,
    stakeholder_level,
    stage,
    is_closed,
    is_won,
    amount,
    currency,
    fx_reference_date,
    fx_rate_date,
    usd_per_unit,
    amount_usd,
    amount_band,
    baseline_amount,
    baseline_currency,
    baseline_fx_reference_date,
    baseline_usd_per_unit,
    baseline_amount_usd,
    baseline_amount_band,
    baseline_complexity,
    baseline_complexity_band,
    baseline_competitive_situation,
    baseline_product_category,
    baseline_customer_segment,
    registered_at,
    registered_month,
    expected_close_on,
    closed_at,
    cycle_days,
    is_cosell_eligible,
    is_cosell_requested,
    is_cosell_supported,
    is_supported_before_close,
    requests_total,
    supported_requests,
    first_support_at,
    first_support_month,
    first_support_stage,
    resource_types,
    cohort_group,
    technical_validation_at,
    updated_at,
    _load_id_watermark
from {{ ref('int_deals_enriched') }}
{% if is_incremental() %}
where _load_id_watermark > {{ built_through() }}
{% endif %}
