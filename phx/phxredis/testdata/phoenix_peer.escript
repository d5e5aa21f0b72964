#!/usr/bin/env escript
%% -*- erlang -*-
%%! -noshell
%%
%% A stand-in for an Elixir node running phoenix_pubsub_redis 3.x, for the
%% tests of phxredis's Phoenix format (phoenix_test.go). It talks RESP to
%% Redis over gen_tcp (no libraries) and writes what that adapter writes:
%% term_to_binary({3, Mode, NodeName, Topic, Message, Dispatcher}) on the
%% channel "phx:Elixir.<PubSub>.Adapter".
%%
%%   escript phoenix_peer.escript publish PORT CHANNEL GO_NODE MAX
%%     publishes the cases below (and hostile ones), then one broadcast on
%%     "t:done"; prints one JSON line per case: {"case":..., "topic":...}.
%%   escript phoenix_peer.escript broadcast PORT CHANNEL TOPIC EVENT
%%     publishes what Endpoint.broadcast(TOPIC, EVENT, %{body: "from elixir",
%%     n: 1}) does (payload %{} for "disconnect"); prints {"receivers":N}.
%%   escript phoenix_peer.escript dump DIR GO_NODE MAX
%%     writes each case to DIR/<case>.etf (the fuzz seeds were made so).
%%   escript phoenix_peer.escript subscribe PORT CHANNEL COUNT
%%     subscribes, prints {"ready":true}, then for each of COUNT messages
%%     prints {"term":"<the decoded term, ~p on one line>"}; gives up after
%%     20 s of silence with {"timeout":true} and exit status 1.

main(["publish", Port, Channel, GoNode, Max]) ->
    S = connect(list_to_integer(Port)),
    Go = list_to_atom(GoNode),
    N = publish_all(S, list_to_binary(Channel), Go, list_to_integer(Max)),
    out([<<"{\"published\":">>, integer_to_binary(N), <<"}">>]),
    halt(0);
main(["subscribe", Port, Channel, Count]) ->
    S = connect(list_to_integer(Port)),
    send_cmd(S, [<<"SUBSCRIBE">>, list_to_binary(Channel)]),
    {[<<"subscribe">>, _, 1], Rest} = read_reply(S, <<>>),
    out(<<"{\"ready\":true}">>),
    subscribe_loop(S, Rest, list_to_integer(Count));
main(["broadcast", Port, Channel, Topic, Event]) ->
    S = connect(list_to_integer(Port)),
    Payload = case Event of
                  "disconnect" -> #{};
                  _ -> #{body => <<"from elixir">>, n => 1}
              end,
    Msg = msg(except, 'ex1@127.0.0.1', list_to_binary(Topic), list_to_binary(Event), Payload),
    send_cmd(S, [<<"PUBLISH">>, list_to_binary(Channel), otp25(Msg)]),
    {Receivers, _} = read_reply(S, <<>>),
    out([<<"{\"receivers\":">>, integer_to_binary(Receivers), <<"}">>]),
    halt(0);
main(["dump", Dir, GoNode, Max]) ->
    [ok = file:write_file(filename:join(Dir, <<Name/binary, ".etf">>), Bin)
     || {_, Name, Bin} <- cases(list_to_atom(GoNode), list_to_integer(Max))],
    halt(0);
main(_) ->
    io:format(standard_error, "usage: see the comment at the top~n", []),
    halt(2).

%% --- what an Elixir node writes -------------------------------------

broadcast(Topic, Event, Payload) ->
    #{'__struct__' => 'Elixir.Phoenix.Socket.Broadcast',
      topic => Topic, event => Event, payload => Payload}.

msg(Mode, Node, Topic, Event, Payload) ->
    {3, Mode, Node, Topic, broadcast(Topic, Event, Payload), 'Elixir.Phoenix.Channel.Server'}.

%% OTP 25's term_to_binary/1 writes latin-1 atoms with ATOM_EXT; OTP 26
%% and later write SMALL_ATOM_UTF8_EXT, which {minor_version, 2} asks for.
otp25(T) -> term_to_binary(T, [{minor_version, 1}]).
otp26(T) -> term_to_binary(T, [{minor_version, 2}]).

