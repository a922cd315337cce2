select
    partner_id,
    partner_name,
    partner_type,
    partner_tier,
    certified_specialists,
    updated_at
from {{ ref('stg_raw__partner_versions') }}
