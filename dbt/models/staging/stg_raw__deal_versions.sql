{{
    config(
        materialized=incremental_materialization(),
        incremental_strategy='append',
    )
}}

-- Every landed version of every deal: history for "stage reached" (SPEC section 3) and the
-- baseline version with its stratum attributes (SPEC section 8.1).
-- Append-only: a load is read once, after the last _load_id already here (after adding a
-- column here, run `cosell build --full-refresh`: rows already appended keep it null).

with source as (
    select * from {{ source('raw', 'deals') }}
    {% if is_incremental() %}
    where _load_id > (select coalesce(max(_load_id), -1) from {{ this }})
    {% endif %}
),

renamed as (
    select
        cast(deal_id as {{ dbt.type_string() }}) as deal_id,
        cast(stage as {{ dbt.type_string() }}) as stage,
        cast(amount as decimal(18, 2)) as amount,
        cast(currency as {{ dbt.type_string() }}) as currency,
        cast(complexity as integer) as complexity,
        cast(competitive_situation as {{ dbt.type_string() }}) as competitive_situation,
        cast(product_category as {{ dbt.type_string() }}) as product_category,
        cast(customer_segment as {{ dbt.type_string() }}) as customer_segment,
        cast(updated_at as timestamp) as updated_at,
        cast(is_deleted as boolean) as is_deleted,
        cast(_business_date as date) as _business_date,
        cast(_file_name as {{ dbt.type_string() }}) as _file_name,
        cast(_row_number as bigint) as _row_number,
        cast(_load_id as bigint) as _load_id
    from source
)

select * from renamed