cases(Go, Max) ->
    Ex = 'ex1@127.0.0.1',
    [%% delivered
     {deliver, <<"atom_keys">>, otp25(msg(except, Ex, <<"t:atom_keys">>, <<"new_msg">>,
        #{body => <<"hi">>, n => 1, ok => true, none => nil, f => 1.5,
          list => [1, <<"a">>, abc, false], nested => #{x => #{<<"y">> => -2}}}))},
     {deliver, <<"binary_keys">>, otp26(msg(except, Ex, <<"t:binary_keys">>, <<"new_msg">>,
        #{<<"body">> => <<"h", 195, 169>>, <<"big">> => 1 bsl 70, <<"neg">> => -70000,
          <<"empty">> => [], <<"esc">> => <<"q\"b\\n\n">>}))},
     {deliver, <<"compressed">>, term_to_binary(msg(except, Ex, <<"t:compressed">>, <<"new_msg">>,
        #{<<"text">> => binary:copy(<<"abc">>, 1000)}), [{compressed, 6}, {minor_version, 1}])},
     {deliver, <<"binary">>, otp25(msg(except, Ex, <<"t:binary">>, <<"bin">>, {binary, <<1, 2, 3, 255>>}))},
     {deliver, <<"disconnect">>, otp25(msg(except, Ex, <<"users_socket:42">>, <<"disconnect">>, #{}))},
     {deliver, <<"only_me">>, otp26(msg(only, Go, <<"t:only_me">>, <<"new_msg">>, #{<<"a">> => 1}))},
     {deliver, <<"node_binary">>, otp25(msg(except, <<"ex2">>, <<"t:node_binary">>, <<"new_msg">>, #{}))},
     %% ignored, as an Elixir node ignores them
     {unwatched, <<"unwatched">>, otp25(msg(except, Ex, <<"t:nobody">>, <<"new_msg">>, #{a => {no, json}}))},
     {not_for_us, <<"only_other">>, otp25(msg(only, 'other@host', <<"t:only_other">>, <<"new_msg">>, #{}))},
     {echo, <<"echo">>, otp25(msg(except, Go, <<"t:echo">>, <<"new_msg">>, #{}))},
     %% Phoenix.Tracker-like traffic and other messages phxgo takes no part in
     {skipped, <<"tracker">>, otp25({3, except, Ex, <<"phx_presence:Elixir.MyApp.Presence">>,
        {pub, heartbeat, {Ex, 1}, {self(), make_ref()}, #{}}, 'Elixir.Phoenix.PubSub'})},
     {skipped, <<"tracker_direct">>, otp26({3, only, Go, <<"phx_presence:Elixir.MyApp.Presence">>,
        {pub, transfer_req, make_ref(), {self(), Ex}}, 'Elixir.Phoenix.PubSub'})},
     {skipped, <<"not_broadcast">>, otp25({3, except, Ex, <<"t:x">>, {custom, 1}, 'Elixir.Phoenix.Channel.Server'})},
     {skipped, <<"presence_diff">>, otp25(msg(except, Ex, <<"t:pd">>, <<"presence_diff">>,
        #{joins => #{}, leaves => #{}}))},
     %% hostile or malformed
     {dropped, <<"garbage">>, <<"not a term at all">>},
     {dropped, <<"random">>, <<131, (rand:bytes(200))/binary>>},
     {dropped, <<"old_version">>, otp25(setelement(1, msg(except, Ex, <<"t:v">>, <<"e">>, #{}), 2))},
     {dropped, <<"short_tuple">>, otp25({3, except, Ex, <<"t:s">>})},
     {dropped, <<"truncated">>, binary:part(otp25(msg(except, Ex, <<"t:tr">>, <<"e">>, #{a => 1})), 0, 30)},
     {unencodable, <<"pid_payload">>, otp25(msg(except, Ex, <<"t:pid">>, <<"e">>, #{pid => self()}))},
     {unencodable, <<"tuple_payload">>, otp25(msg(except, Ex, <<"t:tuple">>, <<"e">>, #{t => {1, 2}}))},
     {unencodable, <<"bad_utf8">>, otp25(msg(except, Ex, <<"t:utf8">>, <<"e">>, #{<<"s">> => <<255, 254>>}))},
     {unencodable, <<"list_payload">>, otp25(msg(except, Ex, <<"t:list">>, <<"e">>, [1, 2]))},
     {dropped, <<"bomb">>, <<131, 80, (1 bsl 30):32, (zlib:compress(binary:copy(<<0>>, 1 bsl 20)))/binary>>},
     {dropped, <<"lying_size">>, <<131, 80, 100:32, (zlib:compress(term_to_binary(binary:copy(<<"x">>, 5000))))/binary>>},
     {dropped, <<"oversized">>, otp25(msg(except, Ex, <<"t:big">>, <<"e">>, #{<<"s">> => binary:copy(<<"y">>, Max)}))},
     {deliver, <<"done">>, otp25(msg(except, Ex, <<"t:done">>, <<"done">>, #{}))}].

publish_all(S, Channel, Go, Max) ->
    Cases = cases(Go, Max),
    lists:foreach(
      fun({Kind, Name, Bin}) ->
              send_cmd(S, [<<"PUBLISH">>, Channel, Bin]),
              {_Receivers, _} = read_reply(S, <<>>),
              out([<<"{\"case\":\"">>, Name, <<"\",\"kind\":\"">>, atom_to_binary(Kind), <<"\"}">>])
      end, Cases),
    length(Cases).

%% --- subscriber -------------------------------------------------------

subscribe_loop(_S, _Buf, 0) ->
    halt(0);
subscribe_loop(S, Buf, N) ->
    case read_reply(S, Buf, 20000) of
        {[<<"message">>, _Channel, Payload], Rest} ->
            Term = binary_to_term(Payload),
            Line = lists:flatten(io_lib:print(Term, 1, 1000000, -1)),
            out([<<"{\"term\":\"">>, json_escape(list_to_binary(Line)), <<"\",\"compressed\":">>,
                 atom_to_binary(binary:at(Payload, 1) =:= 80), <<"}">>]),
            subscribe_loop(S, Rest, N - 1);
        timeout ->
            out(<<"{\"timeout\":true}">>),
            halt(1)
    end.

json_escape(B) ->
    << <<(esc(C))/binary>> || <<C>> <= B >>.

esc($") -> <<"\\\"">>;
esc($\\) -> <<"\\\\">>;
esc(C) when C < 32; C >= 127 -> list_to_binary(io_lib:format("\\u~4.16.0b", [C]));
esc(C) -> <<C>>.

out(IoData) ->
    io:put_chars([IoData, $\n]).

%% --- RESP over gen_tcp ------------------------------------------------

connect(Port) ->
    {ok, S} = gen_tcp:connect({127, 0, 0, 1}, Port, [binary, {active, false}, {packet, raw}]),
    S.

send_cmd(S, Args) ->
    ok = gen_tcp:send(S, [$*, integer_to_binary(length(Args)), <<"\r\n">>,
                          [[$$, integer_to_binary(byte_size(A)), <<"\r\n">>, A, <<"\r\n">>] || A <- Args]]).

read_reply(S, Buf) ->
    case read_reply(S, Buf, 10000) of
        timeout -> error(redis_timeout);
        R -> R
    end.

read_reply(S, Buf, Timeout) ->
    case parse(Buf) of
        {ok, Reply, Rest} ->
            {Reply, Rest};
        more ->
            case gen_tcp:recv(S, 0, Timeout) of
                {ok, Data} -> read_reply(S, <<Buf/binary, Data/binary>>, Timeout);
                {error, timeout} -> timeout;
                {error, E} -> error({redis, E})
            end
    end.

parse(Buf) ->
    case binary:split(Buf, <<"\r\n">>) of
        [_] -> more;
        [<<$+, S/binary>>, Rest] -> {ok, S, Rest};
        [<<$-, E/binary>>, _] -> error({redis_error, E});
        [<<$:, I/binary>>, Rest] -> {ok, binary_to_integer(I), Rest};
        [<<$$, L/binary>>, Rest] ->
            Len = binary_to_integer(L),
            case Rest of
                <<Data:Len/binary, "\r\n", Rest2/binary>> -> {ok, Data, Rest2};
                _ -> more
            end;
        [<<$*, L/binary>>, Rest] -> parse_array(binary_to_integer(L), Rest, [])
    end.

parse_array(0, Rest, Acc) ->
    {ok, lists:reverse(Acc), Rest};
parse_array(N, Buf, Acc) ->
    case parse(Buf) of
        {ok, X, Rest} -> parse_array(N - 1, Rest, [X | Acc]);
        more -> more
    end.
