{{
    config(
        materialized=incremental_materialization(),
        unique_key='request_id',
        incremental_strategy='delete+insert',
        pre_hook=[
            "{{ require_staging_current('stg_raw__engagements', 'engagements') }}",
            "{{ require_staging_current('stg_raw__deals', 'deals') }}",
        ],
        post_hook="{% if materialized_incrementally() %}
            delete from {{ this }}
            where deal_id not in (select deal_id from {{ ref('int_deals_converted') }} where motion <> 'DIRECT')
                or request_id in (
                    select latest.request_id
                    from {{ ref('stg_raw__engagements') }} as latest
                    inner join {{ this }} as kept
                        on latest.request_id = kept.request_id
                    where latest.deal_id is distinct from kept.deal_id
                )
        {% endif %}",
    )
}}

-- Co-sell requests (latest state) of live partner deals only, classified: supported =
-- status ACCEPTED or COMPLETED with confirmed_at set. Requests of deleted, DIRECT or
-- never-landed deals are dropped here, so no mart counts them.
-- Incremental: requests whose latest state landed since the last run, and every request of
-- a deal whose latest state landed since (its close, partner or motion may have changed,
-- or it landed after its requests). The post-hook removes requests whose deal left, and
-- requests that moved to a deal that is not a live partner deal (the batch drops them, so
-- delete+insert alone would keep them on their old deal).
-- depends_on: {{ ref('stg_raw__deals') }}

with requests as (
    select * from {{ ref('stg_raw__engagements') }}
    {% if is_incremental() %}
    where _load_id_watermark > {{ built_through() }}
        or deal_id in (
            select deal_id from {{ ref('stg_raw__deals') }}
            where _load_id_watermark > {{ built_through() }}
        )
    {% endif %}
),

partner_deals as (
    select deal_id, partner_id as deal_partner_id, closed_at as deal_closed_at
    from {{ ref('int_deals_converted') }}
    where motion <> 'DIRECT'
),

classified as (
    select
        requests.request_id,
        requests.deal_id,
        requests.partner_id,
        partner_deals.deal_partner_id,
        requests.resource_type,
        requests.status,
        requests.requested_at,
        {{ month_of('requests.requested_at') }} as requested_month,
        requests.stage_at_request,
        requests.confirmed_at,
        requests.completed_at,
        requests.vendor_resource_id,
        requests.updated_at,
        (requests.status in ('ACCEPTED', 'COMPLETED') and requests.confirmed_at is not null) as is_supported,
        case
            when requests.confirmed_at is not null
                then round({{ seconds_between('requests.requested_at', 'requests.confirmed_at') }} / cast(3600 as double), 6)
        end as hours_to_confirm,
        partner_deals.deal_closed_at
    from requests
    inner join partner_deals
        on requests.deal_id = partner_deals.deal_id
),

final as (
    select
        *,
        coalesce(is_supported and confirmed_at < deal_closed_at, false) as is_supported_before_close,
        {{ current_load_id() }} as _load_id_watermark
    from classified
)

select * from final
