-- scripts/sandbox/new-history.sql: the new system's data as it stood at cutover: ~5,000 employees,
-- their compensation and tax set-up, the pay calendar, and a year of completed biweekly payments
-- (26 pay dates) that the migration brought over from legacy. scripts/sandbox/load then copies this
-- state into `legacy` (in the legacy shape) before new-activity.sql adds what happened after cutover.
--
-- Deterministic: every "random" choice is a hash (md5) of a label and the row's key, so the same
-- cutover always yields the same rows, and set-based (generate_series), so it loads in seconds.
-- The cutover instant comes from the session setting sandbox.cutover (PGOPTIONS, set by load).
--
-- Calendar: period k (k = -27 .. 30) runs from cutover_date + 14k for 14 days and is paid 5 days
-- after it ends; its payments are created 2 days before the pay date at 14:00 UTC. Pay dates up to
-- period -2 are before cutover (migrated history); period -1 was paid by the new system after
-- cutover; period 0 is being processed now (the sandbox clock stands at cutover + 12 days).

-- Bulk load: foreign-key triggers off for this session (the generated rows are consistent by
-- construction; the constraints still hold for everything that comes later).
set session_replication_role = replica;

create schema sandbox;

create function sandbox.cutover() returns timestamptz language sql stable
    as $$ select current_setting('sandbox.cutover')::timestamptz $$;
create function sandbox.cutover_date() returns date language sql stable
    as $$ select (sandbox.cutover() at time zone 'UTC')::date $$;
-- How many employees the history has (sandbox.employees, RB_SANDBOX_EMPLOYEES of load; 5,000).
create function sandbox.employees() returns int language sql stable
    as $$ select coalesce(nullif(current_setting('sandbox.employees', true), ''), '5000')::int $$;
-- A stable pseudo-random 60-bit integer for a key.
create function sandbox.h(key text) returns bigint language sql immutable parallel safe
    as $$ select ('x' || substr(md5(key), 1, 15))::bit(60)::bigint $$;
create function sandbox.pick(choices text[], key text) returns text language sql immutable parallel safe
    as $$ select choices[1 + sandbox.h(key) % array_length(choices, 1)] $$;

-- Payments for every employee on the books in the pay periods [from_id, to_id], computed from the
-- compensation and tax set-up in force now. Money is NUMERIC throughout, rounded to the cent.
create function sandbox.calc_payments(from_id integer, to_id integer)
returns table (employee_id integer, pay_period_start date, pay_period_end date, pay_date date,
               regular_hours numeric, overtime_hours numeric, regular_pay numeric, overtime_pay numeric,
               gross_amount numeric, federal_tax numeric, state_tax numeric, social_security numeric,
               medicare numeric, net_amount numeric, payment_method text, created_at timestamptz)
language sql stable as $$
    -- MATERIALIZED: computed once per row; inlined, every use of `worked` would rehash it.
    with base as materialized (
        select e.id, p.id as period_id, p.start_date, p.end_date, p.pay_date,
               c.pay_type, c.annual_salary, c.hourly_rate,
               t.filing_status, t.allowances, t.state_code, t.extra_withholding,
               case when c.pay_type = 'salary' then 80.00
                    else (6400 + sandbox.h('hours:' || e.id || ':' || p.id) % 2401) / 100.0 end as worked
        from employees e
        join pay_periods p on p.id between from_id and to_id
        join employee_compensation c on c.employee_id = e.id and c.is_active
        join employee_tax_info t on t.employee_id = e.id
        where p.start_date >= e.hire_date
          and (e.termination_date is null or p.end_date <= e.termination_date)
    ), pay as (
        select b.*,
               least(worked, 80)::numeric(6,2) as reg_h,
               greatest(worked - 80, 0)::numeric(6,2) as ot_h,
               case when pay_type = 'salary' then round(annual_salary / 26, 2)
                    else round(least(worked, 80) * hourly_rate, 2) end as reg_pay,
               case when pay_type = 'salary' then 0.00
                    else round(greatest(worked - 80, 0) * hourly_rate * 1.5, 2) end as ot_pay
        from base b
    ), gross as materialized (
        select p.*, reg_pay + ot_pay as g from pay p
    ), taxed as (
        select g.*,
               round(g.g * (case filing_status when 'single' then 0.150 when 'married' then 0.120
                                               else 0.130 end - 0.005 * allowances), 2)
                   + extra_withholding as fed,
               round(g.g * case state_code when 'CA' then 0.0600 when 'NY' then 0.0550
                                           when 'IL' then 0.0495 else 0 end, 2) as st,
               round(g.g * 0.062, 2) as ss,
               round(g.g * 0.0145, 2) as med
        from gross g
    )
    select id, start_date, end_date, pay_date, reg_h, ot_h, reg_pay, ot_pay, g, fed, st, ss, med,
           g - fed - st - ss - med,
           case when sandbox.h('method:' || id) % 10 = 0 then 'check' else 'direct_deposit' end,
           ((pay_date - 2) + time '14:00') at time zone 'UTC' + id * interval '500 milliseconds'
    from taxed
$$;

-- The pay calendar: 27 periods before cutover's, 31 from it on.
insert into pay_periods (id, start_date, end_date, pay_date, status)
select k + 28,
       sandbox.cutover_date() + 14 * k,
       sandbox.cutover_date() + 14 * k + 13,
       sandbox.cutover_date() + 14 * k + 18,
       case when k < 0 then 'closed' when k = 0 then 'processing' else 'open' end
