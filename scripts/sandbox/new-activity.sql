-- scripts/sandbox/new-activity.sql: what happened in the new system after cutover, which legacy
-- never saw and a rollback must carry back (run after the legacy snapshot was taken). The sandbox
-- clock stands at cutover + 12 days. Uses the sandbox schema of new-history.sql.
--
--   cutover + 2d   payroll run for period 27 (paid cutover + 4d): ~4,700 completed payments, 3
--                  cancelled first attempts; parallel-run validation rows, 15% with a tax variance
--   cutover + 1..11d   40 new hires (employees 5001-5040, after the history's) with compensation and tax set-up
--   cutover + 3..10d   ~150 raises (old compensation row closed, new one opened)
--   cutover + 1..11d   ~300 W-4 changes (employee_tax_info updated)
--   cutover + 11d  period 28 being calculated: ~300 payments still 'pending' (not to be synced)
--   cutover + 5..12d   450 incident reports from 450 users

-- Payroll run, period 27: the first one the new system paid.
insert into employee_payments (employee_id, pay_period_start, pay_period_end, pay_date,
                               regular_hours, overtime_hours, regular_pay, overtime_pay, gross_amount,
                               federal_tax, state_tax, social_security, medicare, net_amount,
                               status, payment_method, created_at, updated_at)
select employee_id, pay_period_start, pay_period_end, pay_date,
       regular_hours, overtime_hours, regular_pay, overtime_pay, gross_amount,
       federal_tax, state_tax, social_security, medicare, net_amount,
       'completed', payment_method, created_at, created_at + interval '2 days'
from sandbox.calc_payments(27, 27)
order by employee_id;

-- Three first attempts of that run were cancelled and recalculated (not to be synced).
insert into employee_payments (employee_id, pay_period_start, pay_period_end, pay_date,
                               regular_hours, overtime_hours, regular_pay, overtime_pay, gross_amount,
                               federal_tax, state_tax, social_security, medicare, net_amount,
                               status, payment_method, created_at, updated_at)
select employee_id, pay_period_start, pay_period_end, pay_date,
       regular_hours, overtime_hours, regular_pay, overtime_pay, gross_amount + 100.00,
       federal_tax, state_tax, social_security, medicare, net_amount + 100.00,
       'cancelled', payment_method, created_at - interval '1 hour', created_at - interval '30 minutes'
from sandbox.calc_payments(27, 27)
where employee_id in (17, 1234, 4321);

-- Parallel-run check of that run: the new tax engine withholds differently for 15% of employees.
insert into payroll_validation (payment_id, employee_id, field, expected, actual, variance, checked_at)
select p.id, p.employee_id, 'federal_tax', p.federal_tax - v.variance, p.federal_tax, v.variance,
       p.created_at + interval '3 hours'
from employee_payments p
cross join lateral (
    select case when sandbox.h('variance:' || p.employee_id) % 100 < 15
                then (100 + sandbox.h('amount:' || p.employee_id) % 4000) / 100.0
                else 0.00 end as variance
) v
where p.pay_period_start = (select start_date from pay_periods where id = 27) and p.status = 'completed';

-- 40 new hires.
insert into employees (id, employee_code, full_name, department, location, hire_date,
                       employment_status, created_at, updated_at)
select id,
       'EMP' || lpad(id::text, 6, '0'),
       sandbox.pick(array['Ava','Noah','Isabella','Ethan','Léa','Omar','Chiara','Sven','Aroha',
                          'Kenji','Zainab','Finn'], 'first:' || id)
           || ' ' ||
       sandbox.pick(array['Taylor','O''Neill','Gómez','Lindqvist','Adeyemi','Sato','Moreau',
                          'Kaur','Rodríguez','Ward'], 'last:' || id),
       sandbox.pick(array['Kitchen','Front of House','Operations','Sales','Engineering'], 'dept:' || id),
       sandbox.pick(array['california','new_york','texas','florida','illinois'], 'loc:' || id),
       (ts at time zone 'UTC')::date, 'active', ts, ts
from (
    select id, sandbox.cutover() + interval '1 day 9 hours' + (id - sandbox.employees() - 1) * interval '6 hours 10 minutes' as ts
    from generate_series(sandbox.employees() + 1, sandbox.employees() + 40) as id
) n;

insert into employee_compensation (employee_id, pay_type, annual_salary, hourly_rate,
                                   effective_date, is_active, created_at, updated_at)
select e.id,
       case when e.id % 4 = 0 then 'salary' else 'hourly' end,
       case when e.id % 4 = 0 then (4500000 + sandbox.h('salary:' || e.id) % 5000001) / 100.0 end,
       case when e.id % 4 <> 0 then (1600 + sandbox.h('rate:' || e.id) % 1801) / 100.0 end,
       e.hire_date, true, e.created_at, e.created_at
from employees e where e.id > sandbox.employees();

insert into employee_tax_info (employee_id, filing_status, allowances, state_code, extra_withholding,
                               w4_year, created_at, updated_at)
select e.id,
       case when e.id % 3 = 0 then 'married' else 'single' end,
       (e.id % 3)::int,
       case e.location when 'california' then 'CA' when 'new_york' then 'NY' when 'texas' then 'TX'
                       when 'florida' then 'FL' else 'IL' end,
       0.00, extract(year from e.hire_date)::int, e.created_at, e.created_at
from employees e where e.id > sandbox.employees();

-- Raises for ~150 active employees: the old row is closed, a new one opened (retroactive to the
-- period that began at cutover).
create temporary table raises as
select c.id as old_id, c.employee_id, c.pay_type, c.annual_salary, c.hourly_rate,
       1.03 + (sandbox.h('raise%:' || c.employee_id) % 6) / 100.0 as factor,
       sandbox.cutover() + interval '3 days' + (sandbox.h('raise-at:' || c.employee_id) % 10080) * interval '1 minute' as at
from employee_compensation c
join employees e on e.id = c.employee_id
where c.is_active and e.employment_status = 'active' and e.id <= sandbox.employees()
  and sandbox.h('raise:' || e.id) % 33 = 0;

update employee_compensation c set is_active = false, updated_at = r.at
from raises r where c.id = r.old_id;

insert into employee_compensation (employee_id, pay_type, annual_salary, hourly_rate,
                                   effective_date, is_active, created_at, updated_at)
select employee_id, pay_type, round(annual_salary * factor, 2), round(hourly_rate * factor, 2),
       sandbox.cutover_date(), true, at, at
from raises
order by at;

-- W-4 changes for ~300 employees still on the books.
update employee_tax_info t
set filing_status = case t.filing_status when 'single' then 'married'
                                         when 'married' then 'head_of_household' else 'single' end,
    allowances = (t.allowances + 1) % 5,
    w4_year = extract(year from sandbox.cutover())::int,
    updated_at = sandbox.cutover() + interval '1 day'
                 + (sandbox.h('w4-at:' || t.employee_id) % 14400) * interval '1 minute'
from employees e
where e.id = t.employee_id and e.id <= sandbox.employees() and e.employment_status <> 'terminated'
  and sandbox.h('w4:' || e.id) % 17 = 0;

-- Period 28 is being calculated: some payments exist, still pending (a rollback must not sync them).
insert into employee_payments (employee_id, pay_period_start, pay_period_end, pay_date,
                               regular_hours, overtime_hours, regular_pay, overtime_pay, gross_amount,
                               federal_tax, state_tax, social_security, medicare, net_amount,
                               status, payment_method, created_at, updated_at)
select employee_id, pay_period_start, pay_period_end, pay_date,
       regular_hours, overtime_hours, regular_pay, overtime_pay, gross_amount,
       federal_tax, state_tax, social_security, medicare, net_amount,
       'pending', payment_method, ts, ts
from sandbox.calc_payments(28, 28)
cross join lateral (select sandbox.cutover() + interval '11 days 10 hours'
                           + employee_id * interval '1 second' as ts) t
where sandbox.h('pending:' || employee_id) % 16 = 0
order by employee_id;

-- Incident reports: 300 over days 5-11, then 150 in the last day before the sandbox's "now".
insert into incident_reports (user_id, category, description, created_at)
select 10000 + i,
       sandbox.pick(array['wrong_tax', 'missing_payment', 'wrong_net_pay', 'login', 'report'], 'cat:' || i),
       'ticket ' || i || ': ' ||
       sandbox.pick(array['federal withholding higher than last stub',
                          'net pay does not match the old system',
                          'overtime "1.5x" not applied',
                          'cannot see pay stub for 11/05',
                          'YTD totals look wrong'], 'text:' || i),
       case when i <= 300
            then sandbox.cutover() + interval '5 days' + i * interval '30 minutes'
            else sandbox.cutover() + interval '11 days' + (i - 300) * interval '9 minutes' end
from generate_series(1, 450) as i;

insert into system_config (key, value, updated_at) values
    ('sandbox_now', to_char((sandbox.cutover() + interval '12 days') at time zone 'UTC',
                            'YYYY-MM-DD"T"HH24:MI:SS"Z"'), sandbox.cutover() + interval '12 days');
