-- The new payroll system: 100 employees before cutover (2026-11-01), 40 hired after, a year of
-- biweekly payments (money in NUMERIC(12,2)), tax info changed for some employees after cutover.
create type employment_status as enum ('active', 'terminated', 'leave');

create table employees (
    id int primary key,
    employee_code text not null,
    full_name text not null,
    employment_status employment_status not null,
    hired_at timestamp not null,
    created_at timestamptz not null
);
insert into employees
select g, 'E' || lpad(g::text, 5, '0'), 'Employee ' || g,
       (array['active', 'terminated', 'leave'])[1 + g % 3]::employment_status,
       timestamp '2020-01-01 09:30:00' + g * interval '1 day',
       case when g <= 100 then timestamptz '2026-01-01 00:00:00+00' + g * interval '1 hour'
            else timestamptz '2026-11-01 08:00:00+00' + g * interval '1 hour' end
from generate_series(1, 140) g;

create table employee_payments (
    id bigint primary key,
    employee_id int not null,
    pay_date date not null,
    gross_amount numeric(12,2) not null,
    net_amount numeric(12,2) not null,
    federal_tax numeric(12,2) not null,
    status text not null,
    created_at timestamptz not null
);
-- 3000 payments; ids > 2000 were made after cutover; every 10th is still pending.
insert into employee_payments
select g, 1 + g % 140, date '2026-01-02' + (g / 10),
       round((1000 + g * 1.37)::numeric, 2), round((780 + g * 1.01)::numeric, 2), round((120 + g * 0.13)::numeric, 2),
       case when g % 10 = 0 then 'pending' else 'completed' end,
       case when g <= 2000 then timestamptz '2026-01-02 12:00:00+00' + g * interval '2 hours'
            else timestamptz '2026-11-01 00:00:01+00' + (g - 2000) * interval '1 minute' end
from generate_series(1, 3000) g;

create table employee_tax_info (
    employee_id int primary key,
    filing_status text not null,
    allowances int not null,
    updated_at timestamptz not null
);
insert into employee_tax_info
select g, (array['single', 'married', 'head_of_household'])[1 + g % 3], g % 5,
       case when g % 4 = 0 then timestamptz '2026-11-05 10:00:00+00' else timestamptz '2026-03-01 10:00:00+00' end
from generate_series(1, 140) g;
