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
    updated_at
from {{ ref('int_requests_classified') }}
