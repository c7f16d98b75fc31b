-- Legacy after a correct sync: its own history (ids 1..2000) plus the completed new payments.
CREATE TABLE employees (
    employee_id bigint PRIMARY KEY,
    emp_code varchar(10) NOT NULL,
    full_name varchar(80) NOT NULL
);
CREATE TABLE payroll_history (
    payment_id bigint PRIMARY KEY,
    emp_id integer NOT NULL,
    pay_date date NOT NULL,
    gross_pay numeric(12,2) NOT NULL,
    net_pay numeric(12,2) NOT NULL,
    note varchar(60),
    paid_at timestamptz
);
CREATE TABLE one_row (k int PRIMARY KEY, v varchar(20));
CREATE TABLE no_rows (k int PRIMARY KEY, v varchar(20));

INSERT INTO employees
SELECT g, 'E' || lpad(g::text, 4, '0'), 'Employee ' || g FROM generate_series(1, 40) g;

INSERT INTO payroll_history
SELECT g, 1 + g % 40,
       CASE WHEN g <= 2000 THEN date '2026-10-15' ELSE date '2026-11-15' + (g % 20) END,
       1000 + (g % 997) + 0.25, 800 + (g % 991) + 0.5,
       CASE WHEN g % 7 = 0 THEN NULL WHEN g % 11 = 0 THEN '' ELSE 'note ' || g END,
       CASE WHEN g % 13 = 0 THEN NULL ELSE timestamptz '2026-11-02 08:30:00Z' + g * interval '1 minute' END
FROM generate_series(1, 5000) g
WHERE g <= 2000 OR g % 50 <> 0;

INSERT INTO one_row VALUES (1, 'only');
INSERT INTO no_rows VALUES (1, 'old');
