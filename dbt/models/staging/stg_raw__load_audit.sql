-- One row per file landing has seen (LANDED, DUPLICATE or QUARANTINED).

with source as (
    select * from {{ source('raw', 'load_audit') }}
),

renamed as (
    select
        cast(load_id as bigint) as load_id,
        cast(feed as {{ dbt.type_string() }}) as feed,
        cast(business_date as date) as business_date,
        cast(file_name as {{ dbt.type_string() }}) as file_name,
        cast(file_path as {{ dbt.type_string() }}) as file_path,
        cast(file_sha256 as {{ dbt.type_string() }}) as file_sha256,
        cast(status as {{ dbt.type_string() }}) as status,
        cast(rows_landed as bigint) as rows_landed,
        cast(rows_rejected as bigint) as rows_rejected,
        cast(reason as {{ dbt.type_string() }}) as reason,
        cast(loaded_at as timestamp) as loaded_at
    from source
)

select * from renamed
