# Reads the tokens Go signed (TSV from `go test ./phx/token -run TestGoVectors
# -write-go-tokens FILE`), verifies each with the real Plug.Crypto and
# writes them with its verdicts as JSON (../go_vectors.json). See README.md.

:ets.new(Plug.Crypto.Keys, [:named_table, :public, read_concurrency: true])
[file] = System.argv()

rows =
  for line <- File.read!(file) |> String.split("\n", trim: true) do
    [name, kind, secret, salt, token, iters, digest, verify_opt] = String.split(line, "\t")
    iters = String.to_integer(iters)

    opts =
      [key_iterations: iters, key_digest: String.to_atom(digest)] ++
        if verify_opt == "infinity", do: [max_age: :infinity], else: []

    fun = if kind == "sign", do: :verify, else: :decrypt

    {result, data_hex} =
      case apply(Plug.Crypto, fun, [secret, salt, token, opts]) do
        {:ok, data} -> {"ok", Base.encode16(:erlang.term_to_binary(data), case: :lower)}
        {:error, reason} -> {Atom.to_string(reason), ""}
      end

    ~s(  {"name":"#{name}","kind":"#{kind}","salt":"#{salt}","token":"#{token}",) <>
      ~s("key_iterations":#{iters},"key_digest":"#{digest}","verify_opt":"#{verify_opt}",) <>
      ~s("result":"#{result}","data_hex":"#{data_hex}"})
  end

IO.puts(
  ~s({"elixir":"#{System.version()}","otp":"#{:erlang.system_info(:otp_release)}",) <>
    ~s("plug_crypto":"#{System.get_env("PLUG_CRYPTO_VERSION", "unknown")}","vectors":[)
)

IO.puts(Enum.join(rows, ",\n"))
IO.puts("]}")
