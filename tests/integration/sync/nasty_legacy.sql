-- Target side of the nasty-data test: upper-case schema, a table name with a dot and a space,
-- reserved and mixed-case columns, a mixed-case key.
create schema "LEGACY";
create table "LEGACY"."PAY.RECORD S" (
    "Id" int primary key,
    "Order" text,
    "mixed" text,
    "Note" text,
    "maybe" text,
    "AMOUNT" numeric(14,4),
    "At" timestamptz,
    "AtText" text,
    "Kind" text,
    "Day" date
);
-- A row already there with stale values, and one before cutover that must stay untouched.
insert into "LEGACY"."PAY.RECORD S" values
  (1, 'stale', 'stale', 'stale', 'stale', 0, now(), 'stale', 'stale', '2000-01-01'),
  (100, 'keep', 'keep', 'keep', 'keep', 1, '2020-01-01 00:00:00+00', 'keep', 'keep', '2020-01-01');