from generate_series(-27, 30) as k;

-- 5,000 employees hired over the last ten years; 6% terminated and 4% on leave at cutover.
insert into employees (id, employee_code, full_name, department, location, hire_date,
                       termination_date, employment_status, created_at, updated_at)
select id,
       'EMP' || lpad(id::text, 6, '0'),
       sandbox.pick(array['James','Maria','Robert','Linda','Michael','Patricia','David','Jennifer',
                          'José','Zoë','Siobhán','Wei','Aisha','Dmitri','Chloé','Kwame','Priya',
                          'Mateo','Ingrid','Yuki','Fatima','Liam','Noor','Björn','Ana','Olusegun',
                          'Grace','Hiroshi','Camila','Tomás','Émilie','Rahul','Sofia','Jamal',
                          'Hannah','Luca','Mei','Diego','Amara','Sean'], 'first:' || id)
           || ' ' ||
       sandbox.pick(array['Smith','Johnson','O''Brien','García','Müller','Nguyen','Kowalski',
                          'D''Angelo','Smith-Jones','van der Berg','Núñez','Okafor','Patel','Kim',
                          'Rossi','Dubois','Andersson','Hernández','Cohen','Ivanova','Tanaka',
                          'MacDonald','Schröder','Chen','Silva','Haddad','Brown','Williams',
                          'López','Murphy','Novak','Fernandes','Yilmaz','Walker','Bianchi',
                          'Larsen','Mendoza','Ó Súilleabháin','Park','Singh'], 'last:' || id),
       sandbox.pick(array['Engineering','Sales','HR','Finance','Operations','Kitchen',
                          'Front of House'], 'dept:' || id),
       sandbox.pick(array['california','new_york','texas','florida','illinois'], 'loc:' || id),
       hire,
       case when st = 'terminated'
            then least(sandbox.cutover_date() - 3,
                       greatest(hire + 60, sandbox.cutover_date() - 20 - (sandbox.h('term:' || id) % 330)::int))
       end,
       st::employment_status,
       (hire + time '09:00') at time zone 'UTC',
       case when st = 'terminated'
            then (sandbox.cutover_date() - 2 + time '17:00') at time zone 'UTC'
            else (hire + time '09:00') at time zone 'UTC' end
from (
    select id,
           sandbox.cutover_date() - 45 - (sandbox.h('hire:' || id) % 3600)::int as hire,
           case when sandbox.h('status:' || id) % 100 < 6 then 'terminated'
                when sandbox.h('status:' || id) % 100 < 10 then 'leave'
                else 'active' end as st
    from generate_series(1, sandbox.employees()) as id
) e;

-- One active compensation row each: 55% salaried (40,000.00 - 150,000.00), 45% hourly (15.00 - 75.00).
insert into employee_compensation (id, employee_id, pay_type, annual_salary, hourly_rate,
                                   effective_date, is_active, created_at, updated_at)
select e.id, e.id,
       case when sandbox.h('paytype:' || e.id) % 100 < 55 then 'salary' else 'hourly' end,
       case when sandbox.h('paytype:' || e.id) % 100 < 55
            then (4000000 + sandbox.h('salary:' || e.id) % 11000001) / 100.0 end,
       case when sandbox.h('paytype:' || e.id) % 100 >= 55
            then (1500 + sandbox.h('rate:' || e.id) % 6001) / 100.0 end,
       e.hire_date, true, e.created_at, e.created_at
from employees e;
do $$ begin perform setval('employee_compensation_id_seq', (select max(id) from employee_compensation)); end $$;

insert into employee_tax_info (employee_id, filing_status, allowances, state_code, extra_withholding,
                               w4_year, created_at, updated_at)
select e.id,
       case when sandbox.h('filing:' || e.id) % 10 < 5 then 'single'
            when sandbox.h('filing:' || e.id) % 10 < 9 then 'married'
            else 'head_of_household' end,
       (sandbox.h('allow:' || e.id) % 5)::int,
       case e.location when 'california' then 'CA' when 'new_york' then 'NY' when 'texas' then 'TX'
                       when 'florida' then 'FL' else 'IL' end,
       case when sandbox.h('extra:' || e.id) % 20 = 0 then 25.00 else 0.00 end,
       greatest(extract(year from e.hire_date)::int, 2020),
       e.created_at, e.created_at
from employees e;

-- A year of completed payments: pay periods 1..26 (k = -27 .. -2), all paid before cutover.
insert into employee_payments (employee_id, pay_period_start, pay_period_end, pay_date,
                               regular_hours, overtime_hours, regular_pay, overtime_pay, gross_amount,
                               federal_tax, state_tax, social_security, medicare, net_amount,
                               status, payment_method, created_at, updated_at)
select employee_id, pay_period_start, pay_period_end, pay_date,
       regular_hours, overtime_hours, regular_pay, overtime_pay, gross_amount,
       federal_tax, state_tax, social_security, medicare, net_amount,
       'completed', payment_method, created_at, created_at + interval '2 days'
from sandbox.calc_payments(1, 26)
order by pay_date, employee_id;

insert into system_config (key, value, updated_at) values
    ('payroll_module', 'ACTIVE', sandbox.cutover()),
    ('cutover_at', to_char(sandbox.cutover() at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), sandbox.cutover()),
    ('pay_frequency', 'biweekly', sandbox.cutover());
