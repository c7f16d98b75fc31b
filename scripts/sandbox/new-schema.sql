-- scripts/sandbox/new-schema.sql: the NEW payroll system's schema in the rehearsal sandbox (database
-- `new`). Shaped after the payroll docs' data model (../shared/reference/payroll-domain.md): money in
-- NUMERIC(12,2), hours in NUMERIC(6,2), timestamptz audit columns, an enum for employment status.

create type employment_status as enum ('active', 'terminated', 'leave');

create table employees (
    id                integer primary key,
    employee_code     varchar(12) not null unique,
    full_name         varchar(100) not null,
    department        varchar(40) not null,
    location          varchar(40) not null,
    hire_date         date not null,
    termination_date  date,
    employment_status employment_status not null default 'active',
    created_at        timestamptz not null default now(),
    updated_at        timestamptz not null default now()
);
create index employees_created_at on employees (created_at);
create index employees_updated_at on employees (updated_at);

create table employee_compensation (
    id             serial primary key,
    employee_id    integer not null references employees (id),
    pay_type       varchar(10) not null check (pay_type in ('salary', 'hourly')),
    annual_salary  numeric(12,2),
    hourly_rate    numeric(10,4),
    pay_frequency  varchar(12) not null default 'biweekly',
    effective_date date not null,
    is_active      boolean not null default true,
    created_at     timestamptz not null default now(),
    updated_at     timestamptz not null default now(),
    check ((pay_type = 'salary') = (annual_salary is not null)),
    check ((pay_type = 'hourly') = (hourly_rate is not null))
);
create unique index employee_compensation_one_active on employee_compensation (employee_id) where is_active;
create index employee_compensation_updated_at on employee_compensation (updated_at);

create table employee_tax_info (
    employee_id       integer primary key references employees (id),
    filing_status     varchar(20) not null
                      check (filing_status in ('single', 'married', 'married_separately', 'head_of_household')),
    allowances        integer not null default 0 check (allowances >= 0),
    state_code        char(2) not null,
    extra_withholding numeric(12,2) not null default 0,
    w4_year           integer not null,
    created_at        timestamptz not null default now(),
    updated_at        timestamptz not null default now()
);
create index employee_tax_info_updated_at on employee_tax_info (updated_at);

create table pay_periods (
    id           integer primary key,
    pay_schedule varchar(12) not null default 'biweekly',
    start_date   date not null,
    end_date     date not null,
    pay_date     date not null,
    status       varchar(12) not null check (status in ('closed', 'processing', 'open')),
    check (end_date > start_date)
);

create table employee_payments (
    id               serial primary key,
    employee_id      integer not null references employees (id) on delete restrict,
    pay_period_start date not null,
    pay_period_end   date not null,
    pay_date         date not null,
    regular_hours    numeric(6,2) not null default 0 check (regular_hours >= 0),
    overtime_hours   numeric(6,2) not null default 0 check (overtime_hours >= 0),
    regular_pay      numeric(12,2) not null default 0,
    overtime_pay     numeric(12,2) not null default 0,
    gross_amount     numeric(12,2) not null check (gross_amount >= 0),
    federal_tax      numeric(12,2) not null default 0,
    state_tax        numeric(12,2) not null default 0,
    social_security  numeric(12,2) not null default 0,
    medicare         numeric(12,2) not null default 0,
    net_amount       numeric(12,2) not null check (net_amount >= 0),
    status           varchar(20) not null default 'pending'
                     check (status in ('pending', 'calculated', 'approved', 'completed', 'cancelled', 'failed')),
    payment_method   varchar(20) check (payment_method in ('direct_deposit', 'check', 'cash', 'digital_wallet')),
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now(),
    check (pay_period_end > pay_period_start)
);
-- One live payment per employee and period; cancelled/failed attempts may repeat it.
create unique index uq_employee_payment_period on employee_payments (employee_id, pay_period_start, pay_period_end)
    where status not in ('cancelled', 'failed');
create index employee_payments_created_at on employee_payments (created_at);
create index employee_payments_pay_date on employee_payments (pay_date);

-- Parallel-run checks of the new system's calculations against the legacy rules (variance = new - expected).
create table payroll_validation (
    id          serial primary key,
    payment_id  integer not null references employee_payments (id),
    employee_id integer not null references employees (id),
    field       varchar(30) not null,
    expected    numeric(12,2) not null,
    actual      numeric(12,2) not null,
    variance    numeric(12,2) not null,
    checked_at  timestamptz not null default now()
);

create table incident_reports (
    id          serial primary key,
    user_id     integer not null,
    category    varchar(30) not null,
    description text not null,
    created_at  timestamptz not null default now()
);
create index incident_reports_created_at on incident_reports (created_at);

create table system_config (
    key        varchar(64) primary key,
    value      varchar(200) not null,
    updated_at timestamptz not null default now()
);
