-- One rate per (rate_date, currency): the later business date, then file name, then row wins.

with source as (
    select * from {{ source('raw', 'fx_rates') }}
),

renamed as (
    select
        cast(rate_date as date) as rate_date,
        cast(currency as {{ dbt.type_string() }}) as currency,
        cast(usd_per_unit as decimal(24, 12)) as usd_per_unit,
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
            partition by rate_date, currency
            order by {{ spec_tie_break('fx_rates') }}
        ) as _version_rank
    from renamed
)

select {{ star_except(['_version_rank']) }}
from ranked
where _version_rank = 1
