{{
    config(
        materialized=incremental_materialization(),
        unique_key='response_id',
        incremental_strategy='delete+insert',
    )
}}

-- Append-only events: duplicates by response_id keep the earliest copy
-- (business date, file name, row).

with source as (
    select * from {{ source('raw', 'satisfaction') }}
    {{ new_loads_only(is_incremental()) }}
),

renamed as (
    select
        cast(response_id as {{ dbt.type_string() }}) as response_id,
        cast(partner_id as {{ dbt.type_string() }}) as partner_id,
        cast(request_id as {{ dbt.type_string() }}) as request_id,
        cast(survey_type as {{ dbt.type_string() }}) as survey_type,
        cast(score as integer) as score,
        cast(submitted_at as timestamp) as submitted_at,
        cast(comment as {{ dbt.type_string() }}) as comment,
        cast(_business_date as date) as _business_date,
        cast(_file_name as {{ dbt.type_string() }}) as _file_name,
        cast(_row_number as bigint) as _row_number,
        cast(_load_id as bigint) as _load_id
    from source
),

{{ resolve_latest(
    'renamed', 'response_id',
    spec_tie_break('satisfaction'),
    is_incremental()
) }}

select * from resolved
