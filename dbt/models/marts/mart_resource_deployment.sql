-- partner_type is the current type of the requesting partner (the request's partner_id).

with requests as (
    select * from {{ ref('fct_cosell_engagements') }}
),

partners as (
    select partner_id, partner_type from {{ ref('dim_partner') }}
),

aggregated as (
    select
        requests.requested_month,
        requests.resource_type,
        partners.partner_type,
        count(*) as requests,
        count(case when requests.is_supported then 1 end) as supported,
        count(case when requests.status = 'DECLINED' then 1 end) as declined,
        count(case when requests.status = 'CANCELLED' then 1 end) as cancelled,
        {{ quantile_continuous('case when requests.is_supported then requests.hours_to_confirm end', 0.5) }}
            as median_hours_to_confirm,
        {{ quantile_continuous('case when requests.is_supported then requests.hours_to_confirm end', 0.9) }}
            as p90_hours_to_confirm
    from requests
    left join partners
        on requests.partner_id = partners.partner_id
    group by 1, 2, 3
),

final as (
    select
        requested_month,
        resource_type,
        partner_type,
        requests,
        supported,
        declined,
        cancelled,
        requests - supported - declined - cancelled as pending,
        {{ round_rate('supported / requests') }} as acceptance_rate,
        {{ round_rate('median_hours_to_confirm') }} as median_hours_to_confirm,
        {{ round_rate('p90_hours_to_confirm') }} as p90_hours_to_confirm
    from aggregated
)

select * from final
