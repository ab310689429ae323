using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Relay.Server.Observability;

/// With OTEL_EXPORTER_OTLP_ENDPOINT set, the "Relay" meter and spans go out over OTLP through
/// the OpenTelemetry SDK; unset, nothing here runs. The SDK reads its standard settings
/// (OTEL_EXPORTER_OTLP_PROTOCOL, _HEADERS, OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES,
/// OTEL_METRIC_EXPORT_INTERVAL, OTEL_BSP_SCHEDULE_DELAY, …) from the relay's settings, so a
/// `--otel-…` flag works like the variable.
internal sealed class OtlpExport : IDisposable
{
    private readonly MeterProvider _meters;
    private readonly TracerProvider _traces;

    private OtlpExport(MeterProvider meters, TracerProvider traces) => (_meters, _traces) = (meters, traces);

    public static OtlpExport? Start(IReadOnlyDictionary<string, string> telemetry)
    {
        if (!telemetry.ContainsKey("OTEL_EXPORTER_OTLP_ENDPOINT")) return null;
        var config = new ConfigurationBuilder().AddInMemoryCollection(telemetry.Select(kv => new KeyValuePair<string, string?>(kv.Key, kv.Value))).Build();
        // "relay" unless the operator named the service (OTEL_SERVICE_NAME or service.name=…).
        var named = telemetry.ContainsKey("OTEL_SERVICE_NAME")
            || (telemetry.TryGetValue("OTEL_RESOURCE_ATTRIBUTES", out var attributes) && attributes.Contains("service.name=", StringComparison.Ordinal));
        void Resource(ResourceBuilder r)
        {
            if (!named) r.AddService("relay", serviceVersion: RelayHost.Version);
            else r.AddAttributes([new KeyValuePair<string, object>("service.version", RelayHost.Version)]);
        }
        var meters = Sdk.CreateMeterProviderBuilder()
            .ConfigureServices(s => s.AddSingleton<IConfiguration>(config))
            .ConfigureResource(Resource)
            .AddMeter(RelayMetrics.Name)
            .AddOtlpExporter()
            .Build();
        var traces = Sdk.CreateTracerProviderBuilder()
            .ConfigureServices(s => s.AddSingleton<IConfiguration>(config))
            .ConfigureResource(Resource)
            .AddSource(RelayMetrics.Name)
            .AddOtlpExporter()
            .Build();
        return new OtlpExport(meters, traces);
    }

    /// Sends what is pending (bounded: a receiver that is down cannot hold up shutdown).
    public void Dispose()
    {
        _traces.Shutdown(2000);
        _meters.Shutdown(2000);
        _traces.Dispose();
        _meters.Dispose();
    }
}
