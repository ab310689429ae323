using System.Globalization;
using System.Text.RegularExpressions;
using Relay.Storage.Model;
using Relay.Tests.Support;

namespace Relay.Tests.Observability;

/// GET /metrics as a Prometheus scraper reads it: every line parses, every sample has its HELP
/// and TYPE, and the counters move with what clients do.
public sealed partial class MetricsTests
{
    [GeneratedRegex(@"^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>[a-zA-Z_][a-zA-Z0-9_]*=""(\\.|[^""\\])*""(,[a-zA-Z_][a-zA-Z0-9_]*=""(\\.|[^""\\])*"")*)\})? (?<value>-?[0-9.eE+-]+|\+Inf|NaN)$")]
    private static partial Regex Sample();

    [GeneratedRegex(@"^# (HELP|TYPE) (?<name>[a-zA-Z_:][a-zA-Z0-9_:]*) (?<rest>.*)$")]
    private static partial Regex Comment();

    /// Parses the exposition text strictly; returns "name{labels}" → value.
    private static Dictionary<string, double> Parse(string text)
    {
        var samples = new Dictionary<string, double>();
        var typed = new Dictionary<string, string>();
        foreach (var line in text.Split('\n'))
        {
            if (line.Length == 0) continue;
            if (line.StartsWith('#'))
            {
                var c = Comment().Match(line);
                Assert.True(c.Success, $"bad comment line: {line}");
                if (line.StartsWith("# TYPE"))
                {
                    Assert.Contains(c.Groups["rest"].Value, new[] { "counter", "gauge", "histogram" });
                    typed[c.Groups["name"].Value] = c.Groups["rest"].Value;
                }
                continue;
            }
            var m = Sample().Match(line);
            Assert.True(m.Success, $"bad sample line: {line}");
            var name = m.Groups["name"].Value;
            var family = typed.ContainsKey(name) ? name : Regex.Replace(name, "_(bucket|sum|count)$", "");
            Assert.True(typed.ContainsKey(family), $"sample before its TYPE: {line}");
            if (typed[family] == "counter") Assert.EndsWith("_total", family);
            var key = m.Groups["labels"].Success ? $"{name}{{{m.Groups["labels"].Value}}}" : name;
            Assert.True(samples.TryAdd(key, double.Parse(m.Groups["value"].Value, CultureInfo.InvariantCulture)), $"duplicate sample {key}");
        }
        return samples;
    }

    private static async Task<Dictionary<string, double>> ScrapeAsync(TestRelay relay)
    {
        var response = await RawHttp.RequestAsync(relay.Port, "GET", "/metrics");
        Assert.Equal(200, response.Status);
        return Parse(response.BodyText);
    }

    [Fact]
    public async Task Metrics_text_parses_and_the_counters_move_with_traffic()
    {
        await using var relay = await TestRelay.StartAsync();
        var before = await ScrapeAsync(relay);
        foreach (var name in new[]
                 {
                     "relay_connections", "relay_subscriptions", "relay_verify_queue", "relay_write_queue", "relay_stored_answers_held_bytes",
                     "relay_events_stored_total", "relay_database_errors_total", "relay_slow_readers_closed_total",
                     "relay_write_batch_duration_seconds_count", "relay_verify_batch_events_count", "relay_events_sent_live_total",
                 })
            Assert.True(before.ContainsKey(name), $"/metrics lacks {name}");
        Assert.Equal(0, before["relay_events_stored_total"]);

        using var s = EventSigner.Random();
        await using (var client = await relay.ConnectAsync())
        {
            await client.PublishAcceptedAsync(s.Sign(1, "one"), s.Sign(1, "two"));
            var forged = s.Sign(1, "three").Replace("\"content\":\"three\"", "\"content\":\"thr3e\"");
            Assert.False((await client.PublishAsync(forged)).Accepted);
            await client.QueryAsync("q", "{\"kinds\":[1]}");
            await client.SendAsync("not json");
            await client.ReadUntilAsync("NOTICE");
            var during = await ScrapeAsync(relay);
            Assert.Equal(before["relay_connections"] + 1, during["relay_connections"]);
        }

        var after = await ScrapeAsync(relay);
        Assert.Equal(2, after["relay_events_stored_total"]);
        Assert.True(after["relay_messages_received_total{type=\"EVENT\"}"] >= 3);
        Assert.True(after["relay_messages_received_total{type=\"REQ\"}"] >= 1);
        Assert.True(after["relay_messages_received_total{type=\"invalid\"}"] >= 1);
        Assert.True(after["relay_events_rejected_total{reason=\"invalid\"}"] >= 1);
        Assert.True(after["relay_write_batch_duration_seconds_count"] >= 1);
        Assert.True(after["relay_write_batch_events_sum"] >= 2);
        Assert.Equal(after["relay_write_batch_events_count"], after["relay_write_batch_events_bucket{le=\"+Inf\"}"]);
        Assert.True(after["relay_verify_batch_events_sum"] >= 2);
        Assert.True(after["relay_events_sent_stored_total"] >= 2);
        Assert.True(after["relay_websockets_opened_total"] >= 1);
    }
}
