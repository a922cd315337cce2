{{
    config(
        materialized=incremental_materialization(),
        unique_key='deal_id',
        incremental_strategy='delete+insert',
        pre_hook=[
            "{{ require_staging_current('stg_raw__deals', 'deals') }}",
            "{{ require_staging_current('stg_raw__deal_versions', 'deals', '_load_id') }}",
        ],
        post_hook="{% if materialized_incrementally() %}delete from {{ this }} where deal_id in (select deal_id from {{ ref('stg_raw__deals') }} where is_deleted){% endif %}",
    )
}}

-- Live (non-deleted) deals, partner and DIRECT, with amount_usd (SPEC section 3):
-- amount x usd_per_unit of the rate with the greatest rate_date <= the reference date
-- (closed date for closed deals, else registered date; UTC dates), USD = 1, rounded
-- half-even to cents with exact decimal arithmetic. No rate: amount_usd is null and the
-- test assert_every_deal_has_an_fx_rate names the deal.
-- The baseline (SPEC section 8.1): the deal's earliest landed version (smallest updated_at,
-- then the earlier business date, file name, row), its amount converted like amount_usd but
-- at the rate in force on the deal's registered date (UTC), and its stratum attributes.
-- Incremental: deals whose latest state landed since the last run (any version of the deal
-- landed since rewrites its latest state, so a late earlier version reaches the baseline
-- too), and deals whose as-of rate may have moved (a rate landed since for their currency or
-- baseline currency, dated on or before the reference date or the registered date). The
-- post-hook removes deals deleted since.

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
    union
    select existing.deal_id
    from {{ this }} as existing
    inner join (
        select currency, min(rate_date) as first_rate_date
        from {{ ref('stg_raw__fx_rates') }}
        where _load_id > {{ built_through() }}
        group by currency
    ) as new_rates
        on existing.baseline_currency = new_rates.currency
        and existing.baseline_fx_reference_date >= new_rates.first_rate_date
),
{% endif %}

deals as (
    select {{ star_except(['_load_id_watermark']) }}
    from {{ ref('stg_raw__deals') }}
    where not is_deleted
    {% if is_incremental() %}
        and deal_id in (select deal_id from changed)
    {% endif %}
),

fx_rates as (
    select rate_date, currency, usd_per_unit from {{ ref('stg_raw__fx_rates') }}
),

baseline_versions as (
    select
        deal_id,
        amount as baseline_amount,
        currency as baseline_currency,
        complexity as baseline_complexity,
        competitive_situation as baseline_competitive_situation,
        product_category as baseline_product_category,
        customer_segment as baseline_customer_segment
    from {{ ref('stg_raw__deal_versions') }}
    where deal_id in (select deal_id from deals)
    qualify row_number() over (
        partition by deal_id order by {{ spec_tie_break('deals', reverse=true) }}
    ) = 1
),

referenced as (
    select
        *,
        case
            when stage in ('CLOSED_WON', 'CLOSED_LOST') then cast(coalesce(closed_at, registered_at) as date)
            else cast(registered_at as date)
        end as fx_reference_date,
        cast(registered_at as date) as baseline_fx_reference_date
    from deals
    inner join baseline_versions using (deal_id)
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
    {{ asof_left_join_on_date(
        'fx_rates', 'referenced.currency', 'currency', 'referenced.fx_reference_date', 'rate_date',
        'referenced', 'fx_reference_date'
    ) }}
),

baseline_rated as (
    select
        rated.*,
        case
            when rated.baseline_currency = 'USD' then cast(1 as decimal(24, 12))
            else fx_rates.usd_per_unit
        end as baseline_usd_per_unit
    from rated
    {{ asof_left_join_on_date(
        'fx_rates', 'rated.baseline_currency', 'currency', 'rated.baseline_fx_reference_date', 'rate_date',
        'referenced', 'baseline_fx_reference_date'
    ) }}
),

converted as (
    select
        *,
        -- Exact product (14 decimals), then half-even to cents.
        cast(
            {{ round_half_even(exact_money_times_rate('amount', 'usd_per_unit'), 2) }}
            as decimal(18, 2)
        ) as amount_usd,
        cast(
            {{ round_half_even(exact_money_times_rate('baseline_amount', 'baseline_usd_per_unit'), 2) }}
            as decimal(18, 2)
        ) as baseline_amount_usd,
        {{ current_load_id() }} as _load_id_watermark
    from baseline_rated
)

select * from converted
