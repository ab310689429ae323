using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using Relay.Server.Protocol;
using Relay.Server.WebSockets;

namespace Relay.Tests.Protocol;

/// NIP-01 client messages in, and the frames the relay answers with.
public sealed class ClientMessageParserTests
{
    private const string Id = "bdd09fdfcf8ada0c1ac900972c9eaba8d74cd6a7b33ea14de8e12957a47f7d46";
    private const string Pubkey = "f771877964fa2ce401d87bc2558a0df1e6921acef99389f059712b32cfda35fd";
    private const string Sig = "71387ff87564fc5da5626216c2fd1c3a47efadb7468912aee36ed63d650f62e32023ff63d8358fa4bff458aec04f08048ad5ffdaa4b4509ea8ca32d3d450d1d9";
    private const string Event =
        "{\"id\":\"" + Id + "\",\"pubkey\":\"" + Pubkey +
        "\",\"created_at\":1700000000,\"kind\":1,\"tags\":[],\"content\":\"hello world\",\"sig\":\"" + Sig + "\"}";

    private const int MaxFilters = 3;
    private readonly ClientMessageParser _parser = new(maxSubIdLength: 64, maxFilters: MaxFilters);

    private ClientMessage Parse(string json) => _parser.Parse(Encoding.UTF8.GetBytes(json));

    private ClientMessage ParseOk(string json)
    {
        var msg = Parse(json);
        Assert.True(msg.IsValid, $"{json}: {msg.Error}");
        return msg;
    }

    private static void AssertInvalid(ClientMessage msg, string reasonStart)
    {
        Assert.False(msg.IsValid);
        Assert.StartsWith("invalid: ", msg.Error);
        Assert.StartsWith(reasonStart, msg.Error);
    }

    // ---- valid forms ----

    [Fact]
    public void EVENT_carries_the_parsed_event()
    {
        var msg = ParseOk($"[\"EVENT\",{Event}]");
        Assert.Equal(ClientMessageType.Event, msg.Type);
        Assert.NotNull(msg.Event);
        Assert.Equal(Id, msg.Event.Id);
        Assert.Equal(Id, msg.EventId);
    }

    [Fact]
    public void Whitespace_between_tokens_is_allowed()
    {
        var msg = ParseOk($" [ \"EVENT\" ,\n\t{Event} ] ");
        Assert.Equal(Id, msg.Event!.Id);
    }

    [Fact]
    public void REQ_carries_its_subscription_id_and_every_filter()
    {
        var msg = ParseOk($"[\"REQ\",\"feed\",{{\"kinds\":[1]}},{{\"authors\":[\"{Pubkey}\"],\"limit\":10}}]");
        Assert.Equal(ClientMessageType.Req, msg.Type);
        Assert.Equal("feed", msg.SubId);
        Assert.NotNull(msg.Filters);
        Assert.Equal(2, msg.Filters.Length);
        Assert.Equal(new[] { 1 }, msg.Filters[0].Kinds);
        Assert.Equal(new[] { Pubkey }, msg.Filters[1].Authors);
        Assert.Equal(10, msg.Filters[1].Limit);
    }

    [Fact]
    public void CLOSE_carries_the_subscription_id()
    {
        var msg = ParseOk("[\"CLOSE\",\"feed\"]");
        Assert.Equal(ClientMessageType.Close, msg.Type);
        Assert.Equal("feed", msg.SubId);
    }

    [Fact]
    public void COUNT_is_parsed_like_REQ()
    {
        var msg = ParseOk("[\"COUNT\",\"c1\",{\"kinds\":[7]}]");
        Assert.Equal(ClientMessageType.Count, msg.Type);
        Assert.Equal("c1", msg.SubId);
        Assert.Single(msg.Filters!);
    }

