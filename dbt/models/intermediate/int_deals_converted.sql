{{
    config(
        materialized='incremental',
        unique_key='deal_id',
        incremental_strategy='delete+insert',
        pre_hook="{{ require_staging_current('stg_raw__deals', 'deals') }}",
        post_hook="delete from {{ this }} where deal_id in (select deal_id from {{ ref('stg_raw__deals') }} where is_deleted)",
    )
}}

-- Live (non-deleted) deals, partner and DIRECT, with amount_usd (SPEC section 3):
-- amount x usd_per_unit of the rate with the greatest rate_date <= the reference date
-- (closed date for closed deals, else registered date; UTC dates), USD = 1, rounded
-- half-even to cents with exact decimal arithmetic. No rate: amount_usd is null and the
-- test assert_every_deal_has_an_fx_rate names the deal.
-- Incremental: deals whose latest state landed since the last run, and deals whose as-of
-- rate may have moved (a rate landed since for their currency, dated on or before their
-- reference date). The post-hook removes deals deleted since.

with
{% if is_incremental() %}
changed as (
    select deal_id
    from {{ ref('stg_raw__deals') }}
    where _load_id_watermark > {{ built_through() }}
    union
    select existing.deal_id
    from {{ this }} as existing
    inner join (
        select currency, min(rate_date) as first_rate_date
        from {{ ref('stg_raw__fx_rates') }}
        where _load_id > {{ built_through() }}
        group by currency
    ) as new_rates
        on existing.currency = new_rates.currency
        and existing.fx_reference_date >= new_rates.first_rate_date
),
{% endif %}

deals as (
    select * exclude (_load_id_watermark)
    from {{ ref('stg_raw__deals') }}
    where not is_deleted
    {% if is_incremental() %}
        and deal_id in (select deal_id from changed)
    {% endif %}
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
        ) as amount_usd,
        {{ current_load_id() }} as _load_id_watermark
    from rated
)

select * from converted
