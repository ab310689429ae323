using System.Text.Json;
using Relay.Storage.Model;
using Relay.Tests.Support;

namespace Relay.Tests.EndToEnd;

/// The plain-HTTP side of the port: NIP-11, CORS, health, metrics and refusals.
public sealed class HttpTests
{
    private const string NostrJson = "Accept: application/nostr+json\r\n";

    [Fact]
    public async Task GET_root_with_the_nostr_json_accept_header_returns_the_NIP11_document()
    {
        await using var relay = await TestRelay.StartAsync(o => o with { MaxMessageBytes = 4096, Name = "e2e relay" });

        var response = await RawHttp.RequestAsync(relay.Port, "GET", "/", NostrJson);

        Assert.Equal(200, response.Status);
        Assert.Equal("*", response.Head.Header("Access-Control-Allow-Origin"));
        Assert.StartsWith("application/nostr+json", response.Head.Header("Content-Type"));
        Assert.Equal(response.Body.Length.ToString(), response.Head.Header("Content-Length"));
        using var doc = JsonDocument.Parse(response.Body);
        var info = doc.RootElement;
        Assert.Equal("e2e relay", info.GetProperty("name").GetString());
        var nips = info.GetProperty("supported_nips").EnumerateArray().Select(n => n.GetInt32()).ToList();
        Assert.Contains(1, nips);
        Assert.Contains(11, nips);
        Assert.Equal(4096, info.GetProperty("limitation").GetProperty("max_message_length").GetInt32());
    }

    [Fact]
    public async Task NIP11_document_is_served_when_nostr_json_is_one_of_several_accepted_types()
    {
        await using var relay = await TestRelay.StartAsync();

        var response = await RawHttp.RequestAsync(relay.Port, "GET", "/", "Accept: text/html, application/nostr+json;q=0.9\r\n");

        Assert.Equal(200, response.Status);
        Assert.Equal("relay", JsonDocument.Parse(response.Body).RootElement.GetProperty("name").GetString());
    }

    [Fact]
    public async Task GET_root_without_the_nostr_json_accept_header_is_not_the_NIP11_document()
    {
        await using var relay = await TestRelay.StartAsync();

        var response = await RawHttp.RequestAsync(relay.Port, "GET", "/", "Accept: text/html\r\n");

        Assert.Equal(200, response.Status);
        Assert.DoesNotContain("application/nostr+json", response.Head.Header("Content-Type") ?? "");
    }

    [Fact]
    public async Task HEAD_root_with_the_nostr_json_accept_header_returns_the_headers_without_a_body()
    {
        await using var relay = await TestRelay.StartAsync();

        var get = await RawHttp.RequestAsync(relay.Port, "GET", "/", NostrJson);
        var head = await RawHttp.RequestAsync(relay.Port, "HEAD", "/", NostrJson);

        Assert.Equal(200, head.Status);
        Assert.Empty(head.Body);
        Assert.Equal(get.Head.Header("Content-Length"), head.Head.Header("Content-Length"));
        Assert.Equal("*", head.Head.Header("Access-Control-Allow-Origin"));
    }

    [Theory]
    [InlineData("/health")]
    [InlineData("/metrics")]
    [InlineData("/nope")]
    [InlineData("/")]
    public async Task HEAD_response_has_no_body(string path)
    {
        await using var relay = await TestRelay.StartAsync();

        var response = await RawHttp.RequestAsync(relay.Port, "HEAD", path);

        Assert.True(response.Body.Length == 0, $"HEAD {path} answered {response.Status} with a {response.Body.Length}-byte body: {response.BodyText}");
    }

    [Fact]
    public async Task OPTIONS_root_gets_204_with_CORS_headers()
    {
        await using var relay = await TestRelay.StartAsync();

        var response = await RawHttp.RequestAsync(relay.Port, "OPTIONS", "/",
            "Origin: https://example.com\r\nAccess-Control-Request-Method: GET\r\nAccess-Control-Request-Headers: accept\r\n");

        Assert.Equal(204, response.Status);
        Assert.Equal("*", response.Head.Header("Access-Control-Allow-Origin"));
        Assert.NotNull(response.Head.Header("Access-Control-Allow-Headers"));
        Assert.Contains("GET", response.Head.Header("Access-Control-Allow-Methods") ?? "");
        Assert.Empty(response.Body);
    }

    [Fact]
    public async Task GET_health_returns_200()
    {
        await using var relay = await TestRelay.StartAsync();

        var response = await RawHttp.RequestAsync(relay.Port, "GET", "/health");

        Assert.Equal(200, response.Status);
    }

    [Fact]
    public async Task GET_of_an_unknown_path_returns_404()
    {
        await using var relay = await TestRelay.StartAsync();

        var response = await RawHttp.RequestAsync(relay.Port, "GET", "/nope");

        Assert.Equal(404, response.Status);
    }

    [Theory]
    [InlineData("POST")]
    [InlineData("PUT")]
    [InlineData("DELETE")]
    public async Task Methods_other_than_GET_HEAD_and_OPTIONS_get_405(string method)
    {
        await using var relay = await TestRelay.StartAsync();

        var response = await RawHttp.RequestAsync(relay.Port, method, "/", "Content-Length: 0\r\n");

        Assert.Equal(405, response.Status);
    }

    [Theory]
    [InlineData("GARBAGE\r\n\r\n")]
    [InlineData("GET /\r\n\r\n")]
    [InlineData("GET / SPDY/3\r\n\r\n")]
    [InlineData("GET / HTTP/1.1\r\nno colon here\r\n\r\n")]
    public async Task Malformed_request_head_gets_400(string request)
    {
        await using var relay = await TestRelay.StartAsync();

        var response = await RawHttp.SendAsync(relay.Port, request);

        Assert.Equal(400, response.Status);
    }

    [Fact]
    public async Task Request_head_larger_than_8_KiB_gets_431()
    {
        await using var relay = await TestRelay.StartAsync();

        var response = await RawHttp.RequestAsync(relay.Port, "GET", "/", $"X-Padding: {new string('x', 10_000)}\r\n");

        Assert.Equal(431, response.Status);
    }

    [Fact]
    public async Task Metrics_returns_200_with_the_stored_events_counter()
    {
        await using var relay = await TestRelay.StartAsync();
        await using (var client = await relay.ConnectAsync())
        {
            using var s = EventSigner.Random();
            await client.PublishAcceptedAsync(s.Sign(1, "one"), s.Sign(1, "two"));
        }

        var response = await RawHttp.RequestAsync(relay.Port, "GET", "/metrics");

        Assert.Equal(200, response.Status);
        Assert.Contains("relay_events_stored_total 2\n", response.BodyText);
    }

    [Fact]
    public async Task Connection_beyond_MaxConnections_gets_503()
    {
        await using var relay = await TestRelay.StartAsync(o => o with { MaxConnections = 1 });
        await using var first = await relay.ConnectAsync();

        // The refusal is sent on accept; sending nothing keeps unread bytes from turning the close into a reset.
        await using var second = await RawWebSocket.ConnectTcpAsync(relay.Port);
        var refused = await second.ReadHttpHeadAsync();

        Assert.Equal(503, refused.Status);
    }
}