    [Fact]
    public void Subscription_id_may_be_64_characters_of_anything()
    {
        var sixtyFour = new string('é', 60) + "\"\\ \u0001";
        var msg = ParseOk("[\"REQ\"," + JsonSerializer.Serialize(sixtyFour) + ",{}]");
        Assert.Equal(sixtyFour, msg.SubId);
    }

    [Fact]
    public void Up_to_the_maximum_number_of_filters_is_allowed()
    {
        var msg = ParseOk("[\"REQ\",\"s\"" + string.Concat(Enumerable.Repeat(",{}", MaxFilters)) + "]");
        Assert.Equal(MaxFilters, msg.Filters!.Length);
    }

    // ---- invalid messages ----

    [Theory]
    [InlineData("{\"EVENT\":{}}")]
    [InlineData("\"EVENT\"")]
    [InlineData("42")]
    [InlineData("null")]
    public void Message_that_is_not_an_array_is_refused(string json)
    {
        var msg = Parse(json);
        AssertInvalid(msg, "invalid: message must be a JSON array");
        Assert.Equal(ClientMessageType.Invalid, msg.Type);
    }

    [Theory]
    [InlineData("[]")]
    [InlineData("[1,\"x\"]")]
    [InlineData("[[\"EVENT\"]]")]
    public void Array_that_does_not_start_with_a_command_is_refused(string json)
    {
        AssertInvalid(Parse(json), "invalid: message must start with a command string");
    }

    [Theory]
    [InlineData("")]
    [InlineData("[")]
    [InlineData("[\"REQ\",\"s\",{")]
    [InlineData("[\"REQ\",\"s\",{}")]
    [InlineData("[\"CLOSE\",\"s\"")]
    [InlineData("[\"REQ\" \"s\",{}]")]
    [InlineData("[\"REQ\",'s',{}]")]
    [InlineData("\u00ff\u00fe")]
    public void Malformed_json_is_refused_without_throwing(string json)
    {
        var msg = Parse(json);
        Assert.False(msg.IsValid);
        Assert.StartsWith("invalid: ", msg.Error);
    }

    [Theory]
    [InlineData("[\"CLOSE\",\"a\"][\"REQ\",\"b\",{}]")]
    [InlineData("[\"REQ\",\"s\",{}]]")]
    [InlineData("[\"REQ\",\"s\",{}] garbage")]
    [InlineData("[\"EVENT\"," + Event + "]}")]
    public void Text_after_the_message_array_is_refused(string json)
    {
        var msg = Parse(json);
        Assert.False(msg.IsValid);
        Assert.StartsWith("invalid: ", msg.Error);
    }

    [Fact]
    public void Every_truncation_of_a_valid_message_is_refused_without_throwing()
    {
        var bytes = Encoding.UTF8.GetBytes($"[\"EVENT\",{Event}]");
        for (var n = 0; n < bytes.Length; n++)
        {
            var msg = _parser.Parse(bytes.AsSpan(0, n));
            Assert.False(msg.IsValid, $"prefix of {n} bytes accepted");
            Assert.Null(msg.Event);
        }
        bytes = Encoding.UTF8.GetBytes("[\"REQ\",\"sub\",{\"kinds\":[1],\"#e\":[\"x\"]},{}]");
        for (var n = 0; n < bytes.Length; n++)
        {
            var msg = _parser.Parse(bytes.AsSpan(0, n));
            Assert.False(msg.IsValid, $"prefix of {n} bytes accepted");
            Assert.Null(msg.Filters);
        }
    }

    [Fact]
    public void Deeply_nested_json_is_refused_without_throwing()
    {
        var json = "[\"EVENT\"," + new string('[', 100) + new string(']', 100) + "]";
        Assert.False(Parse(json).IsValid);
        json = "[\"REQ\",\"s\",{\"#e\":" + new string('[', 100) + new string(']', 100) + "}]";
        Assert.False(Parse(json).IsValid);
    }

