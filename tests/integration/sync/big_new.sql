-- Source of the kill-and-resume test: 240,000 payments made after cutover (and 10,000 before).
create table payments (
    id bigint primary key,
    employee_id int not null,
    pay_date date not null,
    gross_amount numeric(12,2) not null,
    net_amount numeric(12,2) not null,
    memo text,
    created_at timestamptz not null
);
insert into payments
select g, 1 + g % 5000, date '2026-01-02' + (g % 330),
       round((900 + (g % 7919) * 0.37)::numeric, 2), round((700 + (g % 6133) * 0.29)::numeric, 2),
       case when g % 7 = 0 then null when g % 11 = 0 then '' else E'memo\t' || g || E'\n' || repeat('x', g % 40) end,
       case when g <= 10000 then timestamptz '2026-06-01 00:00:00+00' + g * interval '1 minute'
            else timestamptz '2026-11-01 00:00:01+00' + g * interval '1 second' end
from generate_series(1, 250000) g;
