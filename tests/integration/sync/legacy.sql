-- The legacy payroll system in its older shape: other names, CHAR(1) status codes, dates instead
-- of timestamps. It holds everything up to cutover; one post-cutover employee (101) was keyed in
-- by hand with a typo, so the sync has a row to update.
create table employees (
    employee_id int primary key,
    emp_code varchar(20) not null,
    full_name varchar(100) not null,
    status char(1) not null,
    hire_date date not null
);
insert into employees
select g, 'E' || lpad(g::text, 5, '0'), 'Employee ' || g,
       (array['A', 'T', 'L'])[1 + g % 3], date '2020-01-01' + g
from generate_series(1, 100) g;
insert into employees values (101, 'E00101', 'Employe 101', 'T', date '2020-04-11');

create table payroll_history (
    payment_id bigint primary key,
    emp_id int not null,
    pay_date date not null,
    gross_pay numeric(12,2) not null,
    net_pay numeric(12,2) not null,
    fed_tax numeric(12,2) not null
);
insert into payroll_history
select g, 1 + g % 140, date '2026-01-02' + (g / 10),
       round((1000 + g * 1.37)::numeric, 2), round((780 + g * 1.01)::numeric, 2), round((120 + g * 0.13)::numeric, 2)
from generate_series(1, 2000) g
where g % 10 <> 0;

create table employee_tax (
    emp_id int primary key,
    filing_status varchar(20) not null,
    allowances int not null
);
insert into employee_tax
select g, 'single', 0 from generate_series(1, 140) g;