    [Fact]
    public void Unknown_command_is_refused_and_named()
    {
        var msg = Parse("[\"PUBLISH\",{}]");
        AssertInvalid(msg, "invalid: unknown command PUBLISH");
        Assert.Equal(ClientMessageType.Invalid, msg.Type);
        Assert.False(Parse("[\"event\"," + Event + "]").IsValid);   // commands are case-sensitive
    }

    [Fact]
    public void Long_unknown_command_is_truncated_in_the_reply()
    {
        var msg = Parse("[\"" + new string('X', 5000) + "\"]");
        Assert.False(msg.IsValid);
        Assert.True(msg.Error!.Length < 100, $"error is {msg.Error.Length} characters");
    }

    [Fact]
    public void AUTH_with_a_malformed_event_is_invalid_and_keeps_its_type()
    {
        var msg = Parse("[\"AUTH\",{}]");
        Assert.Equal(ClientMessageType.Auth, msg.Type);
        AssertInvalid(msg, "invalid: event must have");
    }

    [Theory]
    [InlineData("REQ")]
    [InlineData("COUNT")]
    public void Filter_list_must_not_be_empty(string command)
    {
        var msg = Parse($"[\"{command}\",\"s\"]");
        AssertInvalid(msg, "invalid: at least one filter");
        Assert.Equal("s", msg.SubId);    // so the reply can be CLOSED "s"
    }

    [Theory]
    [InlineData("[\"REQ\",\"\",{}]")]
    [InlineData("[\"CLOSE\",\"\"]")]
    [InlineData("[\"REQ\",1,{}]")]
    [InlineData("[\"REQ\",null,{}]")]
    [InlineData("[\"REQ\",{}]")]
    [InlineData("[\"CLOSE\"]")]
    public void Subscription_id_must_be_a_non_empty_string(string json)
    {
        var msg = Parse(json);
        AssertInvalid(msg, "invalid: subscription id");
        Assert.Null(msg.SubId);
    }

    [Fact]
    public void Subscription_id_of_65_characters_is_refused()
    {
        var msg = Parse("[\"REQ\",\"" + new string('s', 65) + "\",{}]");
        AssertInvalid(msg, "invalid: subscription id must be 1 to 64 characters");
        Assert.Null(msg.SubId);
        AssertInvalid(Parse("[\"CLOSE\",\"" + new string('s', 65) + "\"]"), "invalid: subscription id");
    }

    [Fact]
    public void Subscription_id_with_a_lone_surrogate_is_refused_without_throwing()
    {
        Assert.False(Parse("[\"REQ\",\"\\ud800\",{}]").IsValid);
        Assert.False(Parse("[\"REQ\",\"s\",{\"#t\":[\"\\udc00\"]}]").IsValid);
        Assert.False(Parse("[\"CLOSE\",\"\\ud800\"]").IsValid);
    }

    [Fact]
    public void Too_many_filters_is_refused_with_the_subscription_id()
    {
        var msg = Parse("[\"REQ\",\"s\"" + string.Concat(Enumerable.Repeat(",{}", MaxFilters + 1)) + "]");
        AssertInvalid(msg, "invalid: too many filters");
        Assert.Equal("s", msg.SubId);
        Assert.Equal(ClientMessageType.Req, msg.Type);
    }

    [Fact]
    public void Bad_filter_is_refused_with_the_subscription_id()
    {
        var msg = Parse("[\"REQ\",\"s\",{\"kinds\":[\"1\"]}]");
        AssertInvalid(msg, "invalid: kinds");
        Assert.Equal("s", msg.SubId);
        AssertInvalid(Parse("[\"REQ\",\"s\",[]]"), "invalid: a filter must be");
    }

    [Fact]
    public void CLOSE_with_extra_elements_is_refused()
    {
        AssertInvalid(Parse("[\"CLOSE\",\"s\",{}]"), "invalid: CLOSE takes only");
    }

