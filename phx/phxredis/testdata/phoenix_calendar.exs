# Calendar structs and the strings Jason writes for them (to_iso8601),
# for phoenix_term_test.go. Run: elixir phoenix_calendar.exs > phoenix_calendar.txt
# (then put the two comment lines back on top).
vals = [
  ~D[2024-03-05], ~D[0001-01-01], %Date{year: -5, month: 1, day: 2}, %Date{year: 12345, month: 12, day: 31},
  ~T[09:08:07], ~T[23:59:59.123], ~T[00:00:00.000001], ~T[12:00:00.120000],
  ~N[2024-03-05 09:08:07], ~N[2024-03-05 09:08:07.5],
  ~U[2024-03-05 09:08:07Z], ~U[2024-03-05 09:08:07.123456Z],
  %DateTime{year: 2024, month: 3, day: 5, hour: 9, minute: 8, second: 7, microsecond: {0, 0}, time_zone: "Europe/Paris", zone_abbr: "CET", utc_offset: 3600, std_offset: 0},
  %DateTime{year: 2024, month: 7, day: 5, hour: 9, minute: 8, second: 7, microsecond: {0, 0}, time_zone: "America/St_Johns", zone_abbr: "NDT", utc_offset: -12600, std_offset: 3600},
  %DateTime{year: 2024, month: 7, day: 5, hour: 9, minute: 8, second: 7, microsecond: {5, 3}, time_zone: "Etc/UTC+0", zone_abbr: "X", utc_offset: 0, std_offset: 0},
  %DateTime{year: 2024, month: 7, day: 5, hour: 9, minute: 8, second: 7, microsecond: {0, 0}, time_zone: "Asia/Kathmandu", zone_abbr: "X", utc_offset: 20700, std_offset: 0}
]
for v <- vals do
  IO.puts(Base.encode16(:erlang.term_to_binary(v), case: :lower) <> " " <> (v.__struct__.to_iso8601(v)))
end
