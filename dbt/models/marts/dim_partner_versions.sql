-- Every landed version of every partner with the interval it is in force:
-- [valid_from, valid_to), valid_to the next version's updated_at (null: the current
-- version), valid_from its updated_at except for the partner's earliest version, whose
-- valid_from is null: it stands for the partner before any recorded change (SPEC section 1:
-- "the earliest version when none is" before the instant asked about).

with versions as (
    select * from {{ ref('stg_raw__partner_versions') }}
),

intervals as (
    select
        partner_id,
        partner_name,
        partner_type,
        partner_tier,
        certified_specialists,
        updated_at,
        case
            when lag(updated_at) over (partition by partner_id order by updated_at) is not null then updated_at
        end as valid_from,
        lead(updated_at) over (partition by partner_id order by updated_at) as valid_to
    from versions
)

select * from intervals
