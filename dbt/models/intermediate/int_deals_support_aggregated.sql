-- Co-sell support per deal (SPEC section 3): requests, supported requests, the first
-- support (earliest confirmed_at, ties: smaller request_id) and the sorted distinct
-- resource types of its supported requests.

with requests as (
    select * from {{ ref('int_requests_classified') }}
),

first_support as (
    select
        deal_id,
        confirmed_at as first_support_at,
        stage_at_request as first_support_stage,
        request_id as first_support_request_id,
        row_number() over (partition by deal_id order by confirmed_at, request_id) as support_rank
    from requests
    where is_supported
),

counted as (
    select
        deal_id,
        count(*) as requests_total,
        count(case when is_supported then 1 end) as supported_requests,
        nullif(
            array_to_string(list_sort(list_distinct(list(case when is_supported then resource_type end))), '|'),
            ''
        ) as resource_types
    from requests
    group by deal_id
),

final as (
    select
        counted.*,
        first_support.first_support_at,
        first_support.first_support_stage,
        first_support.first_support_request_id
    from counted
    left join first_support
        on counted.deal_id = first_support.deal_id
        and first_support.support_rank = 1
)

select * from final
