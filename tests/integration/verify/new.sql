-- The new system after cutover (2026-11-01): migrated history plus what happened since.
CREATE TABLE employees (
    id bigint PRIMARY KEY,
    employee_code text NOT NULL,
    full_name text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE TABLE employee_payments (
    id bigint PRIMARY KEY,
    employee_id bigint NOT NULL,
    pay_date date NOT NULL,
    gross_amount numeric(14,4) NOT NULL,    -- more scale than legacy: canonical forms must agree
    net_amount numeric(14,4) NOT NULL,
    note text,
    paid_at timestamptz,
    status text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE TABLE one_row (k int PRIMARY KEY, v text, created_at timestamptz NOT NULL);
CREATE TABLE no_rows (k int PRIMARY KEY, v text, created_at timestamptz NOT NULL);

INSERT INTO employees
SELECT g, 'E' || lpad(g::text, 4, '0'), 'Employee ' || g, timestamptz '2020-01-01' + g * interval '1 day'
FROM generate_series(1, 40) g;

-- ids 1..2000: migrated from legacy (before cutover); 2001..5000: paid in the new system
INSERT INTO employee_payments
SELECT g, 1 + g % 40,
       CASE WHEN g <= 2000 THEN date '2026-10-15' ELSE date '2026-11-15' + (g % 20) END,
       1000 + (g % 997) + 0.25, 800 + (g % 991) + 0.5,
       CASE WHEN g % 7 = 0 THEN NULL WHEN g % 11 = 0 THEN '' ELSE 'note ' || g END,
       CASE WHEN g % 13 = 0 THEN NULL ELSE timestamptz '2026-11-02 09:30:00+01' + g * interval '1 minute' END,
       CASE WHEN g % 50 = 0 THEN 'pending' ELSE 'completed' END,
       CASE WHEN g <= 2000 THEN timestamptz '2026-10-01' ELSE timestamptz '2026-11-01 00:00:01Z' + g * interval '1 second' END
FROM generate_series(1, 5000) g;

INSERT INTO one_row VALUES (1, 'only', '2026-11-05');
INSERT INTO no_rows VALUES (1, 'old', '2026-10-05');
