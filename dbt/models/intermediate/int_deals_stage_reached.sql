{{
    config(
        materialized=incremental_materialization(),
        unique_key='deal_id',
        incremental_strategy='delete+insert',
        pre_hook="{{ require_staging_current('stg_raw__deal_versions', 'deals', '_load_id') }}",
    )
}}

-- When each deal first reached each stage of the order (SPEC section 3): the earliest
-- updated_at of its landed versions whose stage is that stage or later. CLOSED_LOST is
-- outside the order and never counts as later; closed_lost_at is when it was first lost;
-- highest_stage_rank is the rank of the latest stage of the order it reached (0: none).
-- Incremental: deals with a version landed since the last run are recomputed over all
-- their versions (versions are never removed, so no row ever has to go).

with versions as (
    select
        deal_id,
        stage,
        updated_at,
        {{ stage_rank('stage') }} as stage_rank
    from {{ ref('stg_raw__deal_versions') }}
    {% if is_incremental() %}
    where deal_id in (
        select deal_id from {{ ref('stg_raw__deal_versions') }}
        where _load_id > {{ built_through() }}
    )
    {% endif %}
),

reached as (
    select
        deal_id,
        min(case when stage_rank >= 1 then updated_at end) as prospect_at,
        min(case when stage_rank >= 2 then updated_at end) as qualified_at,
        min(case when stage_rank >= 3 then updated_at end) as technical_validation_at,
        min(case when stage_rank >= 4 then updated_at end) as business_validation_at,
        min(case when stage_rank >= 5 then updated_at end) as committed_at,
        min(case when stage_rank >= 6 then updated_at end) as closed_won_at,
        min(case when stage = 'CLOSED_LOST' then updated_at end) as closed_lost_at,
        max(stage_rank) as highest_stage_rank
    from versions
    group by deal_id
)

select
    *,
    {{ current_load_id() }} as _load_id_watermark
from reached
