-- The program report's grain of resource deployment: (requested_month, resource_type),
-- pooled over partner types. Quantiles cannot be added up from mart_resource_deployment's
-- partner-type rows, so they are computed here again over the supported requests, with that
-- mart's definition (continuous quantiles of hours_to_confirm).

with requests as (
    select * from {{ ref('fct_cosell_engagements') }}
),

aggregated as (
    select
        requested_month,
        resource_type,
        count(*) as requests,
        count(case when is_supported then 1 end) as supported,
        {{ quantile_continuous('case when is_supported then hours_to_confirm end', 0.5) }}
            as median_hours_to_confirm,
        {{ quantile_continuous('case when is_supported then hours_to_confirm end', 0.9) }}
            as p90_hours_to_confirm
    from requests
    group by 1, 2
),

final as (
    select
        cast(requested_month as date) as requested_month,
        cast(resource_type as {{ dbt.type_string() }}) as resource_type,
        cast(requests as bigint) as requests,
        cast(supported as bigint) as supported,
        cast({{ round_rate('median_hours_to_confirm') }} as double) as median_hours_to_confirm,
        cast({{ round_rate('p90_hours_to_confirm') }} as double) as p90_hours_to_confirm
    from aggregated
)

select * from final
