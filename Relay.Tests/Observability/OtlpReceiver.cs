using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;

namespace Relay.Tests.Observability;

/// A small OTLP receiver on Kestrel: OTLP/HTTP (protobuf, HTTP/1.1) on one port and OTLP/gRPC
/// (HTTP/2 without TLS) on another. It decodes just enough of the protobuf messages to list the
/// span names with their attribute keys, the metric names and the resource attributes.
internal sealed class OtlpReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    public ConcurrentBag<(string Name, string[] Attributes)> Spans { get; } = [];
    public ConcurrentBag<string> Metrics { get; } = [];
    public ConcurrentBag<(string Key, string Value)> Resource { get; } = [];
    public ConcurrentBag<string> Headers { get; } = [];
    public string HttpEndpoint { get; private set; } = "";
    public string GrpcEndpoint { get; private set; } = "";

    private OtlpReceiver(WebApplication app) => _app = app;

    public static async Task<OtlpReceiver> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(IPAddress.Loopback, 0, l => l.Protocols = HttpProtocols.Http1);
            k.Listen(IPAddress.Loopback, 0, l => l.Protocols = HttpProtocols.Http2);
        });
        var app = builder.Build();
        var receiver = new OtlpReceiver(app);
        app.MapPost("/v1/traces", async ctx => { receiver.Traces(await BodyAsync(ctx, grpc: false), ctx); ctx.Response.ContentType = "application/x-protobuf"; });
        app.MapPost("/v1/metrics", async ctx => { receiver.MetricsRequest(await BodyAsync(ctx, grpc: false), ctx); ctx.Response.ContentType = "application/x-protobuf"; });
        app.MapPost("/opentelemetry.proto.collector.trace.v1.TraceService/Export", async ctx => { receiver.Traces(await BodyAsync(ctx, grpc: true), ctx); await GrpcOkAsync(ctx); });
        app.MapPost("/opentelemetry.proto.collector.metrics.v1.MetricsService/Export", async ctx => { receiver.MetricsRequest(await BodyAsync(ctx, grpc: true), ctx); await GrpcOkAsync(ctx); });
        await app.StartAsync();
        var addresses = app.Services.GetService(typeof(Microsoft.AspNetCore.Hosting.Server.IServer)) is Microsoft.AspNetCore.Hosting.Server.IServer server
            ? server.Features.Get<IServerAddressesFeature>()!.Addresses.ToArray() : [];
        receiver.HttpEndpoint = addresses[0].Replace("[::1]", "127.0.0.1");
        receiver.GrpcEndpoint = addresses[1].Replace("[::1]", "127.0.0.1");
        return receiver;
    }

    private static async Task<byte[]> BodyAsync(HttpContext ctx, bool grpc)
    {
        var ms = new MemoryStream();
        await ctx.Request.Body.CopyToAsync(ms);
        var body = ms.ToArray();
        return grpc ? body[5..] : body;   // gRPC: 1 byte compressed flag + 4 bytes length, then the message
    }

    private static async Task GrpcOkAsync(HttpContext ctx)
    {
        ctx.Response.ContentType = "application/grpc";
        ctx.Response.AppendTrailer("grpc-status", "0");
        await ctx.Response.Body.WriteAsync(new byte[5]);   // an empty Export…ServiceResponse
    }

    private void Remember(HttpContext ctx)
    {
        foreach (var (k, v) in ctx.Request.Headers) Headers.Add($"{k}={v}");
    }

    // ExportTraceServiceRequest: resource_spans=1 { resource=1, scope_spans=2 { spans=2 { name=5, attributes=9 { key=1 } } } }
    private void Traces(byte[] body, HttpContext ctx)
    {
        Remember(ctx);
        foreach (var rs in Fields(body, 1))
        {
            ResourceOf(rs);
            foreach (var ss in Fields(rs, 2))
                foreach (var span in Fields(ss, 2))
                {
                    var name = Fields(span, 5).Select(Text).FirstOrDefault() ?? "";
                    Spans.Add((name, Fields(span, 9).Select(kv => Text(Fields(kv, 1).First())).ToArray()));
                }
        }
    }

    // ExportMetricsServiceRequest: resource_metrics=1 { resource=1, scope_metrics=2 { metrics=2 { name=1 } } }
    private void MetricsRequest(byte[] body, HttpContext ctx)
    {
        Remember(ctx);
        foreach (var rm in Fields(body, 1))
        {
            ResourceOf(rm);
            foreach (var sm in Fields(rm, 2))
                foreach (var metric in Fields(sm, 2))
                    Metrics.Add(Fields(metric, 1).Select(Text).First());
        }
    }

    // Resource: attributes=1 { key=1, value=2 { string_value=1 } }
    private void ResourceOf(byte[] resourceHolder)
    {
        foreach (var resource in Fields(resourceHolder, 1))
            foreach (var kv in Fields(resource, 1))
                Resource.Add((Text(Fields(kv, 1).First()), Fields(kv, 2).SelectMany(v => Fields(v, 1)).Select(Text).FirstOrDefault() ?? ""));
    }

    private static string Text(byte[] b) => System.Text.Encoding.UTF8.GetString(b);

    /// The length-delimited fields with this number in a protobuf message (other wire types skipped).
    private static List<byte[]> Fields(byte[] message, int number)
    {
        var found = new List<byte[]>();
        var i = 0;
        while (i < message.Length)
        {
            var key = Varint(message, ref i);
            var wire = (int)(key & 7);
            switch (wire)
            {
                case 0: Varint(message, ref i); break;
                case 1: i += 8; break;
                case 5: i += 4; break;
                case 2:
                    var length = (int)Varint(message, ref i);
                    if ((int)(key >> 3) == number) found.Add(message[i..(i + length)]);
                    i += length;
                    break;
                default: throw new InvalidDataException($"wire type {wire}");
            }
        }
        return found;
    }

    private static ulong Varint(byte[] b, ref int i)
    {
        ulong value = 0;
        for (var shift = 0; ; shift += 7)
        {
            var x = b[i++];
            value |= (ulong)(x & 0x7f) << shift;
            if (x < 0x80) return value;
        }
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}
