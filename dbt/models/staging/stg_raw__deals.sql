{{
    config(
        materialized=incremental_materialization(),
        unique_key='deal_id',
        incremental_strategy='delete+insert',
    )
}}

with source as (
    select * from {{ source('raw', 'deals') }}
    {{ new_loads_only(is_incremental()) }}
),

renamed as (
    select
        cast(deal_id as {{ dbt.type_string() }}) as deal_id,
        cast(partner_id as {{ dbt.type_string() }}) as partner_id,
        cast(customer_id as {{ dbt.type_string() }}) as customer_id,
        cast(customer_name as {{ dbt.type_string() }}) as customer_name,
        cast(customer_segment as {{ dbt.type_string() }}) as customer_segment,
        cast(industry as {{ dbt.type_string() }}) as industry,
        cast(country as {{ dbt.type_string() }}) as country,
        cast(product_category as {{ dbt.type_string() }}) as product_category,
        cast(motion as {{ dbt.type_string() }}) as motion,
        cast(marketplace as {{ dbt.type_string() }}) as marketplace,
        cast(sourced_by as {{ dbt.type_string() }}) as sourced_by,
        cast(is_new_logo as boolean) as is_new_logo,
        cast(competitive_situation as {{ dbt.type_string() }}) as competitive_situation,
        cast(complexity as integer) as complexity,
        cast(stakeholder_level as {{ dbt.type_string() }}) as stakeholder_level,
        cast(stage as {{ dbt.type_string() }}) as stage,
        cast(amount as decimal(18, 2)) as amount,
        cast(currency as {{ dbt.type_string() }}) as currency,
        cast(registered_at as timestamp) as registered_at,
        cast(expected_close_on as date) as expected_close_on,
        cast(closed_at as timestamp) as closed_at,
        cast(updated_at as timestamp) as updated_at,
        cast(is_deleted as boolean) as is_deleted,
        cast(_business_date as date) as _business_date,
        cast(_file_name as {{ dbt.type_string() }}) as _file_name,
        cast(_row_number as bigint) as _row_number,
        cast(_load_id as bigint) as _load_id
    from source
),

{{ resolve_latest(
    'renamed', 'deal_id',
    spec_tie_break('deals'),
    is_incremental()
) }}

select * from resolved
