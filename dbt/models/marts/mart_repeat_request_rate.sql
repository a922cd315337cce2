-- Only partners whose repeat window has closed by the warehouse as_of_date
-- (first_support_at + window < as_of_date + 1 day): younger ones are censored, not counted
-- as non-repeaters.

with partners as (
    select * from {{ ref('mart_repeat_requests') }}
    where first_support_at is not null
        and is_window_closed
),

aggregated as (
    select
        first_support_month,
        partner_type,
        count(*) as supported_partners,
        count(case when is_repeat_requester then 1 end) as repeat_partners
    from partners
    group by 1, 2
),

final as (
    select
        *,
        {{ round_rate('repeat_partners / supported_partners') }} as repeat_rate
    from aggregated
)

select * from final
