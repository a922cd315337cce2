{{
    config(
        materialized=incremental_materialization(),
        unique_key='activity_id',
        incremental_strategy='delete+insert',
    )
}}

-- Append-only events: duplicates by activity_id keep the earliest copy
-- (business date, file name, row).

with source as (
    select * from {{ source('raw', 'activities') }}
    {{ new_loads_only(is_incremental()) }}
),

renamed as (
    select
        cast(activity_id as {{ dbt.type_string() }}) as activity_id,
        cast(request_id as {{ dbt.type_string() }}) as request_id,
        cast(deal_id as {{ dbt.type_string() }}) as deal_id,
        cast(occurred_at as timestamp) as occurred_at,
        cast(activity_type as {{ dbt.type_string() }}) as activity_type,
        cast(vendor_role as {{ dbt.type_string() }}) as vendor_role,
        cast(partner_briefed as boolean) as partner_briefed,
        cast(partner_present as boolean) as partner_present,
        cast(in_engagement_plan as boolean) as in_engagement_plan,
        cast(commercial_discussion as boolean) as commercial_discussion,
        cast(_business_date as date) as _business_date,
        cast(_file_name as {{ dbt.type_string() }}) as _file_name,
        cast(_row_number as bigint) as _row_number,
        cast(_load_id as bigint) as _load_id
    from source
),

{{ resolve_latest(
    'renamed', 'activity_id',
    spec_tie_break('activities'),
    is_incremental()
) }}

select * from resolved
