with responses as (
    select * from {{ ref('fct_satisfaction_responses') }}
),

first_support as (
    select partner_id, min(confirmed_at) as first_confirmed_at
    from {{ ref('fct_cosell_engagements') }}
    where is_supported
    group by partner_id
),

aggregated as (
    select
        partner_id,
        quarter,
        count(case when survey_type = 'COSELL_ENGAGEMENT' then 1 end) as cosell_responses,
        avg(case when survey_type = 'COSELL_ENGAGEMENT' then score end) as cosell_csat_avg,
        count(case when survey_type = 'PROGRAM_NPS' then 1 end) as nps_responses,
        count(case when survey_type = 'PROGRAM_NPS' and score >= 9 then 1 end) as promoters,
        count(case when survey_type = 'PROGRAM_NPS' and score <= 6 then 1 end) as detractors
    from responses
    group by 1, 2
),

final as (
    select
        aggregated.partner_id,
        aggregated.quarter,
        aggregated.cosell_responses,
        {{ round_rate('aggregated.cosell_csat_avg') }} as cosell_csat_avg,
        aggregated.nps_responses,
        aggregated.promoters,
        aggregated.detractors,
        case
            when aggregated.nps_responses > 0
                then {{ round_rate('cast(100 as double) * (aggregated.promoters - aggregated.detractors) / aggregated.nps_responses') }}
        end as nps,
        coalesce(
            first_support.first_confirmed_at < cast({{ dbt.dateadd('month', 3, 'aggregated.quarter') }} as timestamp),
            false
        ) as is_cosell_participant
    from aggregated
    left join first_support
        on aggregated.partner_id = first_support.partner_id
)

select * from final
