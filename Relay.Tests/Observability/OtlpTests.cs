using Relay.Storage.Model;
using Relay.Tests.Support;

namespace Relay.Tests.Observability;

/// With OTEL_EXPORTER_OTLP_ENDPOINT set, spans and metrics reach a real OTLP receiver over both
/// protocols the SDK speaks, configured by the standard OTEL_* settings.
public sealed class OtlpTests
{
    [Theory]
    [InlineData("http/protobuf")]
    [InlineData("grpc")]
    public async Task Spans_and_metrics_reach_an_OTLP_receiver(string protocol)
    {
        await using var receiver = await OtlpReceiver.StartAsync();
        var telemetry = new Dictionary<string, string>
        {
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = protocol == "grpc" ? receiver.GrpcEndpoint : receiver.HttpEndpoint,
            ["OTEL_EXPORTER_OTLP_PROTOCOL"] = protocol,
            ["OTEL_EXPORTER_OTLP_HEADERS"] = "x-api-key=test-key-123",
            ["OTEL_RESOURCE_ATTRIBUTES"] = "deployment.environment=test",
            ["OTEL_METRIC_EXPORT_INTERVAL"] = "300",
            ["OTEL_BSP_SCHEDULE_DELAY"] = "100",
        };
        await using var relay = await TestRelay.StartAsync(o => o with { Telemetry = telemetry });
        await using (var client = await relay.ConnectAsync())
        {
            using var s = EventSigner.Random();
            await client.PublishAcceptedAsync(s.Sign(1, "traced"), s.Sign(7, "+"));
            Assert.Equal(2, (await client.QueryAsync("q", $"{{\"authors\":[\"{s.Pubkey}\"],\"kinds\":[1,7],\"limit\":5}}")).Count);
        }

        bool Arrived() =>
            receiver.Spans.Any(x => x.Name == "REQ" && x.Attributes.Contains("relay.filter.shape") && x.Attributes.Contains("relay.rows"))
            && receiver.Spans.Any(x => x.Name == "write batch" && x.Attributes.Contains("relay.batch.events"))
            && receiver.Metrics.Contains("relay.events.stored") && receiver.Metrics.Contains("relay.write.batch.duration")
            && receiver.Metrics.Contains("relay.messages.received");
        for (var i = 0; i < 200 && !Arrived(); i++) await Task.Delay(50);

        Assert.Contains(receiver.Spans, x => x.Name == "REQ" && x.Attributes.Contains("relay.filter.shape") && x.Attributes.Contains("relay.rows"));
        Assert.Contains(receiver.Spans, x => x.Name == "write batch" && x.Attributes.Contains("relay.batch.events"));
        Assert.Contains("relay.events.stored", receiver.Metrics);
        Assert.Contains("relay.write.batch.duration", receiver.Metrics);
        Assert.Contains(("service.name", "relay"), receiver.Resource);
        Assert.Contains(("deployment.environment", "test"), receiver.Resource);
        Assert.Contains("x-api-key=test-key-123", receiver.Headers);
    }
}
