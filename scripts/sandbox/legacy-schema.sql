-- scripts/sandbox/legacy-schema.sql: the LEGACY payroll system's schema in the rehearsal sandbox
-- (database `legacy`), in its own, older shape (../shared/reference/payroll-domain.md section 3):
-- integer employee ids, one-letter status codes, timestamps without time zone (UTC by convention),
-- and some UPPER_CASE columns and one UPPER_CASE table left from the system this one was ported
-- from, so every statement against it must quote identifiers. The columns the runbook contract
-- names (employees.employee_id/emp_code/full_name/status, payroll_history.payment_id/emp_id/...,
-- employee_tax.emp_id/filing_status/allowances) are lower case.
-- Its data (history up to cutover) is copied in by scripts/sandbox/load; the control tables are
-- filled here, frozen as the cutover left them (system_mode READONLY, PAYROLL jobs disabled).
-- psql variable :cutover is the cutover instant.

create table employees (
    employee_id     integer primary key,
    emp_code        varchar(12) not null unique,
    full_name       varchar(100) not null,
    status          char(1) not null check (status in ('A', 'T', 'L', 'S', 'R')),
    "DEPT_CODE"     varchar(10),
    "LOCATION_CODE" varchar(10),
    hire_date       date,
    term_date       date,
    created_date    timestamp not null default (now() at time zone 'UTC'),
    modified_date   timestamp
);

create table "COMPENSATION" (
    comp_id         integer primary key,
    emp_id          integer not null references employees (employee_id),
    "PAY_RATE"      numeric(10,4) not null,
    "SALARY_FLAG"   char(1) not null check ("SALARY_FLAG" in ('Y', 'N')),
    "ANNUAL_SALARY" numeric(12,2),
    "PAY_FREQUENCY" char(1) not null default 'B',
    effective_date  date not null,
    "ACTIVE"        char(1) not null default 'Y',
    modified_date   timestamp
);
create index compensation_emp_id on "COMPENSATION" (emp_id);

create table employee_tax (
    emp_id          integer primary key references employees (employee_id),
    filing_status   varchar(20) not null,
    allowances      integer not null default 0,
    "STATE_CODE"    char(2),
    "EXTRA_FED_WH"  numeric(12,2) not null default 0,
    "W4_YEAR"       integer,
    modified_date   timestamp
);

create table payroll_history (
    payment_id      integer primary key,
    emp_id          integer not null references employees (employee_id),
    pay_date        date not null,
    period_start    date,
    period_end      date,
    gross_pay       numeric(12,2) not null,
    net_pay         numeric(12,2) not null,
    fed_tax         numeric(12,2) not null default 0,
    "STATE_TAX"     numeric(12,2) not null default 0,
    "SOC_SEC"       numeric(12,2) not null default 0,
    "MEDICARE"      numeric(12,2) not null default 0,
    "REG_HOURS"     numeric(6,2),
    "OT_HOURS"      numeric(6,2),
    "CHECK_NUM"     varchar(12),            -- NULL for direct deposit
    created_date    timestamp not null default (now() at time zone 'UTC')
);
create index payroll_history_emp_pay_date on payroll_history (emp_id, pay_date);

create table scheduled_jobs (
    job_id   serial primary key,
    job_type varchar(20) not null,
    job_name varchar(60) not null,
    schedule varchar(30) not null,
    enabled  smallint not null default 1
);

create table system_config (
    key   varchar(64) primary key,
    value varchar(200) not null
);

create table migration_log (
    id          serial primary key,
    event       varchar(40) not null,
    "timestamp" timestamp not null
);

insert into scheduled_jobs (job_type, job_name, schedule, enabled) values
    ('PAYROLL', 'biweekly payroll calculation', '0 2 * * 3', 0),
    ('PAYROLL', 'direct deposit file (ACH)', '0 6 * * 4', 0),
    ('PAYROLL', 'tax remittance', '0 3 * * 5', 0),
    ('REPORTS', 'nightly payroll register', '30 1 * * *', 1),
    ('MAINT', 'vacuum history', '0 4 * * 0', 1);

insert into system_config (key, value) values
    ('system_mode', 'READONLY'),
    ('company_name', 'AuraConnect Restaurants'),
    ('pay_frequency', 'B'),
    ('payroll_version', '7.4.2');

insert into migration_log (event, "timestamp") values
    ('MIGRATION_STARTED', (:'cutover'::timestamptz - interval '2 days') at time zone 'UTC'),
    ('FINAL_SYNC_DONE', (:'cutover'::timestamptz - interval '30 minutes') at time zone 'UTC'),
    ('SYSTEM_FROZEN', :'cutover'::timestamptz at time zone 'UTC');
