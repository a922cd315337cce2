-- Latest state of each partner (SPEC section 1 tie-break). Partners are few: a view.

with source as (
    select * from {{ source('raw', 'partners') }}
),

renamed as (
    select
        cast(partner_id as varchar) as partner_id,
        cast(partner_name as varchar) as partner_name,
        cast(partner_type as varchar) as partner_type,
        cast(tier as varchar) as partner_tier,
        cast(region as varchar) as region,
        cast(country as varchar) as country,
        cast(certified_specialists as integer) as certified_specialists,
        cast(parent_partner_id as varchar) as parent_partner_id,
        cast(onboarded_on as date) as onboarded_on,
        cast(is_active as boolean) as is_active,
        cast(updated_at as timestamp) as updated_at,
        cast(_business_date as date) as _business_date,
        cast(_file_name as varchar) as _file_name,
        cast(_row_number as bigint) as _row_number,
        cast(_load_id as bigint) as _load_id
    from source
),

ranked as (
    select
        *,
        row_number() over (
            partition by partner_id
            order by updated_at desc, _business_date desc, _file_name desc, _row_number desc
        ) as _version_rank
    from renamed
)

select * exclude (_version_rank)
from ranked
where _version_rank = 1
