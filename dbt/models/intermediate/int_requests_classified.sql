-- Co-sell requests (latest state) of live partner deals only, classified: supported =
-- status ACCEPTED or COMPLETED with confirmed_at set. Requests of deleted, DIRECT or
-- never-landed deals are dropped here, so no mart counts them.

with requests as (
    select * from {{ ref('stg_raw__engagements') }}
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
                then round({{ dbt.datediff('requests.requested_at', 'requests.confirmed_at', 'second') }} / 3600.0, 6)
        end as hours_to_confirm,
        partner_deals.deal_closed_at
    from requests
    inner join partner_deals
        on requests.deal_id = partner_deals.deal_id
),

final as (
    select
        *,
        coalesce(is_supported and confirmed_at < deal_closed_at, false) as is_supported_before_close
    from classified
)

select * from final
