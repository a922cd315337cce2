-- De-duplicated responses; those tied to a request of a deleted, DIRECT or never-landed
-- deal (or to a request never landed) are left out; responses with no request are kept.

with responses as (
    select * from {{ ref('stg_raw__satisfaction_responses') }}
),

requests as (
    select request_id, deal_id from {{ ref('int_requests_classified') }}
),

final as (
    select
        responses.response_id,
        responses.partner_id,
        responses.request_id,
        requests.deal_id,
        responses.survey_type,
        responses.score,
        responses.submitted_at,
        {{ quarter_of('responses.submitted_at') }} as quarter,
        responses.comment
    from responses
    left join requests
        on responses.request_id = requests.request_id
    where responses.request_id is null
        or requests.request_id is not null
)

select * from final
