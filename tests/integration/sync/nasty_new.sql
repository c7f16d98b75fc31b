-- Source side of the nasty-data test: a schema and table that need quoting, reserved and
-- mixed-case column names, and values that break naive text handling.
create schema "Src Schema";
create type "Pay Kind" as enum ('regular', 'bonus', 'off-cycle');
create table "Src Schema"."Pay-Record" (
    "ID" int primary key,
    "select" text,                 -- a reserved word
    "Mixed Case" text,
    note text,
    maybe text,                    -- NULL and '' must stay different
    amount numeric(14,4),          -- scale 4 kept: 1.5000 stays 1.5000
    at timestamptz,
    kind "Pay Kind",               -- enum into a text column
    happened timestamp,            -- timestamp into a date column
    "Changed At" timestamptz       -- changed_since, with a space
);
insert into "Src Schema"."Pay-Record" values
  (1, 'from', 'MiXeD', E'tab\there', NULL, 1.5000, '2026-11-02 10:00:00+05:30', 'regular', '2026-11-02 23:59:59', '2026-11-02 00:00:00+00'),
  (2, 'where', 'ÄÖÜ ß', E'new\nline and \r carriage', '', 0.0001, '2026-11-03 00:00:00-08:00', 'bonus', '2026-11-03 00:00:00', '2026-11-03 00:00:00+00'),
  (3, 'group', 'x', E'back\\slash \\N and \\t literally', 'x', -12345678.9000, '2026-12-31 23:59:59.999999+00', 'off-cycle', '2026-12-31 12:00:00', '2026-11-04 00:00:00+00'),
  (4, 'order', 'quote''s', E'quote '' and double " and both ''"', ' ', 0, '2026-11-05 12:00:00+00', 'regular', '2026-11-05 00:00:01', '2026-11-05 00:00:00+00'),
  (5, NULL, NULL, E'emoji 😀 and CJK 漢字 and \x01 control', NULL, NULL, NULL, NULL, NULL, '2026-11-06 00:00:00+00'),
  (6, '', '', '', '', 9999999999.9999, '2026-11-07 00:00:00+00', 'bonus', '2026-11-07 00:00:00', '2026-11-07 00:00:00+00'),
  (7, E'\\.', 'line with \. alone', E'\\.\n\\.', '\N', 12.3400, '2026-11-08 00:00:00+00', 'regular', '2026-11-08 00:00:00', '2026-11-08 00:00:00+00'),
  -- before cutover, and never changed: not synced
  (8, 'old', 'old', 'old', 'old', 1, '2026-01-01 00:00:00+00', 'regular', '2026-01-01 00:00:00', '2026-01-01 00:00:00+00'),
  -- no change time at all: not synced
  (9, 'null', 'null', 'null', 'null', 1, '2026-01-01 00:00:00+00', 'regular', '2026-01-01 00:00:00', NULL);
