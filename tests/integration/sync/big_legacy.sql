-- Target of the kill-and-resume test: two legacy tables, each already holding the pre-cutover
-- rows and some post-cutover rows with stale values, so a sync both inserts and updates.
create table history_a (
    payment_id bigint primary key, emp_id int not null, pay_date date not null,
    gross_pay numeric(12,2) not null, net_pay numeric(12,2) not null, memo text
);
create table history_b (like history_a including all);
insert into history_a select g, 1 + g % 5000, date '2026-01-02' + (g % 330), 1.00, 2.00, 'stale'
from generate_series(3, 60000, 3) g;
insert into history_b select g, 1 + g % 5000, date '2026-01-02' + (g % 330), 1.00, 2.00, 'stale'
from generate_series(1, 60000) g where g % 3 <> 0;