    [Fact]
    public void EVENT_with_an_invalid_event_keeps_its_id_for_OK_false()
    {
        var changed = Event.Replace("hello world", "hello world!", StringComparison.Ordinal);
        var msg = Parse($"[\"EVENT\",{changed}]");
        Assert.Equal(ClientMessageType.Event, msg.Type);
        AssertInvalid(msg, "invalid: event id does not match");
        Assert.Null(msg.Event);
        Assert.Equal(Id, msg.EventId);
    }

    [Fact]
    public void EVENT_whose_bad_field_comes_before_the_id_still_keeps_the_id()
    {
        var json = "[\"EVENT\",{\"kind\":\"1\",\"tags\":[[1]],\"id\":\"" + Id + "\"}]";
        var msg = Parse(json);
        Assert.Equal(ClientMessageType.Event, msg.Type);
        AssertInvalid(msg, "invalid: kind");
        Assert.Equal(Id, msg.EventId);
    }

    [Theory]
    [InlineData("{\"content\":\"x\"}")]                                       // no id at all
    [InlineData("{\"id\":\"BDD09FDFCF8ADA0C1AC900972C9EABA8D74CD6A7B33EA14DE8E12957A47F7D46\"}")]
    [InlineData("{\"id\":\"abc\"}")]
    [InlineData("{\"id\":42}")]
    public void EVENT_without_a_usable_id_has_no_EventId(string ev)
    {
        var msg = Parse($"[\"EVENT\",{ev}]");
        Assert.Equal(ClientMessageType.Event, msg.Type);
        Assert.False(msg.IsValid);
        Assert.Null(msg.EventId);
    }

    [Fact]
    public void EVENT_with_an_id_containing_a_lone_surrogate_is_refused_without_throwing()
    {
        var msg = Parse("[\"EVENT\",{\"id\":\"\\ud800\",\"kind\":1}]");
        Assert.False(msg.IsValid);
        Assert.Null(msg.EventId);
    }

    [Theory]
    [InlineData("[\"EVENT\"]")]
    [InlineData("[\"EVENT\",[]]")]
    [InlineData("[\"EVENT\",\"x\"]")]
    public void EVENT_without_an_event_object_is_refused(string json)
    {
        var msg = Parse(json);
        Assert.Equal(ClientMessageType.Event, msg.Type);
        AssertInvalid(msg, "invalid: EVENT needs an event object");
    }

    [Fact]
    public void EVENT_with_two_events_is_refused_but_named()
    {
        var msg = Parse($"[\"EVENT\",{Event},{Event}]");
        AssertInvalid(msg, "invalid: EVENT takes one event");
        Assert.Equal(Id, msg.EventId);
    }

    // ---- Replies: server frames are unmasked, so the header is read here rather than by FrameReader ----

