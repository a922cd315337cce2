{{
    config(
        materialized=incremental_materialization(),
        unique_key='request_id',
        incremental_strategy='delete+insert',
        post_hook="{% if materialized_incrementally() %}delete from {{ this }} where request_id not in (select request_id from {{ ref('int_requests_classified') }}){% endif %}",
    )
}}

-- The request fact for BI and payouts: int_requests_classified without its working columns.
-- Incremental: the requests int_requests_classified recomputed since the last run; the
-- post-hook removes requests that left it.

select
    request_id,
    deal_id,
    partner_id,
    resource_type,
    status,
    requested_at,
    requested_month,
    stage_at_request,
    confirmed_at,
    completed_at,
    vendor_resource_id,
    is_supported,
    is_supported_before_close,
    hours_to_confirm,
    updated_at,
    _load_id_watermark
from {{ ref('int_requests_classified') }}
{% if is_incremental() %}
where _load_id_watermark > {{ built_through() }}
{% endif %}
