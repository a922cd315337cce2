-- The warehouse as_of_date: the latest business date landed (never the wall clock).
select max(case when status = 'LANDED' then business_date end) as as_of_date
from {{ ref('stg_raw__load_audit') }}