    private static (WebSocketOpcode Opcode, byte[] Payload) Unframe(byte[] frame)
    {
        Assert.Equal(0x80, frame[0] & 0xF0);          // FIN, no RSV bits
        Assert.Equal(0, frame[1] & 0x80);             // servers never mask
        long length = frame[1] & 0x7F;
        var pos = 2;
        if (length == 126) { length = BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(2)); pos = 4; Assert.True(length >= 126); }
        else if (length == 127) { length = (long)BinaryPrimitives.ReadUInt64BigEndian(frame.AsSpan(2)); pos = 10; Assert.True(length > 65535); }
        Assert.Equal(frame.Length - pos, length);
        return ((WebSocketOpcode)(frame[0] & 0x0F), frame[pos..]);
    }

    private static JsonElement[] ReadReply(byte[] frame)
    {
        var (opcode, payload) = Unframe(frame);
        Assert.Equal(WebSocketOpcode.Text, opcode);
        Assert.True(Encoding.UTF8.GetString(payload) == new UTF8Encoding(false, true).GetString(payload));
        using var doc = JsonDocument.Parse(payload);
        return doc.RootElement.EnumerateArray().Select(e => e.Clone()).ToArray();
    }

    [Fact]
    public void OK_reply_is_a_JSON_array_with_the_event_id_and_status()
    {
        var reply = ReadReply(Replies.Ok(Id, true, ""));
        Assert.Equal("OK", reply[0].GetString());
        Assert.Equal(Id, reply[1].GetString());
        Assert.True(reply[2].GetBoolean());
        Assert.Equal("", reply[3].GetString());
    }

    [Fact]
    public void OK_false_message_survives_quotes_backslashes_controls_and_unicode()
    {
        const string message = "invalid: \"quoted\" \\ back\nslash\t\u0000 ünï 😀";
        var reply = ReadReply(Replies.Ok(Id, false, message));
        Assert.False(reply[2].GetBoolean());
        Assert.Equal(message, reply[3].GetString());
    }

    /// The bytes of a pooled frame, and the array back to the pool (as the send loop would).
    private static byte[] EventFrame(byte[] subIdJson, byte[] raw)
    {
        var frame = new byte[Replies.EventFrameLength(subIdJson, raw.Length)];
        Assert.Equal(frame.Length, Replies.WriteEvent(frame, subIdJson, raw));
        return frame;
    }

    [Theory]
    [InlineData("sub")]
    [InlineData("a\"b")]
    [InlineData("\"],[\"EVENT\"")]
    [InlineData("back\\slash\n\u0001é")]
    public void EVENT_reply_keeps_the_subscription_id_and_event_intact(string subId)
    {
        var raw = Encoding.UTF8.GetBytes(Event);
        var reply = ReadReply(EventFrame(Replies.SubIdJson(subId), raw));
        Assert.Equal(3, reply.Length);
        Assert.Equal("EVENT", reply[0].GetString());
        Assert.Equal(subId, reply[1].GetString());
        Assert.Equal(Id, reply[2].GetProperty("id").GetString());
        Assert.Equal("hello world", reply[2].GetProperty("content").GetString());
    }

    [Theory]
    [InlineData(100)]
    [InlineData(60_000)]
    [InlineData(70_000)]
    public void EVENT_reply_frame_length_is_right_for_large_events(int contentLength)
    {
        var raw = Encoding.UTF8.GetBytes("{\"content\":\"" + new string('x', contentLength) + "\"}");
        var reply = ReadReply(EventFrame(Replies.SubIdJson("s"), raw));
        Assert.Equal(contentLength, reply[2].GetProperty("content").GetString()!.Length);
    }

    [Fact]
    public void EOSE_CLOSED_COUNT_and_NOTICE_are_valid_JSON()
    {
        var sub = Replies.SubIdJson("a\"b");

        var eoseFrame = new byte[Replies.EoseFrameLength(sub)];
        Assert.Equal(eoseFrame.Length, Replies.WriteEose(eoseFrame, sub));
        var eose = ReadReply(eoseFrame);
        Assert.Equal(["EOSE", "a\"b"], eose.Select(e => e.GetString()));

        var closed = ReadReply(Replies.Closed(sub, "error: \"db\" down"));
        Assert.Equal(["CLOSED", "a\"b", "error: \"db\" down"], closed.Select(e => e.GetString()));

        var count = ReadReply(Replies.Count(sub, 1234567890123));
        Assert.Equal("COUNT", count[0].GetString());
        Assert.Equal("a\"b", count[1].GetString());
        Assert.Equal(1234567890123, count[2].GetProperty("count").GetInt64());

        var notice = ReadReply(Replies.Notice("invalid: message must be a JSON array\r\n"));
        Assert.Equal(["NOTICE", "invalid: message must be a JSON array\r\n"], notice.Select(e => e.GetString()));
    }

    [Fact]
    public void Long_NOTICE_uses_an_extended_length_header()
    {
        var message = new string('n', 200);
        var reply = ReadReply(Replies.Notice(message));
        Assert.Equal(message, reply[1].GetString());
    }
}
