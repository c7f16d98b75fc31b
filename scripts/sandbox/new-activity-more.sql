-- scripts/sandbox/new-activity-more.sql: more of the new system's activity since cutover, for the
-- benchmarks that ask for "N times the activity" (RB_SANDBOX_ACTIVITY=N of load; bench/e2e uses 10).
-- Run after new-activity.sql, with the sandbox schema still there and psql's :factor set to N >= 2.
--
-- The payroll run of period 27 (one completed payment per paid employee) is most of the activity a
-- rollback carries back, so it is what grows: N - 1 off-cycle payments (bonuses and corrections)
-- per employee paid in that run, each for a short period (1 to 10 days, starting between cutover +
-- 1d and cutover + 10d: distinct from each other and from the 14-day regular periods, so the
-- one-live-payment-per-period index holds), paid the day after it ends and created before the
-- sandbox's "now" (cutover + 12d). W-4 changes grow likewise:
-- about 6% of the employees on the books per unit of N, up to all of them. Deterministic, as the
-- rest of the sandbox.
insert into employee_payments (employee_id, pay_period_start, pay_period_end, pay_date,
                               regular_hours, overtime_hours, regular_pay, overtime_pay, gross_amount,
                               federal_tax, state_tax, social_security, medicare, net_amount,
                               status, payment_method, created_at, updated_at)
select p.employee_id,
       sandbox.cutover_date() + d.day, sandbox.cutover_date() + d.day + d.len,
       sandbox.cutover_date() + d.day + d.len + 1,
       0, 0, b.gross, 0, b.gross,
       round(b.gross * 0.22, 2), round(b.gross * 0.05, 2), round(b.gross * 0.062, 2), round(b.gross * 0.0145, 2),
       b.gross - round(b.gross * 0.22, 2) - round(b.gross * 0.05, 2) - round(b.gross * 0.062, 2)
               - round(b.gross * 0.0145, 2),
       'completed', p.payment_method, b.at, b.at
from employee_payments p
cross join generate_series(1, :factor - 1) as k
cross join lateral (select 1 + (k - 1) % 10 as day, 1 + (k - 1) / 10 as len) d
cross join lateral (
    select round(50 + (sandbox.h('bonus:' || p.employee_id || ':' || k) % 45000) / 100.0, 2) as gross,
           sandbox.cutover() + d.day * interval '1 day'
               + (sandbox.h('bonus-at:' || p.employee_id || ':' || k) % 1440) * interval '1 minute' as at
) b
where p.status = 'completed' and p.created_at >= sandbox.cutover()
  and p.pay_period_end - p.pay_period_start > 10
order by k, p.employee_id;

update employee_tax_info t
set extra_withholding = t.extra_withholding + 5,
    updated_at = sandbox.cutover() + interval '2 days'
                 + (sandbox.h('w4-more-at:' || t.employee_id) % 12000) * interval '1 minute'
from employees e
where e.id = t.employee_id and e.employment_status <> 'terminated'
  and sandbox.h('w4-more:' || e.id) % 100 < least(100, 6 * (:factor - 1));
