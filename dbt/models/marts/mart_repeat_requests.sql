-- One row per partner with any request (of a live partner deal), by the request's partner_id.

with requests as (
    select * from {{ ref('fct_cosell_engagements') }}
),

partners as (
    select partner_id, partner_type from {{ ref('dim_partner') }}
),

as_of as (
    select as_of_date from {{ ref('warehouse_as_of') }}
),

per_partner as (
    select
        partner_id,
        count(*) as requests_total,
        count(case when is_supported then 1 end) as supported_requests,
        min(case when is_supported then confirmed_at end) as first_support_at
    from requests
    group by partner_id
),

next_request as (
    select
        per_partner.partner_id,
        min(requests.requested_at) as next_request_at
    from per_partner
    inner join requests
        on per_partner.partner_id = requests.partner_id
        and requests.requested_at > per_partner.first_support_at
    group by per_partner.partner_id
),

final as (
    select
        per_partner.partner_id,
        partners.partner_type,
        per_partner.requests_total,
        per_partner.supported_requests,
        per_partner.first_support_at,
        {{ month_of('per_partner.first_support_at') }} as first_support_month,
        next_request.next_request_at,
        {{ days_between('cast(per_partner.first_support_at as date)', 'cast(next_request.next_request_at as date)') }}
            as days_to_repeat,
        coalesce(
            next_request.next_request_at
                <= per_partner.first_support_at + interval {{ var('cosell_repeat_window_days') }} day,
            false
        ) as is_repeat_requester,
        coalesce(
            per_partner.first_support_at + interval {{ var('cosell_repeat_window_days') }} day
                < cast(as_of.as_of_date as timestamp) + interval 1 day,
            false
        ) as is_window_closed
    from per_partner
    cross join as_of
    left join next_request
        on per_partner.partner_id = next_request.partner_id
    left join partners
        on per_partner.partner_id = partners.partner_id
)

select * from final
