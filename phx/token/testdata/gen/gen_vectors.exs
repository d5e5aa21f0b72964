# Writes ../elixir_vectors.json: Phoenix.Token tokens made by Plug.Crypto's
# own code (Phoenix.Token.sign/encrypt call Plug.Crypto.sign/encrypt with
# the endpoint's secret_key_base). See README.md for how to run it.

defmodule Gen do
  @signed_at 1_700_000_000

  def data do
    [
      {"int", 123},
      {"int_neg", -5},
      {"big", Integer.pow(2, 70)},
      {"string", "user:42"},
      {"string_utf8", "José"},
      {"map_atom_keys", %{id: 1, role: :admin}},
      {"map_binary_keys", %{"id" => 7, "name" => "ann"}},
      {"map_nested", %{"user" => %{id: 5, tags: ["x", "y"]}, "n" => nil}},
      {"list", [1, "two", :three, 4.5]},
      {"charlist", ~c"abc"},
      {"nil", nil},
      {"true", true},
      {"false", false},
      {"float", 1.5},
      {"tuple", {:user, 99}}
    ]
  end

  def secret, do: "kjoy3o1zeidquwy1398juxzldjlksahdk3kjoy3o1zeidquwy1398juxzldjlksahdk3"

  def row(fields) do
    body =
      fields
      |> Enum.map(fn {k, v} -> ~s("#{k}":#{json(v)}) end)
      |> Enum.join(",")

    "  {" <> body <> "}"
  end

  defp json(v) when is_integer(v), do: Integer.to_string(v)
  defp json(v) when is_binary(v), do: ~s(") <> v <> ~s(")

  def hex(term), do: Base.encode16(:erlang.term_to_binary(term), case: :lower)

  def key(salt, opts \\ []) do
    Plug.Crypto.KeyGenerator.generate(secret(), salt,
      iterations: Keyword.get(opts, :key_iterations, 1000),
      length: Keyword.get(opts, :key_length, 32),
      digest: Keyword.get(opts, :key_digest, :sha256)
    )
  end

  def rows do
    salt = "user socket"

    current =
      for {name, d} <- data(), kind <- ["sign", "encrypt"] do
        opts = [signed_at: @signed_at]
        tok = apply(Plug.Crypto, String.to_atom(kind), [secret(), salt, d, opts])
        [name: name, kind: kind, salt: salt, secret: secret(), token: tok,
         signed_at: @signed_at, max_age: "default", data_hex: hex(d)]
      end

    max_ages =
      for {label, ma} <- [{"60", 60}, {"0", 0}, {"infinity", :infinity}, {"1.5", 1.5}],
          kind <- ["sign", "encrypt"] do
        tok = apply(Plug.Crypto, String.to_atom(kind), [secret(), salt, 42, [signed_at: @signed_at, max_age: ma]])
        [name: "max_age_" <> label, kind: kind, salt: salt, secret: secret(), token: tok,
         signed_at: @signed_at, max_age: label, data_hex: hex(42)]
      end

    key_opts = [key_iterations: 2000, key_length: 32, key_digest: :sha512]

    custom =
      for kind <- ["sign", "encrypt"] do
        tok = apply(Plug.Crypto, String.to_atom(kind), [secret(), "other salt", "custom", [signed_at: @signed_at] ++ key_opts])
        [name: "key_options", kind: kind, salt: "other salt", secret: secret(), token: tok,
         signed_at: @signed_at, max_age: "default", data_hex: hex("custom"),
         key_iterations: 2000, key_length: 32, key_digest: "sha512"]
      end

    long_key =
      [[name: "key_length_64", kind: "sign", salt: salt, secret: secret(),
        token: Plug.Crypto.sign(secret(), salt, 1, signed_at: @signed_at, key_length: 64),
        signed_at: @signed_at, max_age: "default", data_hex: hex(1), key_length: 64]]

    signed_ms = @signed_at * 1000

    # Payload shapes older versions wrote, built with term_to_binary exactly
    # as they did and signed with the current MessageVerifier.
    old =
      for {name, d} <- [{"int", 123}, {"string", "user:42"}] do
        [
          [name: "phoenix_map_" <> name, kind: "sign", salt: salt, secret: secret(),
           token: Plug.Crypto.MessageVerifier.sign(:erlang.term_to_binary(%{data: d, signed: signed_ms}), key(salt)),
           signed_at: @signed_at, max_age: "default", data_hex: hex(d)],
          [name: "plug_crypto_1_1_" <> name, kind: "sign", salt: salt, secret: secret(),
           token: Plug.Crypto.MessageVerifier.sign(:erlang.term_to_binary({d, signed_ms}), key(salt)),
           signed_at: @signed_at, max_age: "default", data_hex: hex(d)],
          [name: "a128gcm_" <> name, kind: "encrypt", salt: salt, secret: secret(),
           token: LegacyV1.MessageEncryptor.encrypt(:erlang.term_to_binary({d, signed_ms, 86400}), key(salt), ""),
           signed_at: @signed_at, max_age: "default", data_hex: hex(d)]
        ]
      end
      |> Enum.concat()

    # Tokens for cmd/phxd's SECRET_KEY_BASE test (salt "user socket").
    phxd_secret = "phxd-example-secret-key-base-used-only-by-tests-0123456789abcdefghij"

    phxd =
      for {name, kind, d} <- [
            {"int", "sign", 42},
            {"string", "encrypt", "ann"},
            {"admin", "sign", "admin"},
            {"big", "sign", Integer.pow(2, 70)},
            {"bad_id", "sign", "Not Valid"},
            {"long_id", "sign", String.duplicate("a", 33)},
            {"negative", "sign", -3},
            {"map", "sign", %{"id" => 1}},
            {"atom", "encrypt", :ann}
          ] do
        tok = apply(Plug.Crypto, String.to_atom(kind), [phxd_secret, salt, d, [signed_at: @signed_at]])
        [name: "phxd_" <> name, kind: kind, salt: salt, secret: phxd_secret, token: tok,
         signed_at: @signed_at, max_age: "default", data_hex: hex(d)]
      end

    # Sanity: the current Plug.Crypto reads every token written above.
    all = current ++ max_ages ++ custom ++ long_key ++ old ++ phxd

    for r <- all, r[:max_age] in ["default", "infinity"] do
      opts = Keyword.take(r, [:key_iterations, :key_length]) ++
        if(r[:key_digest], do: [key_digest: String.to_atom(r[:key_digest])], else: []) ++
        [max_age: :infinity]
      fun = if r[:kind] == "sign", do: :verify, else: :decrypt
      {:ok, d} = apply(Plug.Crypto, fun, [r[:secret], r[:salt], r[:token], opts])
      ^d = :erlang.binary_to_term(Base.decode16!(r[:data_hex], case: :lower))
    end

    all
  end

  def run do
    :ets.new(Plug.Crypto.Keys, [:named_table, :public, read_concurrency: true])
    header =
      ~s({"elixir":"#{System.version()}","otp":"#{:erlang.system_info(:otp_release)}",) <>
        ~s("plug_crypto":"#{System.get_env("PLUG_CRYPTO_VERSION", "unknown")}","vectors":[)

    IO.puts(header)
    IO.puts(rows() |> Enum.map(&row/1) |> Enum.join(",\n"))
    IO.puts("]}")
  end
end

Gen.run()
