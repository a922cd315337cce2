{{
    config(
        materialized=incremental_materialization(),
        unique_key='request_id',
        incremental_strategy='delete+insert',
    )
}}

with source as (
    select * from {{ source('raw', 'engagements') }}
    {{ new_loads_only(is_incremental()) }}
),

renamed as (
    select
        cast(request_id as {{ dbt.type_string() }}) as request_id,
        cast(deal_id as {{ dbt.type_string() }}) as deal_id,
        cast(partner_id as {{ dbt.type_string() }}) as partner_id,
        cast(resource_type as {{ dbt.type_string() }}) as resource_type,
        cast(status as {{ dbt.type_string() }}) as status,
        cast(requested_at as timestamp) as requested_at,
        cast(stage_at_request as {{ dbt.type_string() }}) as stage_at_request,
        cast(confirmed_at as timestamp) as confirmed_at,
        cast(completed_at as timestamp) as completed_at,
        cast(vendor_resource_id as {{ dbt.type_string() }}) as vendor_resource_id,
        cast(updated_at as timestamp) as updated_at,
        cast(_business_date as date) as _business_date,
        cast(_file_name as {{ dbt.type_string() }}) as _file_name,
        cast(_row_number as bigint) as _row_number,
        cast(_load_id as bigint) as _load_id
    from source
),

{{ resolve_latest(
    'renamed', 'request_id',
    spec_tie_break('engagements'),
    is_incremental()
) }}

select * from resolved
