# Writes ../vectors.json: terms encoded by the running Erlang/OTP's own
# term_to_binary, in each encoding the etf package must read.
#
#   cd phx/etf/testdata/gen && elixir gen_vectors.exs > ../vectors.json
#
# The Go test (vectors_test.go) holds the Go value each named term must
# decode to; keep the names in step.

defmodule Gen do
  def terms do
    [
      {"int_small", 42},
      {"int_zero", 0},
      {"int_neg", -1},
      {"int_32", 100_000},
      {"int_min32", -2_147_483_648},
      {"int_max32", 2_147_483_647},
      {"int_past32", 2_147_483_648},
      {"int_max64", 9_223_372_036_854_775_807},
      {"int_min64", -9_223_372_036_854_775_808},
      {"big_2_64", 18_446_744_073_709_551_616},
      {"big_neg_2_64", -18_446_744_073_709_551_616},
      {"big_2_2100", Integer.pow(2, 2100)},
      {"big_neg_2_2100", -Integer.pow(2, 2100)},
      {"float", 1.5},
      {"float_neg", -0.25},
      {"float_large", 1.0e300},
      {"float_zero", 0.0},
      {"atom", :ok},
      {"atom_nil", nil},
      {"atom_true", true},
      {"atom_false", false},
      {"atom_latin1", :"héllo"},
      {"atom_unicode", :"日本"},
      {"atom_255", String.to_atom(String.duplicate("a", 255))},
      {"atom_elixir_module", Phoenix.Socket.Broadcast},
      {"bin_empty", ""},
      {"bin", "hello"},
      {"bin_utf8", "José"},
      {"bin_raw", <<0, 255, 128>>},
      {"bin_long", String.duplicate("abcdefgh", 200)},
      {"list_empty", []},
      {"list_bytes", [1, 2, 3]},
      {"charlist", ~c"abc"},
      {"list_mixed", [1, "a", :b, nil, 2.5]},
      {"list_ints", [256, 1, -1]},
      {"list_nested", [[1], [[2, 3]], []]},
      {"tuple_empty", {}},
      {"tuple_ok", {:ok, 1}},
      {"tuple_large", List.to_tuple(Enum.to_list(0..299))},
      {"map_empty", %{}},
      {"map_atom_keys", %{a: 1, b: "x"}},
      {"map_binary_keys", %{"a" => 1, "b" => [true, false]}},
      {"map_mixed_keys", %{1 => :x, 1.0 => :y, :a => 1, "b" => 2, nil => 0}},
      {"map_nested", %{"user" => %{id: 5, tags: ["x"]}, "n" => nil}},
      {"map_40_keys", Map.new(1..40, fn i -> {"k#{i}", i} end)},
      {"struct_broadcast",
       %{__struct__: Phoenix.Socket.Broadcast, topic: "room:1", event: "new_msg",
         payload: %{"body" => "hi"}}},
      {"token_payload", {123, 1_700_000_000_000, 86400}},
      {"token_payload_old", %{data: "user:1", signed: 1_700_000_000_000}}
    ]
  end

  # Terms the etf package must refuse.
  def refused do
    [
      {"pid", self()},
      {"ref", make_ref()},
      {"fun", fn x -> x end},
      {"export", &Enum.map/2},
      {"port", hd(Port.list() ++ [nil])},
      {"improper_list", [1 | 2]},
      {"bitstring", <<1::3>>},
      {"map_tuple_key", %{{1, 2} => 3}},
      {"map_list_key", %{[1] => 3}}
    ]
  end

  def encodings do
    [
      {"default", []},
      {"minor0", [minor_version: 0]},
      {"minor2", [minor_version: 2]},
      {"compressed", [compressed: 6]},
      {"compressed_minor2", [compressed: 9, minor_version: 2]}
    ]
  end

  def run do
    rows =
      for {set, terms} <- [{"ok", terms()}, {"refused", refused()}],
          {name, term} <- terms,
          term != nil or name != "port",
          {enc, opts} <- encodings() do
        bin = :erlang.term_to_binary(term, opts)
        ~s(  {"set":"#{set}","name":"#{name}","encoding":"#{enc}","hex":"#{Base.encode16(bin, case: :lower)}"})
      end

    IO.puts(~s({"otp":"#{:erlang.system_info(:otp_release)}","elixir":"#{System.version()}","vectors":[))
    IO.puts(Enum.join(rows, ",\n"))
    IO.puts("]}")
  end
end

Gen.run()
