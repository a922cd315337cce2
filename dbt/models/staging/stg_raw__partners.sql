-- Latest state of each partner (SPEC section 1 tie-break): the version with the greatest
-- updated_at. stg_raw__partner_versions already keeps, for each (partner_id, updated_at), the
-- row of the later business date, file name and row, so this completes the same ordering.

with versions as (
    select * from {{ ref('stg_raw__partner_versions') }}
),

ranked as (
    select
        *,
        row_number() over (partition by partner_id order by {{ spec_tie_break('partners') }}) as _version_rank
    from versions
)

select {{ star_except(['_version_rank']) }}
from ranked
where _version_rank = 1
