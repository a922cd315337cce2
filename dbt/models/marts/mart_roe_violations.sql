-- Rules-of-engagement violations (SPEC section 4), one row per (violation_type, subject).
-- Activity rules count activities of live partner deals only. DIRECT_PIPELINE_AFTER_COSELL:
-- a live DIRECT deal registered in (closed_at, closed_at + 365 days] of a live partner deal
-- of the same customer_id that closed won and was supported before close; when several
-- partner deals qualify, the one that closed last (ties: smaller deal_id) is reported in
-- cosell_deal_id and gives partner_id.

with activities as (
    select
        activities.activity_id,
        activities.deal_id,
        deals.partner_id,
        activities.occurred_at,
        activities.vendor_role,
        activities.partner_briefed,
        activities.partner_present,
        activities.in_engagement_plan,
        activities.commercial_discussion
    from {{ ref('stg_raw__activities') }} as activities
    inner join {{ ref('int_deals_enriched') }} as deals
        on activities.deal_id = deals.deal_id
),

activity_violations as (
    select 'UNBRIEFED_CUSTOMER_CONTACT' as violation_type, activity_id, deal_id, partner_id, occurred_at
    from activities
    where not partner_briefed
    union all
    select 'TECHNICAL_ROLE_NEGOTIATION' as violation_type, activity_id, deal_id, partner_id, occurred_at
    from activities
    where vendor_role = 'TECHNICAL' and commercial_discussion
    union all
    select 'OFF_PLAN_CONTACT' as violation_type, activity_id, deal_id, partner_id, occurred_at
    from activities
    where not in_engagement_plan and not partner_present
),

direct_deals as (
    select deal_id, customer_id, registered_at
    from {{ ref('int_deals_converted') }}
    where motion = 'DIRECT'
),

cosell_wins as (
    select deal_id, partner_id, customer_id, closed_at
    from {{ ref('int_deals_enriched') }}
    where is_won
        and is_supported_before_close
),

direct_candidates as (
    select
        direct_deals.deal_id,
        cosell_wins.partner_id,
        direct_deals.registered_at as occurred_at,
        cosell_wins.deal_id as cosell_deal_id,
        row_number() over (
            partition by direct_deals.deal_id
            order by cosell_wins.closed_at desc, cosell_wins.deal_id
        ) as candidate_rank
    from direct_deals
    inner join cosell_wins
        on direct_deals.customer_id = cosell_wins.customer_id
        and direct_deals.registered_at > cosell_wins.closed_at
        and direct_deals.registered_at
            <= cosell_wins.closed_at + interval {{ var('cosell_direct_pipeline_window_days') }} day
),

final as (
    select
        violation_type,
        activity_id,
        deal_id,
        partner_id,
        occurred_at,
        cast(null as {{ dbt.type_string() }}) as cosell_deal_id,
        violation_type || ':' || activity_id as violation_id
    from activity_violations
    union all
    select
        'DIRECT_PIPELINE_AFTER_COSELL' as violation_type,
        cast(null as {{ dbt.type_string() }}) as activity_id,
        deal_id,
        partner_id,
        occurred_at,
        cosell_deal_id,
        'DIRECT_PIPELINE_AFTER_COSELL:' || deal_id as violation_id
    from direct_candidates
    where candidate_rank = 1
)

select * from final
