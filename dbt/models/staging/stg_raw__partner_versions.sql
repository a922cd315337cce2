-- Every landed version of every partner, one row per (partner_id, updated_at); when a
-- version repeats, the later business date, then file name, then row wins (SPEC section 1).

with source as (
    select * from {{ source('raw', 'partners') }}
),

renamed as (
    select
        cast(partner_id as {{ dbt.type_string() }}) as partner_id,
        cast(partner_name as {{ dbt.type_string() }}) as partner_name,
        cast(partner_type as {{ dbt.type_string() }}) as partner_type,
        cast(tier as {{ dbt.type_string() }}) as partner_tier,
        cast(region as {{ dbt.type_string() }}) as region,
        cast(country as {{ dbt.type_string() }}) as country,
        cast(certified_specialists as integer) as certified_specialists,
        cast(parent_partner_id as {{ dbt.type_string() }}) as parent_partner_id,
        cast(onboarded_on as date) as onboarded_on,
        cast(is_active as boolean) as is_active,
        cast(updated_at as timestamp) as updated_at,
        cast(_business_date as date) as _business_date,
        cast(_file_name as {{ dbt.type_string() }}) as _file_name,
        cast(_row_number as bigint) as _row_number,
        cast(_load_id as bigint) as _load_id
    from source
),

ranked as (
    select
        *,
        row_number() over (
            partition by partner_id, updated_at
            order by {{ spec_tie_break('partners') }}
        ) as _version_rank
    from renamed
)

select {{ star_except(['_version_rank']) }}
from ranked
where _version_rank = 1
