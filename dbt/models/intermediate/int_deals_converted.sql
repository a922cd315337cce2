-- Live (non-deleted) deals, partner and DIRECT, with amount_usd (SPEC section 3):
-- amount x usd_per_unit of the rate with the greatest rate_date <= the reference date
-- (closed date for closed deals, else registered date; UTC dates), USD = 1, rounded
-- half-even to cents with exact decimal arithmetic. No rate: amount_usd is null and the
-- test assert_every_deal_has_an_fx_rate names the deal.

with deals as (
    select * from {{ ref('stg_raw__deals') }}
    where not is_deleted
),

fx_rates as (
    select rate_date, currency, usd_per_unit from {{ ref('stg_raw__fx_rates') }}
),

referenced as (
    select
        *,
        case
            when stage in ('CLOSED_WON', 'CLOSED_LOST') then cast(coalesce(closed_at, registered_at) as date)
            else cast(registered_at as date)
        end as fx_reference_date
    from deals
),

rated as (
    select
        referenced.*,
        case when referenced.currency = 'USD' then null else fx_rates.rate_date end as fx_rate_date,
        case
            when referenced.currency = 'USD' then cast(1 as decimal(24, 12))
            else fx_rates.usd_per_unit
        end as usd_per_unit
    from referenced
    asof left join fx_rates
        on referenced.currency = fx_rates.currency
        and referenced.fx_reference_date >= fx_rates.rate_date
),

converted as (
    select
        *,
        -- DECIMAL(38,2) x DECIMAL(38,12) -> DECIMAL(38,14): exact; round_even is half-even.
        cast(
            round_even(cast(amount as decimal(38, 2)) * cast(usd_per_unit as decimal(38, 12)), 2)
            as decimal(18, 2)
        ) as amount_usd
    from rated
)

select * from converted
