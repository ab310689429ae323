using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using Relay.Tests.Support;

namespace Relay.Tests.EndToEnd;

/// The relay as a process under a low open-file limit (`ulimit -n`), as the probe found it:
/// connections past what the limit allows must get 503 at once, never hang, and a failing
/// accept must not spin.
public sealed class OpenFileLimitTests
{
    [Fact]
    public async Task Under_a_low_open_file_limit_the_excess_gets_503_and_nothing_hangs()
    {
        await using var db = await TestDatabase.CreateAsync();
        var port = FreePort();
        // The relay's own build output: the test's folder has relay.dll too, but without the
        // runtime config and assemblies it needs on its own (the tests use ASP.NET's framework).
        var sep = Path.DirectorySeparatorChar;
        var relayDll = Path.Combine(AppContext.BaseDirectory.Replace($"{sep}Relay.Tests{sep}", $"{sep}Relay.Server{sep}"), "relay.dll");
        Assert.True(File.Exists(relayDll), $"{relayDll} is missing (build Relay.Server)");
        var psi = new ProcessStartInfo("bash", ["-c", $"ulimit -n 512 && ulimit -Hn 512 && exec dotnet \"{relayDll}\""])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            Environment = { ["RELAY_HOST"] = "127.0.0.1", ["RELAY_PORT"] = port.ToString(), ["DATABASE_URL"] = db.Url },
        };
        using var relay = Process.Start(psi)!;
        var log = new StringBuilder();
        relay.OutputDataReceived += (_, e) => { lock (log) log.AppendLine(e.Data); };
        relay.ErrorDataReceived += (_, e) => { lock (log) log.AppendLine(e.Data); };
        relay.BeginOutputReadLine();
        relay.BeginErrorReadLine();
        var sockets = new List<Socket>();
        try
        {
            for (var i = 0; i < 200 && !Logged(log, "Relay listening"); i++) await Task.Delay(50);
            Assert.True(Logged(log, "Relay listening"), "relay did not start: " + log);
            var cap = int.Parse(System.Text.RegularExpressions.Regex.Match(Text(log), @"at most (\d+) connections").Groups[1].Value);
            Assert.InRange(cap, 100, 449);   // lowered, with a log line saying so

            int upgraded = 0, refused = 0;
            for (var i = 0; i < 450; i++)
            {
                var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                sockets.Add(s);
                await s.ConnectAsync("127.0.0.1", port);
                await s.SendAsync(Encoding.ASCII.GetBytes(RawWebSocket.UpgradeRequest(port)), SocketFlags.None);
                var buffer = new byte[12];
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                int n;
                try { n = await s.ReceiveAsync(buffer, SocketFlags.None, cts.Token); }
                catch (OperationCanceledException) { Assert.Fail($"connection {i + 1} got no answer within 10 s ({upgraded} upgraded, {refused} refused); open files: {OpenFiles(relay.Id)}; log:\n{log}"); throw; }
                var status = Encoding.ASCII.GetString(buffer, 0, n);
                if (status.StartsWith("HTTP/1.1 101")) upgraded++;
                else if (status.StartsWith("HTTP/1.1 503")) refused++;
            }
            Assert.Equal(cap, upgraded);
            Assert.Equal(450 - cap, refused);
        }
        finally
        {
            foreach (var s in sockets) s.Dispose();
            relay.Kill(entireProcessTree: true);
            await relay.WaitForExitAsync();
        }
    }

    private static string OpenFiles(int pid)
    {
        try { return Directory.GetFiles($"/proc/{pid}/fd").Length.ToString(); } catch (IOException) { return "?"; }
    }

    private static bool Logged(StringBuilder log, string text) => Text(log).Contains(text);
    private static string Text(StringBuilder log) { lock (log) return log.ToString(); }

    private static int FreePort()
    {
        using var l = new TcpListener(System.Net.IPAddress.Loopback, 0);
        l.Start();
        return ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
    }
}
