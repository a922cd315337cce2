{{
    config(
        materialized=incremental_materialization(),
        unique_key='deal_id',
        incremental_strategy='delete+insert',
        post_hook="{% if materialized_incrementally() %}delete from {{ this }} where deal_id not in (select deal_id from {{ ref('int_requests_classified') }}){% endif %}",
    )
}}

-- Co-sell support per deal (SPEC section 3): requests, supported requests, the first
-- support (earliest confirmed_at, ties: smaller request_id), the sorted distinct
-- resource types of its supported requests, and whether it was supported before close (one
-- of its requests is: int_requests_classified holds the rule, which is first_support_at <
-- closed_at at the deal's grain).
-- Incremental: deals with a request recomputed since the last run, and deals whose request
-- count no longer matches (a request moved to another deal). The post-hook removes deals
-- left without requests.

with
{% if is_incremental() %}
changed as (
    select deal_id from {{ ref('int_requests_classified') }}
    where _load_id_watermark > {{ built_through() }}
    union
    select existing.deal_id
    from {{ this }} as existing
    left join (
        select deal_id, count(*) as requests_total
        from {{ ref('int_requests_classified') }}
        group by deal_id
    ) as current_counts
        on existing.deal_id = current_counts.deal_id
    where existing.requests_total is distinct from current_counts.requests_total
),
{% endif %}

requests as (
    select * from {{ ref('int_requests_classified') }}
    {% if is_incremental() %}
    where deal_id in (select deal_id from changed)
    {% endif %}
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
            {{ sorted_distinct_text('case when is_supported then resource_type end', '|') }},
            ''
        ) as resource_types,
        {{ dbt.bool_or('is_supported_before_close') }} as is_supported_before_close
    from requests
    group by deal_id
),

final as (
    select
        counted.*,
        first_support.first_support_at,
        first_support.first_support_stage,
        first_support.first_support_request_id,
        {{ current_load_id() }} as _load_id_watermark
    from counted
    left join first_support
        on counted.deal_id = first_support.deal_id
        and first_support.support_rank = 1
)

select * from final
