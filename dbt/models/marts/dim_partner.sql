select
    partner_id,
    partner_name,
    partner_type,
    partner_tier,
    region,
    country,
    certified_specialists,
    parent_partner_id,
    onboarded_on,
    is_active,
    updated_at
from {{ ref('stg_raw__partners') }}
